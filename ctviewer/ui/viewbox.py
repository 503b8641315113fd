"""The pyqtgraph pieces under a slice view: a ViewBox with radiology mouse conventions (gestures
from `viewer.bindings`) and a cheap premultiplied-ARGB layer for the anomaly overlay."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage

from ctviewer.viewer.bindings import mouse_action

WHEEL_NOTCH = 120
ZOOM_GAIN = 0.005  # right-drag zoom: e^(0.005 px⁻¹) per screen pixel, ×1.8 for 120 px
BUTTONS = {
    Qt.MouseButton.LeftButton: "left",
    Qt.MouseButton.MiddleButton: "middle",
    Qt.MouseButton.RightButton: "right",
}


def modifier_name(modifiers) -> str:
    if modifiers & Qt.KeyboardModifier.ShiftModifier:
        return "Shift"
    if modifiers & Qt.KeyboardModifier.ControlModifier:
        return "Ctrl"
    return ""


class RadiologyViewBox(pg.ViewBox):
    """A ViewBox whose drags and wheel do what `viewer.bindings.MOUSE` says: window/level or the
    measuring tool (left), pan (Shift+left, middle), smooth zoom (right, Ctrl+wheel), scroll."""

    windowDragged = Signal(float, float)  # screen pixels moved (dx, dy) while left-dragging
    clicked = Signal(object)  # scene position of a left click (no drag)
    wheelScrolled = Signal(int)  # slices to move: + towards the feet end (wheel pulled back)
    drawn = Signal(object, object, bool)  # tool drag: start, current (view mm), finished

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._wheel_delta = 0
        self.tool = ""  # "" (window/level) or a Measurement kind being drawn

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        action = mouse_action(BUTTONS.get(ev.button(), ""), modifier_name(ev.modifiers()))
        ev.accept()
        if action == "window_level" and self.tool:
            start = self.mapSceneToView(ev.buttonDownScenePos(ev.button()))
            self.drawn.emit(start, self.mapSceneToView(ev.scenePos()), bool(ev.isFinish()))
        elif action == "window_level":
            delta = ev.screenPos() - ev.lastScreenPos()
            self.windowDragged.emit(float(delta.x()), float(delta.y()))
        elif action == "pan":
            shift = self.mapSceneToView(ev.lastScenePos()) - self.mapSceneToView(ev.scenePos())
            self.translateBy(x=shift.x(), y=shift.y())
        elif action == "zoom":
            dy = float((ev.screenPos() - ev.lastScreenPos()).y())
            centre = self.mapSceneToView(ev.buttonDownScenePos(ev.button()))
            self.scaleBy(s=(math.exp(dy * ZOOM_GAIN),) * 2, center=centre)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(ev.scenePos())

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        if mouse_action("wheel", modifier_name(ev.modifiers())) == "zoom":
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


def image_canvas(
    viewbox: pg.ViewBox,
) -> tuple[pg.GraphicsView, pg.ImageItem, LayerItem]:
    """A black view holding `viewbox` with the slice image under its overlay layer."""
    graphics = pg.GraphicsView()
    graphics.setBackground("k")
    graphics.setCentralItem(viewbox)
    image_item, overlay_item = pg.ImageItem(), LayerItem()
    for z, item in enumerate((image_item, overlay_item)):
        item.setZValue(z)
        viewbox.addItem(item)
    return graphics, image_item, overlay_item
