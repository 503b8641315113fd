"""Help → Keyboard and mouse: the bindings table the window binds with (`viewer.bindings`)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ctviewer.viewer.bindings import rows


class BindingsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse")
        table = self.table = QTableWidget(0, 3)
        table.setHorizontalHeaderLabels(["", "Key / gesture", "Does"])
        for row, values in enumerate(rows()):
            table.insertRow(row)
            for col, value in enumerate(values):
                table.setItem(row, col, QTableWidgetItem(value))
        table.verticalHeader().setVisible(False)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        self.resize(640, 560)
