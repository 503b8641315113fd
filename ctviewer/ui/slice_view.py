"""One plane of a volume in a pyqtgraph ViewBox with radiology mouse conventions (`viewbox`):
the image, the anomaly map and finding outlines above it, the crosshair of the other planes,
orientation letters, on-image corner text, and (axial) the measurements. Zoom to fit, 1:1 and
centring on a point are here; what is shown comes from the window's ViewerModel."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ctviewer.render import (
    DEFAULT_OPACITY,
    argb32_lut,
    axis_length,
    orientation_letters,
    overlay_argb32,
    overlay_levels,
    plane,
    plane_spacing,
    voxel_of,
    window_bounds,
)
from ctviewer.ui.measure_layer import MeasureLayer
from ctviewer.ui.viewbox import RadiologyViewBox, image_canvas
from ctviewer.viewer.corner_text import CornerText, slice_text
from ctviewer.volume import Result, Volume

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

EDGE_ANCHORS = {"left": (1, 0.5), "right": (0, 0.5), "top": (0.5, 1), "bottom": (0.5, 0)}  # outside
FIT_PADDING = 0.07  # room for the orientation letters
CORNERS = {
    "top_left": (0, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
    "top_right": (0, 1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop),
    "bottom_left": (1, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom),
    "bottom_right": (1, 1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom),
}
CORNER_STYLE = "color: #e8e8e8; background: rgba(0, 0, 0, 120); font-size: 11px; padding: 1px;"


class SliceView(QWidget):
    """One view axis (axial, coronal or sagittal) of the current volume and result."""

    indexChanged = Signal(int)
    windowDragged = Signal(float, float)
    cursorText = Signal(str)  # "x, y: value" under the mouse, for the status bar
    activated = Signal(str)  # the axis, when the user interacts with this view
    voxelClicked = Signal(object)  # (z, y, x) of a left click, to move the other MPR views
    crosshairDragged = Signal(object)  # (z, y, x) where a dragged crosshair line now crosses
    zoomChanged = Signal()

    def __init__(self, axis: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.axis = axis
        self.volume: Volume | None = None
        self.result: Result | None = None
        self.index = 0
        self._plane: np.ndarray | None = None
        self._levels = (0.0, 1.0)
        self._overlay_levels = (0.0, 1.0)
        self._colormap, self._opacity = "hot", DEFAULT_OPACITY
        self._lut32 = argb32_lut(self._colormap, self._opacity)
        self.overlay_visible = True
        self._crosshair: tuple[int, int] | None = None  # the pixel the lines go through
        self.corner_source: Callable[[SliceView], CornerText] | None = None  # set by the window

        self.title = QLabel(axis.capitalize())
        self.title.setObjectName("viewTitle")
        self.viewbox = RadiologyViewBox()
        self.graphics, self.image_item, self.overlay_item = image_canvas(self.viewbox)
        pen = pg.mkPen("#3498dbaa", width=1, style=Qt.PenStyle.DashLine)
        hover = pg.mkPen("#3498db", width=2)
        self.crosshair = tuple(pg.InfiniteLine(angle=a, pen=pen, movable=True, hoverPen=hover)
                               for a in (0, 90))  # fmt: skip
        for line in self.crosshair:
            line.sigDragged.connect(self._on_crosshair_dragged)
            line.sigPositionChangeFinished.connect(lambda _l: self.set_crosshair(self._crosshair))
            line.setZValue(2)
            line.setVisible(False)
            self.viewbox.addItem(line, ignoreBounds=True)
        self.letters = {edge: pg.TextItem(color="#f1c40f", anchor=anchor) for edge, anchor in
                        EDGE_ANCHORS.items()}  # fmt: skip
        for item in self.letters.values():
            item.setZValue(3)
            self.viewbox.addItem(item, ignoreBounds=True)
        self.measures = MeasureLayer(self.viewbox) if axis == "axial" else None
        self.corners = {name: QLabel("") for name in CORNERS}
        grid = QGridLayout(self.graphics.viewport())
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        for name, (row, col, align) in CORNERS.items():
            label = self.corners[name]
            label.setStyleSheet(CORNER_STYLE)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            grid.addWidget(label, row, col, align)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.position_label = QLabel("")

        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.position_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(row)

        self.slider.valueChanged.connect(self.set_index)
        self.viewbox.windowDragged.connect(self._on_window_drag)
        self.viewbox.wheelScrolled.connect(self._on_wheel)
        self.viewbox.clicked.connect(self._on_click)
        self.viewbox.sigRangeChanged.connect(self._on_range)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.installEventFilter(self)
        self.setEnabled(False)

    # -- data ---------------------------------------------------------------------------------

    @property
    def n_positions(self) -> int:
        return axis_length(self.volume.shape, self.axis) if self.volume is not None else 0

    def set_volume(self, volume: Volume, window: tuple[float, float]) -> None:
        self.volume, self.result = volume, None
        self._levels = window_bounds(window)
        row_mm, col_mm = plane_spacing(volume, self.axis)
        transform = QTransform.fromScale(col_mm, row_mm)
        for item in (self.image_item, self.overlay_item):
            item.setTransform(transform)
        self.overlay_item.set_argb32(None)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(self.n_positions - 1, 0))
        self.slider.blockSignals(False)
        self.setEnabled(True)
        self._place_letters(volume, row_mm, col_mm)
        rows, cols = plane(volume, volume.array, self.axis, 0).shape
        extent = max(rows * row_mm, cols * col_mm)
        self.viewbox.setLimits(
            minXRange=4 * col_mm, maxXRange=8 * extent, minYRange=4 * row_mm, maxYRange=8 * extent
        )
        if self.measures is not None:
            self.measures.spacing = (row_mm, col_mm)
            self.measures.spacing_known = volume.spacing_known
        self.index = -1
        self.set_index(self.n_positions // 2)
        self.zoom_fit()

    def _place_letters(self, volume: Volume, row_mm: float, col_mm: float) -> None:
        """Orientation letters at the middle of each image edge (in mm scene units)."""
        rows, cols = plane(volume, volume.array, self.axis, 0).shape
        height, width = rows * row_mm, cols * col_mm
        spots = {"left": (0, height / 2), "right": (width, height / 2), "top": (width / 2, 0),
                 "bottom": (width / 2, height)}  # fmt: skip
        for edge, text in orientation_letters(volume, self.axis).items():
            self.letters[edge].setText(text)
            self.letters[edge].setPos(*spots[edge])

    def set_result(self, result: Result | None) -> None:
        self.result = result
        if result is not None:
            self._overlay_levels = overlay_levels(result)
        else:
            self.overlay_item.set_argb32(None)
        self._draw()

    def set_crosshair(self, pixel: tuple[int, int] | None) -> None:
        """Dashed lines through the centre of pixel (row, col) — where the other planes cut."""
        self._crosshair = pixel
        for line in self.crosshair:
            line.setVisible(pixel is not None)
        if pixel is not None and self.volume is not None:
            row_mm, col_mm = plane_spacing(self.volume, self.axis)
            self.crosshair[0].setValue((pixel[0] + 0.5) * row_mm)
            self.crosshair[1].setValue((pixel[1] + 0.5) * col_mm)

    def set_window(self, window: tuple[float, float]) -> None:
        self._levels = window_bounds(window)
        self.image_item.setLevels(self._levels)
        self.refresh_corners()

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay_visible = visible
        self.overlay_item.setVisible(visible)
        self._draw_overlay()

    def set_opacity(self, opacity: float) -> None:
        self._opacity = float(opacity)
        self._lut32 = argb32_lut(self._colormap, self._opacity)
        self._draw_overlay()

    def set_colormap(self, name: str) -> None:
        self._lut32 = argb32_lut(name, self._opacity)
        self._colormap = name
        self._draw_overlay()

    def set_index(self, index: int) -> None:
        if self.volume is None:
            return
        index = int(np.clip(index, 0, self.n_positions - 1))
        if index == self.index:
            return
        self.index = index
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self._draw()
        if self.measures is not None:
            self.measures.show_slice(index)
        self.indexChanged.emit(index)

    def step(self, delta: int) -> None:
        self.set_index(self.index + delta)

    # -- drawing ------------------------------------------------------------------------------

    def _draw(self) -> None:
        volume = self.volume
        if volume is None:
            return
        self._plane = plane(volume, volume.array, self.axis, self.index)
        self.image_item.setImage(self._plane, autoLevels=False, levels=self._levels)
        self._draw_overlay()
        self.position_label.setText(slice_text(volume, self.axis, self.index))
        self.refresh_corners()

    def _draw_overlay(self) -> None:
        """Map + outlines of the current plane; skipped while hidden (redrawn when shown)."""
        if self.volume is None or self.result is None or not self.overlay_visible:
            return
        values = plane(self.volume, self.result.anomaly_map, self.axis, self.index)
        labels = plane(self.volume, self.result.labels, self.axis, self.index)
        self.overlay_item.set_argb32(
            overlay_argb32(values, labels, self._overlay_levels, self._lut32)
        )

    def refresh_corners(self) -> None:
        """The corner text from `corner_source` (empty when there is none)."""
        text = self.corner_source(self) if self.corner_source and self.volume else None
        for name, label in self.corners.items():
            value = getattr(text, name) if text is not None else ""
            if label.text() != value:
                label.setText(value)

    def set_corners_visible(self, visible: bool) -> None:
        for label in self.corners.values():
            label.setVisible(visible)

    # -- zoom and pan ---------------------------------------------------------------------------

    def zoom(self) -> float:
        """Screen pixels per image pixel (1.0 is 1:1)."""
        if self.volume is None:
            return 1.0
        (x0, x1), _ = self.viewbox.viewRange()
        col_mm = plane_spacing(self.volume, self.axis)[1]
        return self.viewbox.width() * col_mm / max(x1 - x0, 1e-9)

    def zoom_fit(self) -> None:
        self.viewbox.autoRange(padding=FIT_PADDING)

    def zoom_1to1(self) -> None:
        """One screen pixel per image pixel, about the centre of the view."""
        if self.volume is None:
            return
        row_mm, col_mm = plane_spacing(self.volume, self.axis)
        centre = self.viewbox.viewRect().center()
        half_w, half_h = self.viewbox.width() * col_mm / 2, self.viewbox.height() * row_mm / 2
        self.viewbox.setRange(
            xRange=(centre.x() - half_w, centre.x() + half_w),
            yRange=(centre.y() - half_h, centre.y() + half_h),
            padding=0,
        )

    def centre_on(self, pixel: tuple[int, int]) -> None:
        """Pan (zoom unchanged) so that plane pixel (row, col) is in the middle of the view."""
        if self.volume is None:
            return
        row_mm, col_mm = plane_spacing(self.volume, self.axis)
        centre = self.viewbox.viewRect().center()
        self.viewbox.translateBy(
            x=(pixel[1] + 0.5) * col_mm - centre.x(), y=(pixel[0] + 0.5) * row_mm - centre.y()
        )

    def _on_range(self, *_args) -> None:
        self.refresh_corners()
        self.zoomChanged.emit()

    # -- interaction --------------------------------------------------------------------------

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if watched is self.graphics and event.type() == QEvent.Type.FocusIn:
            self.activated.emit(self.axis)  # keys act on the view that has the focus
        return False

    def _on_window_drag(self, dx: float, dy: float) -> None:
        self.activated.emit(self.axis)
        self.windowDragged.emit(dx, dy)

    def _on_wheel(self, steps: int) -> None:
        self.activated.emit(self.axis)
        self.step(steps)

    def _pixel_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(row, col) of the shown plane under a scene position, None outside the image."""
        if self._plane is None:
            return None
        point = self.image_item.mapFromScene(scene_pos)
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        rows, cols = self._plane.shape
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def _on_click(self, scene_pos: QPointF) -> None:
        self.activated.emit(self.axis)
        pixel = self._pixel_at(scene_pos)
        if pixel is not None and self.volume is not None:
            self.voxelClicked.emit(voxel_of(self.volume, self.axis, self.index, *pixel))

    def _on_crosshair_dragged(self, _line) -> None:
        """A crosshair line dragged: the plane it stands for follows (linked crosshair)."""
        if self.volume is None or self._plane is None:
            return
        row_mm, col_mm = plane_spacing(self.volume, self.axis)
        rows, cols = self._plane.shape
        row = int(np.clip(self.crosshair[0].value() // row_mm, 0, rows - 1))
        col = int(np.clip(self.crosshair[1].value() // col_mm, 0, cols - 1))
        self.activated.emit(self.axis)
        self.crosshairDragged.emit(voxel_of(self.volume, self.axis, self.index, row, col))

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        pixel = self._pixel_at(scene_pos)
        if pixel is not None and self.volume is not None:
            row, col = pixel
            value = float(self._plane[row, col])
            text = f"{value:.0f} HU" if self.volume.is_hu else f"{value:.3f}"
            self.cursorText.emit(f"{self.axis} ({col}, {row}): {text}")
