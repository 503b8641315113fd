"""Window presets in the View menu and the toolbar: the shipped ones and the user's own (add the
current W/L, rename, delete), number keys 1–9 in order. Data and files are `ctviewer.presets`'."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu, QPushButton, QToolBar, QWidget

from ctviewer.errors import CTViewerError
from ctviewer.presets import (
    WindowPreset,
    add_user_preset,
    all_presets,
    delete_user_preset,
    load_presets,
    rename_user_preset,
)


class PresetsMenu(QObject):
    """Rebuilds its menu entries, toolbar buttons and key shortcuts whenever the presets change."""

    def __init__(
        self,
        parent: QWidget,
        apply: Callable[[WindowPreset], None],
        current: Callable[[], tuple[float, float]],
        error: Callable[[BaseException], None],
    ) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.apply, self.current, self.error = apply, current, error
        self.menu: QMenu | None = None
        self.bar: QToolBar | None = None
        self.actions: dict[str, QAction] = {}
        self._buttons: list[QAction] = []

    def presets(self) -> tuple[WindowPreset, ...]:
        """Shipped + user presets; a damaged user file is said once and the shipped ones stay."""
        try:
            return all_presets()
        except CTViewerError as error:
            self.error(error)
            return load_presets()

    def build_menu(self, menu: QMenu) -> None:
        self.menu = menu
        self.refresh()

    def build_toolbar(self, bar: QToolBar) -> None:
        self.bar = bar
        self._anchor = bar.addSeparator()  # buttons go before this
        self.refresh()

    def refresh(self) -> None:
        for action in self.actions.values():
            self.parent_widget.removeAction(action)
        self.actions = {}
        presets = self.presets()
        if self.menu is not None:
            self.menu.clear()
            for preset in presets:
                action = QAction(f"{preset.label} ({preset.width:g}/{preset.center:g})", self.menu)
                if preset.key:
                    action.setShortcut(QKeySequence(preset.key))
                action.triggered.connect(lambda _=False, p=preset: self.apply(p))
                self.parent_widget.addAction(action)  # the key works with the menu closed
                self.menu.addAction(action)
                self.actions[preset.name] = action
            self.menu.addSeparator()
            self.menu.addAction("&Add current window as preset…", self.add_current)
            shipped = {p.name for p in load_presets()}
            own = [p for p in presets if p.name not in shipped]
            rename = self.menu.addMenu("Re&name your preset")
            delete = self.menu.addMenu("De&lete your preset")
            for preset in own:
                rename.addAction(preset.label, lambda p=preset: self.rename(p))
                delete.addAction(preset.label, lambda p=preset: self.delete(p))
            rename.setEnabled(bool(own))
            delete.setEnabled(bool(own))
        if self.bar is not None:
            for action in self._buttons:
                self.bar.removeAction(action)
            self._buttons = [self.bar.insertWidget(self._anchor, self._button(p)) for p in presets]

    def _button(self, preset: WindowPreset) -> QPushButton:
        button = QPushButton(f"{preset.key} {preset.label}" if preset.key else preset.label)
        button.setToolTip(f"W {preset.width:g} / L {preset.center:g}")
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda _=False, p=preset: self.apply(p))
        return button

    # -- user presets -------------------------------------------------------------------------

    def add_current(self, label: str | None = None) -> None:
        """Add the current W/L as a preset called `label` (asked for when None)."""
        if label is None:
            center, width = self.current()
            label, ok = QInputDialog.getText(
                self.parent_widget, "New window preset", f"Name for W {width:.0f} / L {center:.0f}:"
            )
            if not ok:
                return
        self._change(lambda: add_user_preset(label, self.current()))

    def rename(self, preset: WindowPreset, label: str | None = None) -> None:
        if label is None:
            label, ok = QInputDialog.getText(
                self.parent_widget, "Rename preset", "New name:", text=preset.label
            )
            if not ok:
                return
        self._change(lambda: rename_user_preset(preset.name, label))

    def delete(self, preset: WindowPreset) -> None:
        self._change(lambda: delete_user_preset(preset.name))

    def _change(self, change: Callable[[], object]) -> None:
        try:
            change()
        except CTViewerError as error:
            self.error(error)
            return
        self.refresh()
