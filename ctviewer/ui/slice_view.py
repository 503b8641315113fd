"""One plane of a volume in a pyqtgraph ViewBox, with radiology mouse conventions (OHIF/Weasis):
left-drag = window/level, wheel = scroll slices (Ctrl+wheel zooms), right-drag = zoom,
middle-drag = pan. The anomaly map and the finding outlines are layers above the image."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QTransform
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

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
from ctviewer.volume import Result, Volume

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

WHEEL_NOTCH = 120
EDGE_ANCHORS = {"left": (1, 0.5), "right": (0, 0.5), "top": (0.5, 1), "bottom": (0.5, 0)}  # outside
POSITION_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}  # LPS component along the view axis


class RadiologyViewBox(pg.ViewBox):
    """A ViewBox whose left drag and plain wheel are handed to the viewer instead of panning."""

    windowDragged = Signal(float, float)  # screen pixels moved (dx, dy) while left-dragging
    clicked = Signal(object)  # scene position of a left click (no drag)
    wheelScrolled = Signal(int)  # slices to move: + towards the feet end (wheel pulled back)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._wheel_delta = 0

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)  # middle = pan, right = zoom (pyqtgraph default)
            return
        ev.accept()
        delta = ev.screenPos() - ev.lastScreenPos()
        self.windowDragged.emit(float(delta.x()), float(delta.y()))

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(ev.scenePos())

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        ev.accept()
        # notches are 120 units; touchpads send smaller deltas, which add up to a slice
        self._wheel_delta += ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        steps = int(self._wheel_delta / WHEEL_NOTCH)
        if steps:
            self._wheel_delta -= steps * WHEEL_NOTCH
            self.wheelScrolled.emit(-steps)


class LayerItem(pg.GraphicsObject):
    """A premultiplied ARGB32 image drawn as is: one cheap layer for map + outlines (pyqtgraph's
    ImageItem with an alpha lookup table and item opacity costs several times more per slice)."""

    def __init__(self) -> None:
        super().__init__()
        self.array: np.ndarray | None = None  # (rows, cols) uint32, kept alive for the QImage
        self._qimage: QImage | None = None

    def set_argb32(self, array: np.ndarray | None) -> None:
        old = self.boundingRect()
        if array is None:
            self.array, self._qimage = None, None
        else:
            self.array = np.ascontiguousarray(array, dtype=np.uint32)
            rows, cols = self.array.shape
            self._qimage = QImage(
                self.array.data, cols, rows, cols * 4, QImage.Format.Format_ARGB32_Premultiplied
            )
        if self.boundingRect() != old:
            self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        if self.array is None:
            return QRectF()
        rows, cols = self.array.shape
        return QRectF(0, 0, cols, rows)

    def paint(self, painter, *args) -> None:
        if self._qimage is not None:
            painter.drawImage(self.boundingRect(), self._qimage)


class SliceView(QWidget):
    """One view axis (axial, coronal or sagittal) of the current volume and result."""

    indexChanged = Signal(int)
    windowDragged = Signal(float, float)
    cursorText = Signal(str)  # "x, y: value" under the mouse, for the status bar
    activated = Signal(str)  # the axis, when the user interacts with this view
    voxelClicked = Signal(object)  # (z, y, x) of a left click, to move the other MPR views

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

        self.title = QLabel(axis.capitalize())
        self.title.setObjectName("viewTitle")
        self.graphics = pg.GraphicsView()
        self.graphics.setBackground("k")
        self.viewbox = RadiologyViewBox()
        self.graphics.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem()
        self.overlay_item = LayerItem()
        for z, item in enumerate((self.image_item, self.overlay_item)):
            item.setZValue(z)
            self.viewbox.addItem(item)
        pen = pg.mkPen("#3498dbaa", width=1, style=Qt.PenStyle.DashLine)
        self.crosshair = (pg.InfiniteLine(angle=0, pen=pen), pg.InfiniteLine(angle=90, pen=pen))
        for line in self.crosshair:
            line.setZValue(2)
            line.setVisible(False)
            self.viewbox.addItem(line, ignoreBounds=True)
        self.letters = {edge: pg.TextItem(color="#f1c40f", anchor=anchor) for edge, anchor in
                        EDGE_ANCHORS.items()}  # fmt: skip
        for item in self.letters.values():
            item.setZValue(3)
            self.viewbox.addItem(item, ignoreBounds=True)
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
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
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
        self.index = -1
        self.set_index(self.n_positions // 2)
        self.viewbox.autoRange(padding=0.07)  # room for the orientation letters

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
        for line in self.crosshair:
            line.setVisible(pixel is not None)
        if pixel is not None and self.volume is not None:
            row_mm, col_mm = plane_spacing(self.volume, self.axis)
            self.crosshair[0].setValue((pixel[0] + 0.5) * row_mm)
            self.crosshair[1].setValue((pixel[1] + 0.5) * col_mm)

    def set_window(self, window: tuple[float, float]) -> None:
        self._levels = window_bounds(window)
        self.image_item.setLevels(self._levels)

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
        self.position_label.setText(self._position_text())

    def _draw_overlay(self) -> None:
        """Map + outlines of the current plane; skipped while hidden (redrawn when shown)."""
        if self.volume is None or self.result is None or not self.overlay_visible:
            return
        values = plane(self.volume, self.result.anomaly_map, self.axis, self.index)
        labels = plane(self.volume, self.result.labels, self.axis, self.index)
        self.overlay_item.set_argb32(
            overlay_argb32(values, labels, self._overlay_levels, self._lut32)
        )

    def _position_text(self) -> str:
        volume = self.volume
        assert volume is not None
        z, y, x = (s / 2 for s in volume.shape)
        voxel = {"axial": (self.index, y, x), "coronal": (z, self.index, x)}.get(
            self.axis, (z, y, self.index)
        )
        position = volume.index_to_mm(*voxel)[POSITION_AXIS[self.axis]]
        return f"{self.index + 1}/{self.n_positions}  {position:.1f} mm"

    # -- interaction --------------------------------------------------------------------------

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

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        pixel = self._pixel_at(scene_pos)
        if pixel is not None and self.volume is not None:
            row, col = pixel
            value = float(self._plane[row, col])
            text = f"{value:.0f} HU" if self.volume.is_hu else f"{value:.3f}"
            self.cursorText.emit(f"{self.axis} ({col}, {row}): {text}")
