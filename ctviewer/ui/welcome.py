"""The page shown when no study is open: open a folder or file, try the demo, recent studies."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ctviewer import __version__
from ctviewer.paths import resources_dir

PATH_ROLE = Qt.ItemDataRole.UserRole


class WelcomePage(QWidget):
    openFolderRequested = Signal()
    openFileRequested = Signal()
    demoRequested = Signal()
    recentChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        logo = QLabel()
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        icon = resources_dir() / "icons" / "ctviewer_128.png"
        if icon.exists():
            logo.setPixmap(QPixmap(str(icon)))
        title = QLabel(f"<h1>ctviewer</h1><p>CT viewer with anomaly flags · {__version__}</p>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        note = QLabel(
            "Open a DICOM folder, a DICOMDIR, a NIfTI/NRRD/MHA file or a PNG/JPG image, or drop "
            "it here. Regions the model flags are decision support only; the diagnosis is yours."
        )
        note.setWordWrap(True)
        note.setFixedWidth(640)
        note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_folder_button = QPushButton("Open folder…")
        self.open_file_button = QPushButton("Open file…")
        self.demo_button = QPushButton("Try the demo study")
        self.open_folder_button.clicked.connect(self.openFolderRequested)
        self.open_file_button.clicked.connect(self.openFileRequested)
        self.demo_button.clicked.connect(self.demoRequested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.open_folder_button, self.open_file_button, self.demo_button):
            button.setMinimumHeight(36)
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.recent_list = QListWidget()
        self.recent_list.setMinimumWidth(640)
        self.recent_list.setMaximumHeight(200)
        self.recent_list.itemActivated.connect(
            lambda item: self.recentChosen.emit(item.data(PATH_ROLE))
        )
        self.recent_title = QLabel("<b>Recent studies</b>")

        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(logo)
        column.addWidget(title)
        column.addWidget(note, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addSpacing(12)
        column.addLayout(buttons)
        column.addSpacing(18)
        column.addWidget(self.recent_title, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addWidget(self.recent_list, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(2)
        layout = QHBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(column, 4)
        layout.addStretch(1)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_list.clear()
        for path in paths:
            item = QListWidgetItem(f"{Path(path).name}   —   {path}")
            item.setData(PATH_ROLE, path)
            self.recent_list.addItem(item)
        self.recent_title.setVisible(bool(paths))
        self.recent_list.setVisible(bool(paths))
