"""Per-slice anomaly score along the slice axis, with the threshold; a click jumps to a slice."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

from ctviewer.volume import Result


class ScorePlot(pg.PlotWidget):
    sliceClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMaximumHeight(140)
        self.setMinimumHeight(90)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("bottom", "slice")
        self.setLabel("left", "slice score")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.curve = self.plot([], [], pen=pg.mkPen("#f39c12", width=1.5))
        self.threshold_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen("#e74c3c", style=Qt.PenStyle.DashLine)
        )
        self.cursor_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#3498db"))
        self.addItem(self.threshold_line)
        self.addItem(self.cursor_line)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.set_result(None)

    def set_result(self, result: Result | None) -> None:
        visible = result is not None and len(result.slice_scores) > 1
        self.setVisible(visible)
        if not visible:
            return
        scores = np.asarray(result.slice_scores, dtype=float)
        self.curve.setData(np.arange(1, len(scores) + 1), scores)
        self.threshold_line.setValue(result.threshold)
        top = max(float(scores.max()), float(result.threshold)) * 1.1
        self.setYRange(min(0.0, float(scores.min())), top, padding=0)
        self.setXRange(1, len(scores), padding=0.01)

    def set_slice(self, index: int) -> None:
        self.cursor_line.setValue(index + 1)  # the plot counts slices from 1, like the view

    def _on_click(self, event) -> None:
        if not self.isVisible() or event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.getPlotItem().vb.mapSceneToView(event.scenePos())
        self.sliceClicked.emit(int(round(point.x())) - 1)
