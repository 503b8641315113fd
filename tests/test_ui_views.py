"""SliceView and workers on a numpy Volume: radiology mouse conventions, overlay layers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from ctviewer.errors import Cancelled
from ctviewer.render import OUTLINE_ARGB32
from ctviewer.ui.slice_view import SliceView
from ctviewer.ui.workers import start_worker
from ctviewer.volume import ModelInfo, Result, Volume

pytestmark = pytest.mark.gui


def make_volume(shape=(20, 64, 48), spacing=(3.0, 0.7, 0.7)) -> Volume:
    array = np.full(shape, -1000.0, np.float32)
    array[:, 10:50, 8:40] = np.arange(shape[0], dtype=np.float32)[:, None, None] * 10
    return Volume(array=array, spacing=spacing, window=(40.0, 400.0), source="numpy")


def make_result(volume: Volume) -> Result:
    amap = np.zeros(volume.shape, np.float32)
    labels = np.zeros(volume.shape, np.int32)
    amap[8:12, 20:30, 15:25] = 2.0
    labels[8:12, 20:30, 15:25] = 1
    return Result("numpy", None, ModelInfo("m", "1", 0.5), 1.0, 0.5, True,
                  np.zeros(volume.n_slices), amap, labels, [])  # fmt: skip


def send_mouse(widget, kind: QEvent.Type, pos: QPoint, button, buttons) -> None:
    event = QMouseEvent(
        kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def drag(qtbot, view: SliceView, dx: int, dy: int, button=Qt.MouseButton.LeftButton) -> None:
    """A real press-move-release on the view's viewport, slow enough for pyqtgraph's rate limit."""
    viewport = view.graphics.viewport()
    start = viewport.rect().center()
    send_mouse(viewport, QEvent.Type.MouseButtonPress, start, button, button)
    for step in range(1, 6):
        qtbot.wait(25)
        pos = start + QPoint(dx * step // 5, dy * step // 5)
        send_mouse(viewport, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, button)
    qtbot.wait(25)
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, pos, button, Qt.MouseButton.NoButton)


def wheel(view: SliceView, notches: int) -> None:
    viewport = view.graphics.viewport()
    pos = QPointF(viewport.rect().center())
    event = QWheelEvent(
        pos, QPointF(viewport.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )  # fmt: skip
    QApplication.sendEvent(viewport, event)


@pytest.fixture
def view(qtbot) -> SliceView:
    widget = SliceView("axial")
    widget.set_colormap("hot")
    qtbot.addWidget(widget)
    widget.resize(400, 400)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_volume(make_volume(), (40.0, 400.0))
    return widget


def test_slice_view_scrolls_and_shows_position(view: SliceView, qtbot) -> None:
    assert view.index == 10 and view.position_label.text().startswith("11/20")
    wheel(view, -2)  # wheel towards the user = next slices, as in OHIF
    assert view.index == 12
    view.step(100)
    assert view.index == 19 and view.slider.value() == 19
    view.slider.setValue(3)
    assert view.index == 3
    assert view.image_item.image[30, 20] == 30.0  # the shown plane is the data of slice 3
    # aspect from spacing: 48 columns × 0.7 mm wide in scene units
    assert view.image_item.mapRectToParent(view.image_item.boundingRect()).width() == (
        pytest.approx(48 * 0.7)
    )


def test_left_drag_is_window_level_and_right_drag_zooms(view: SliceView, qtbot) -> None:
    moves = []
    view.windowDragged.connect(lambda dx, dy: moves.append((dx, dy)))
    before = view.viewbox.viewRange()
    drag(qtbot, view, 60, -30)
    assert moves and sum(m[0] for m in moves) > 0 and sum(m[1] for m in moves) < 0
    assert view.viewbox.viewRange() == before  # no pan on left drag
    drag(qtbot, view, 0, -60, Qt.MouseButton.RightButton)
    assert view.viewbox.viewRange() != before  # right drag zooms


def test_overlay_and_outline_layers(view: SliceView) -> None:
    view.set_result(make_result(view.volume))
    view.set_index(9)
    layer = view.overlay_item.array
    alpha = layer >> 24
    assert alpha[25, 20] > 0 and alpha[5, 5] == 0  # map shown inside the region only
    assert (layer == OUTLINE_ARGB32).sum() == 2 * (10 + 10) - 4 and layer[20, 15] == OUTLINE_ARGB32
    view.set_opacity(0.2)
    assert 0 < view.overlay_item.array[25, 20] >> 24 < alpha[25, 20]
    view.set_overlay_visible(False)
    assert not view.overlay_item.isVisible()
    view.set_overlay_visible(True)
    view.set_index(0)
    assert not (view.overlay_item.array >> 24).any()


def test_worker_relays_progress_results_errors_and_cancel(qtbot) -> None:
    main = threading.get_ident()
    seen = []

    def job(x, progress=None, cancel=None):
        progress(0.5, "half")
        if x == "boom":
            raise ValueError("boom")
        while x == "wait" and not cancel.is_set():
            pass
        if cancel.is_set():
            raise Cancelled()
        return x * 2, threading.get_ident()

    worker = start_worker(
        job, 21, on_result=seen.append, on_progress=lambda f, m: seen.append((f, m))
    )
    qtbot.waitUntil(lambda: not worker.running)
    qtbot.wait(10)
    assert (0.5, "half") in seen and seen[-1][0] == 42 and seen[-1][1] != main
    errors = []
    failing = start_worker(job, "boom", on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ValueError) and not failing.running
    cancelled = []
    waiting = start_worker(job, "wait", on_cancelled=lambda: cancelled.append(True))
    waiting.cancel()
    qtbot.waitUntil(lambda: bool(cancelled))


def test_signal_emits_do_not_leak_references_to_true() -> None:
    """PySide6 6.12.0 drops a reference to True per Python-side emit and aborts the app after a
    few thousand mouse moves ("bool_dealloc"); the pinned version must not."""
    import sys

    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        fired = Signal(int)

    emitter = Emitter()
    emitter.fired.connect(lambda value: None)
    before = sys.getrefcount(True)
    for i in range(2_000):
        emitter.fired.emit(i)
    assert sys.getrefcount(True) - before > -50
