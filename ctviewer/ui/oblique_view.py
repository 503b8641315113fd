"""Oblique MPR view: the plane through the crosshair that contains the slice axis, turned by a
left-drag in this view (the axial view shows its trace). Sampling is `viewer.oblique`'s."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ctviewer.render import (
    DEFAULT_OPACITY,
    argb32_lut,
    overlay_argb32,
    overlay_levels,
    window_bounds,
)
from ctviewer.ui.viewbox import image_canvas
from ctviewer.viewer.oblique import oblique_plane, spacing
from ctviewer.volume import Result, Volume

DEGREES_PER_PIXEL = 0.5


class _TurnViewBox(pg.ViewBox):
    turned = Signal(float)  # degrees

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)  # middle = pan, right = zoom
            return
        ev.accept()
        self.turned.emit(float((ev.screenPos() - ev.lastScreenPos()).x()) * DEGREES_PER_PIXEL)

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        ev.ignore()


class ObliqueView(QWidget):
    turned = Signal(float)  # degrees the user dragged the plane by

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.volume: Volume | None = None
        self.result: Result | None = None
        self.overlay_visible = True
        self._fit_pending = True
        self._levels = (0.0, 1.0)
        self._lut32 = argb32_lut("hot", DEFAULT_OPACITY)
        self.title = QLabel("Oblique")
        self.viewbox = _TurnViewBox()
        self.graphics, self.image_item, self.overlay_item = image_canvas(self.viewbox)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        self.viewbox.turned.connect(self.turned)

    def set_volume(self, volume: Volume, window: tuple[float, float]) -> None:
        self.volume, self.result = volume, None
        row_mm, col_mm = spacing(volume)
        for item in (self.image_item, self.overlay_item):
            item.setTransform(QTransform.fromScale(col_mm, row_mm))
        self.overlay_item.set_argb32(None)
        self._levels = window_bounds(window)
        self._fit_pending = True

    def set_result(self, result: Result | None) -> None:
        self.result = result
        self.overlay_item.set_argb32(None)

    def set_window(self, window: tuple[float, float]) -> None:
        self._levels = window_bounds(window)
        self.image_item.setLevels(self._levels)

    def set_overlay(self, visible: bool, colormap: str, opacity: float) -> None:
        self.overlay_visible = visible
        self._lut32 = argb32_lut(colormap, opacity)
        self.overlay_item.setVisible(visible)

    def show_plane(self, voxel: tuple[int, int, int], angle_deg: float) -> None:
        """Draw the plane through `voxel` at `angle_deg` (only while shown: it resamples)."""
        volume = self.volume
        if volume is None or not self.isVisible():
            return
        image = oblique_plane(volume, volume.array, voxel, angle_deg)
        self.image_item.setImage(image, autoLevels=False, levels=self._levels)
        self.title.setText(f"Oblique {angle_deg:+.0f}° (drag to turn)")
        if self.result is not None and self.result.assessed and self.overlay_visible:
            values = oblique_plane(volume, self.result.anomaly_map, voxel, angle_deg)
            labels = oblique_plane(volume, self.result.labels, voxel, angle_deg, order=0)
            levels = overlay_levels(self.result)
            self.overlay_item.set_argb32(overlay_argb32(values, labels, levels, self._lut32))
        if self._fit_pending:
            self._fit_pending = False
            self.viewbox.autoRange(padding=0.02)
