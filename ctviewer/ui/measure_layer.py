"""Measurements drawn on the axial view: editable pyqtgraph ROIs (a line for a length, an
ellipse or rectangle for an ROI) with their numbers beside them. The layer converts between
scene millimetres and the pixel (row, col) positions a `Measurement` keeps; the numbers come
from `measurement.measure` through the ViewerModel."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Signal

from ctviewer.measurement import Measurement

PEN = pg.mkPen("#f1c40f", width=2)
SELECTED_PEN = pg.mkPen("#2ecc71", width=2)
PREVIEW_PEN = pg.mkPen("#f1c40f", width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
LABEL_FILL = pg.mkBrush(0, 0, 0, 150)
MIN_DRAG_PX = 1.0  # shorter drags are clicks, not measurements


def image_label(m: Measurement, spacing_known: bool = True) -> str:
    """The short text beside a measurement on the image (the panel has the full line)."""
    unit = "mm" if spacing_known else "px"
    v = m.values
    if m.kind == "length":
        return f"{v.get('length', float('nan')):.1f} {unit}"
    if not v.get("pixels"):
        return "no pixels"
    return (
        f"mean {v['mean']:.1f} ± {v['sd']:.1f}\n[{v['min']:.0f}, {v['max']:.0f}]\n"
        f"{v['area']:.1f} {unit}²"
    )


class _Ellipse(pg.EllipseROI):
    """An axis-aligned ellipse (no rotate handle: `Measurement` ROIs are axis-aligned)."""

    def _addHandles(self) -> None:  # noqa: N802 - pyqtgraph API
        self.addScaleHandle([1, 1], [0, 0])
        self.addScaleHandle([0, 0], [1, 1])


class MeasureLayer(QObject):
    """The measurements of one series on the shown axial slice, and the one being drawn."""

    created = Signal(object)  # a new Measurement (not measured yet)
    edited = Signal(str, object)  # measurement id, new points_yx
    picked = Signal(str)  # measurement id clicked

    def __init__(self, viewbox: pg.ViewBox) -> None:
        super().__init__()
        self.viewbox = viewbox
        self.spacing = (1.0, 1.0)  # (row_mm, col_mm) of the axial plane
        self.spacing_known = True
        self.items: dict[str, tuple[pg.ROI, pg.TextItem, int]] = {}
        self.selected_id = ""
        self._preview: pg.ROI | None = None

    # -- coordinates ---------------------------------------------------------------------------

    def to_view(self, row: float, col: float) -> QPointF:
        """Scene mm of pixel (row, col); pixel centres are at integer (row, col)."""
        return QPointF((col + 0.5) * self.spacing[1], (row + 0.5) * self.spacing[0])

    def to_pixel(self, point: QPointF) -> tuple[float, float]:
        return (point.y() / self.spacing[0] - 0.5, point.x() / self.spacing[1] - 0.5)

    # -- shown measurements ----------------------------------------------------------------------

    def set_measurements(self, measurements: list[Measurement], slice_index: int) -> None:
        for roi, label, _ in self.items.values():
            self.viewbox.removeItem(roi)
            self.viewbox.removeItem(label)
        self.items = {m.id: self._add(m) for m in measurements}
        self.show_slice(slice_index)

    def show_slice(self, index: int) -> None:
        for roi, label, slice_index in self.items.values():
            roi.setVisible(slice_index == index)
            label.setVisible(slice_index == index)

    def select(self, measurement_id: str) -> None:
        self.selected_id = measurement_id
        for mid, (roi, _, _) in self.items.items():
            roi.setPen(SELECTED_PEN if mid == measurement_id else PEN)

    def _add(self, m: Measurement) -> tuple[pg.ROI, pg.TextItem, int]:
        roi = self._roi(m.kind, *(self.to_view(*p) for p in m.points_yx), PEN)
        if m.id == self.selected_id:
            roi.setPen(SELECTED_PEN)
        roi.setZValue(5)
        roi.sigRegionChangeFinished.connect(
            lambda r, mid=m.id, kind=m.kind: self._moved(mid, kind, r)
        )
        roi.setAcceptedMouseButtons(pg.QtCore.Qt.MouseButton.LeftButton)
        roi.sigClicked.connect(lambda _r, _ev, mid=m.id: self.picked.emit(mid))
        label = pg.TextItem(image_label(m, self.spacing_known), color="#f1c40f", fill=LABEL_FILL)
        label.setZValue(6)
        (y0, x0), (y1, x1) = m.points_yx
        if m.kind == "length":  # beside its right end; ROIs: below their bounding box
            label.setAnchor((0, 1))
            label.setPos(self.to_view(*max(m.points_yx, key=lambda p: p[1])))
        else:
            label.setAnchor((0, 0))
            label.setPos(self.to_view(max(y0, y1), min(x0, x1)))
        self.viewbox.addItem(roi)
        self.viewbox.addItem(label, ignoreBounds=True)
        return roi, label, m.slice_index

    @staticmethod
    def _roi(kind: str, a: QPointF, b: QPointF, pen) -> pg.ROI:
        if kind == "length":
            return pg.LineSegmentROI([(a.x(), a.y()), (b.x(), b.y())], pen=pen)
        pos = (min(a.x(), b.x()), min(a.y(), b.y()))
        size = (abs(b.x() - a.x()), abs(b.y() - a.y()))
        if kind == "ellipse":
            return _Ellipse(pos, size, pen=pen)
        roi = pg.RectROI(pos, size, pen=pen)
        roi.addScaleHandle([0, 0], [1, 1])
        return roi

    def _moved(self, measurement_id: str, kind: str, roi: pg.ROI) -> None:
        if kind == "length":
            a, b = (roi.mapToParent(h.pos()) for h in roi.getHandles())
        else:
            pos, size = roi.pos(), roi.size()
            a, b = QPointF(pos.x(), pos.y()), QPointF(pos.x() + size.x(), pos.y() + size.y())
        self.edited.emit(measurement_id, (self.to_pixel(a), self.to_pixel(b)))

    # -- drawing -----------------------------------------------------------------------------------

    def draw(self, kind: str, slice_index: int, start: QPointF, end: QPointF, done: bool) -> None:
        """Show the measurement being dragged out; when the drag ends, emit it as `created`."""
        if self._preview is not None:
            self.viewbox.removeItem(self._preview)
            self._preview = None
        a, b = self.to_pixel(start), self.to_pixel(end)
        if max(abs(a[0] - b[0]), abs(a[1] - b[1])) < MIN_DRAG_PX:
            return
        if done:
            self.created.emit(Measurement(kind, slice_index, (a, b)))
            return
        self._preview = self._roi(kind, start, end, PREVIEW_PEN)
        self._preview.setAcceptedMouseButtons(pg.QtCore.Qt.MouseButton.NoButton)
        for handle in self._preview.getHandles():
            handle.hide()
        self.viewbox.addItem(self._preview)
