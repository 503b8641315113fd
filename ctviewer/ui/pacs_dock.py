"""The PACS panel's place in the main window: File → PACS… (`viewer.bindings`: "pacs") shows it
in a dock. What it retrieves opens in the window (`window.open_path`) and is analysed as any other
study; closing the window cancels a retrieve first."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

from ctviewer.ui.pacs_panel import PacsPanel


class _CancelOnClose(QObject):
    """Cancels the panel's job when the window closes, before the window waits for workers."""

    def __init__(self, panel: PacsPanel) -> None:
        super().__init__(panel)
        self.panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Close:
            self.panel.cancel()
        return False


def show_pacs_panel(window: QMainWindow) -> None:
    """Show the PACS panel in a dock (made on first use); what it retrieves opens in the window
    (`window.open_path`) and is analysed as any other study."""
    dock = window.findChild(QDockWidget, "pacs_dock")
    if dock is None:
        dock = QDockWidget("PACS", window)
        dock.setObjectName("pacs_dock")
        panel = PacsPanel(parent=dock)
        panel.openRequested.connect(window.open_path)
        window.installEventFilter(_CancelOnClose(panel))
        dock.setWidget(panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.widget().reload_nodes()
    dock.show()
    dock.raise_()
