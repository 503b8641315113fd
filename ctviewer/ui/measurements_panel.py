"""The measurements of the shown series: one row each (kind, slice, numbers), a click goes to
its slice; Delete removes it; "Window from ROI" sets W/L from an ROI's values."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ctviewer.measurement import Measurement

ID_ROLE = Qt.ItemDataRole.UserRole


class MeasurementsPanel(QWidget):
    measurementSelected = Signal(str)  # id
    deleteRequested = Signal(str)  # id
    roiWindowRequested = Signal(str)  # id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spacing_known = True
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Slice", "Measurement"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 50)
        self.tree.currentItemChanged.connect(self._on_current)
        self.delete_button = QPushButton("Delete (Del)")
        self.window_button = QPushButton("Window from ROI (Shift+W)")
        self.delete_button.clicked.connect(lambda: self._request(self.deleteRequested))
        self.window_button.clicked.connect(lambda: self._request(self.roiWindowRequested))
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.window_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Measurements (L length, E ellipse, B rectangle)"))
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self.set_measurements([])

    def set_measurements(self, measurements: list[Measurement]) -> None:
        current = self.current_id()
        self.tree.blockSignals(True)
        self.tree.clear()
        for m in measurements:
            text = m.summary(self.spacing_known)
            text = f"{m.label}: {text}" if m.label else text
            item = QTreeWidgetItem(self.tree, [str(m.slice_index + 1), text])
            item.setData(0, ID_ROLE, m.id)
            item.setData(1, ID_ROLE, m.kind)
            if m.id == current:
                self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self._enable()

    def current_id(self) -> str:
        item = self.tree.currentItem()
        return item.data(0, ID_ROLE) if item is not None else ""

    def select(self, measurement_id: str) -> None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item.data(0, ID_ROLE) == measurement_id:
                self.tree.setCurrentItem(item)

    def _enable(self) -> None:
        item = self.tree.currentItem()
        self.delete_button.setEnabled(item is not None)
        self.window_button.setEnabled(item is not None and item.data(1, ID_ROLE) != "length")

    def _request(self, signal) -> None:
        if self.current_id():
            signal.emit(self.current_id())

    def _on_current(self, item: QTreeWidgetItem | None, _previous: object) -> None:
        self._enable()
        if item is not None:
            self.measurementSelected.emit(item.data(0, ID_ROLE))
