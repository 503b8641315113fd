"""The reading-room tools on the real MainWindow, offscreen: zoom/pan/cine/keys, a finding
centred in every view, length and ROI measurements drawn with the mouse (checked against numpy),
kept across sessions, corner text, de-identified display, user presets and the bindings help."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from ctviewer.feedback.store import FeedbackStore
from ctviewer.ui.main_window import MainWindow
from ctviewer.viewer.bindings import KEYS, PRESET_KEYS, markdown_table, rows
from ctviewer.volume import (
    Finding,
    ModelInfo,
    PatientInfo,
    Result,
    SeriesInfo,
    StudyIndex,
    StudyInfo,
    Volume,
)

pytestmark = pytest.mark.gui
README = Path(__file__).resolve().parents[1] / "README.md"
SPACING = (2.0, 0.5, 0.8)  # anisotropic pixels: lengths must come out in mm, not pixels


def make_volume() -> Volume:
    """A smooth HU ramp with noise (so an ROI's mean depends on which pixels it holds)."""
    rng = np.random.default_rng(3)
    cols = np.arange(128, dtype=np.float32)
    array = (100 + 0.5 * cols)[None, None, :] + rng.normal(0, 5, (12, 128, 128))
    meta = {"PatientName": "Doe^Jane", "PatientID": "P123", "StudyDate": "20240102",
            "SeriesDescription": "Tools phantom", "Modality": "CT"}  # fmt: skip
    return Volume(array=array.astype(np.float32), spacing=SPACING, window=(150.0, 200.0),
                  source="/data/tools-phantom", series_uid="1.2.3.tools", meta=meta)  # fmt: skip


def make_result(volume: Volume) -> Result:
    """One finding off the centre, its peak at voxel (3, 90, 30)."""
    amap = np.zeros(volume.shape, np.float32)
    labels = np.zeros(volume.shape, np.int32)
    labels[2:6, 85:96, 25:36] = 1
    amap[2:6, 85:96, 25:36] = 1.0
    amap[3, 90, 30] = 5.0
    finding = Finding(1, 2, 5, (2, 85, 25, 6, 96, 36), (0.0, 0.0, 0.0), 484, 100.0, None, 5.0, 1.1)
    return Result(volume.source, volume.series_uid, ModelInfo("tiny", "t1", 0.5), 1.0, 0.5, True,
                  np.ones(volume.n_slices), amap, labels, [finding])  # fmt: skip


@pytest.fixture
def window(qtbot) -> MainWindow:
    w = MainWindow()
    w.auto_run_action.setChecked(False)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w._on_volume(make_volume())
    qtbot.wait(20)
    return w


def viewport_pos(view, x_mm: float, y_mm: float) -> QPoint:
    scene = view.viewbox.mapViewToScene(QPointF(x_mm, y_mm))
    return view.graphics.mapFromScene(scene)


def pixel_pos(view, row: float, col: float) -> QPoint:
    """Viewport position of the centre of pixel (row, col) of the axial plane."""
    return viewport_pos(view, (col + 0.5) * SPACING[2], (row + 0.5) * SPACING[1])


def mouse(widget, kind, pos, button, buttons, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                        modifiers)  # fmt: skip
    QApplication.sendEvent(widget, event)


def drag(qtbot, view, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton,
         modifiers=Qt.KeyboardModifier.NoModifier) -> None:  # fmt: skip
    viewport = view.graphics.viewport()
    mouse(viewport, QEvent.Type.MouseButtonPress, start, button, button, modifiers)
    for step in range(1, 6):
        qtbot.wait(25)
        pos = start + (end - start) * step / 5
        mouse(viewport, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, button, modifiers)
    qtbot.wait(25)
    mouse(viewport, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton, modifiers)
    qtbot.wait(10)


def key(qtbot, widget, sequence: str) -> None:
    combo = QKeySequence(sequence)[0]
    qtbot.keyClick(widget, combo.key(), combo.keyboardModifiers())


def view_centre_mm(view) -> tuple[float, float]:
    centre = view.viewbox.viewRect().center()
    return centre.x(), centre.y()


def test_zoom_pan_keys_and_cine(qtbot, window: MainWindow) -> None:
    axial, coronal = window.views["axial"], window.views["coronal"]
    graphics = axial.graphics
    fit = axial.zoom()
    key(qtbot, graphics, "Z")
    assert axial.zoom() == pytest.approx(1.0, rel=0.02)
    key(qtbot, graphics, "F")
    assert axial.zoom() == pytest.approx(fit, rel=0.02)
    # right drag 120 px up: a sane zoom in, not to pixel level
    centre = graphics.viewport().rect().center()
    drag(qtbot, axial, centre, centre - QPoint(0, 120), Qt.MouseButton.RightButton)
    assert 1.3 < axial.zoom() / fit < 2.5
    # Shift + left drag pans; the window stays
    window_before, centre_before = window.window_cw, view_centre_mm(axial)
    drag(qtbot, axial, centre, centre + QPoint(60, 0), modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert view_centre_mm(axial)[0] < centre_before[0] - 5 and window.window_cw == window_before
    # Ctrl + wheel zooms a step, the slice stays
    zoom, index = axial.zoom(), axial.index
    wheel = QWheelEvent(QPointF(centre), QPointF(graphics.mapToGlobal(centre)), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)  # fmt: skip
    QApplication.sendEvent(graphics.viewport(), wheel)
    assert 1.05 < axial.zoom() / zoom < 1.6 and axial.index == index
    # reset: fit again and the file's own window
    window.set_window((0.0, 50.0))
    key(qtbot, graphics, "Backspace")
    assert axial.zoom() == pytest.approx(fit, rel=0.02) and window.window_cw == (150.0, 200.0)
    # slice keys work wherever the focus is in the viewing area: the score plot, the coronal view
    window.plot.setFocus()
    key(qtbot, window.plot, "Down")
    assert axial.index == index + 1
    coronal.graphics.setFocus()
    key(qtbot, coronal.graphics, "PgDown")
    assert coronal.index == 64 + 10 and axial.index == index + 1
    # cine plays the active view, wraps round, and stops on Space
    axial.graphics.setFocus()
    window.fps_box.setValue(30)
    key(qtbot, axial.graphics, "End")
    assert axial.index == 11
    key(qtbot, axial.graphics, "Space")
    assert window.cine.playing
    qtbot.waitUntil(lambda: axial.index not in (11,), timeout=2000)
    key(qtbot, axial.graphics, "Space")
    assert not window.cine.playing and window.settings.get("cine_fps") == 30.0


def test_selecting_a_finding_centres_its_peak_in_every_view(qtbot, window: MainWindow) -> None:
    volume = window.volume
    window.show_result(make_result(volume))
    for view in window.views.values():
        view.zoom_1to1()  # zoomed in: the finding is out of view until selected
    window.findings.select_finding(1)
    assert window.model.position == (3, 90, 30)
    axial, coronal, sagittal = (window.views[a] for a in ("axial", "coronal", "sagittal"))
    assert (axial.index, coronal.index, sagittal.index) == (3, 90, 30)
    x, y = view_centre_mm(axial)
    assert x == pytest.approx(30.5 * SPACING[2], abs=0.5) and y == pytest.approx(90.5 * SPACING[1])
    assert view_centre_mm(coronal)[0] == pytest.approx(30.5 * SPACING[2], abs=0.5)
    assert view_centre_mm(sagittal)[0] == pytest.approx(90.5 * SPACING[1], abs=0.5)
    row = coronal.crosshair[0].value()  # the axial plane's line crosses the coronal view there
    assert row == pytest.approx(view_centre_mm(coronal)[1], abs=SPACING[0])


def test_length_and_roi_drawn_with_the_mouse(qtbot, window: MainWindow) -> None:
    axial = window.views["axial"]
    volume = window.volume
    axial.graphics.setFocus()
    # a length between two known pixels: (20, 20) → (100, 80), 62.5 mm with these pixels
    key(qtbot, axial.graphics, "L")
    assert axial.viewbox.tool == "length"
    drag(qtbot, axial, pixel_pos(axial, 20, 20), pixel_pos(axial, 100, 80))
    (length,) = window.model.measurements
    expected = np.hypot(80 * SPACING[1], 60 * SPACING[2])
    assert abs(length.values["length"] - expected) <= max(SPACING[1:])  # within one pixel
    assert window.measurements.tree.topLevelItemCount() == 1
    assert "mm" in window.measurements.tree.topLevelItem(0).text(1)
    # an ellipse ROI: mean, SD, area against numpy on the pixels it was meant to hold
    key(qtbot, axial.graphics, "E")
    drag(qtbot, axial, pixel_pos(axial, 30, 10), pixel_pos(axial, 90, 110))
    roi = window.model.measurements[-1]
    yy, xx = np.mgrid[:128, :128]
    inside = ((yy - 60) / 30) ** 2 + ((xx - 60) / 50) ** 2 <= 1
    pixels = volume.array[axial.index][inside]
    assert roi.kind == "ellipse" and abs(roi.values["mean"] - pixels.mean()) < 1.0
    assert abs(roi.values["sd"] - pixels.std()) < 1.0
    assert roi.values["area"] == pytest.approx(inside.sum() * SPACING[1] * SPACING[2], rel=0.03)
    # a rectangle, then window/level from it (Shift+W)
    key(qtbot, axial.graphics, "B")
    drag(qtbot, axial, pixel_pos(axial, 95, 40), pixel_pos(axial, 115, 70))  # beside the ellipse
    box = window.model.measurements[-1]
    pixels = volume.array[axial.index, 95:116, 40:71]
    assert box.kind == "rectangle" and abs(box.values["mean"] - pixels.mean()) < 1.0
    window.measurements.select(box.id)
    key(qtbot, axial.graphics, "Shift+W")
    low, high = pixels.min(), pixels.max()
    assert window.window_cw == pytest.approx(((low + high) / 2, high - low), rel=1e-5)
    # Esc leaves the tool: a left drag is window/level again
    key(qtbot, axial.graphics, "Esc")
    before = window.window_cw
    free = pixel_pos(axial, 5, 100)  # no measurement there
    drag(qtbot, axial, free, free + QPoint(40, 0))
    assert len(window.model.measurements) == 3 and window.window_cw[1] > before[1]
    # edit: drag the length's far end handle; measured and stored again
    handle = axial.measures.items[length.id][0].getHandles()[1]
    end = axial.graphics.mapFromScene(handle.scenePos())
    drag(qtbot, axial, end, pixel_pos(axial, 20, 80))
    assert abs(length.values["length"] - 60 * SPACING[2]) <= max(SPACING[1:])
    # deleted from the panel; the others are kept in the store for this series
    window.measurements.select(roi.id)
    window.measurements.delete_button.click()
    assert [m.id for m in window.model.measurements] == [length.id, box.id]
    kept = FeedbackStore().measurements(volume.item_key)
    assert [m.id for m in kept] == [length.id, box.id]
    assert kept[0].values["length"] == pytest.approx(length.values["length"])
    # another session of the same series shows them again, on their slice
    other = MainWindow()
    other.auto_run_action.setChecked(False)
    qtbot.addWidget(other)
    other._on_volume(make_volume())
    assert other.measurements.tree.topLevelItemCount() == 2
    assert other.views["axial"].measures.items[length.id][0].isVisible()


def test_corner_text_hides_and_de_identifies(qtbot, window: MainWindow) -> None:
    axial = window.views["axial"]
    corners = axial.corners
    assert "Doe Jane" in corners["top_left"].text() and "P123" in corners["top_left"].text()
    assert "2024-01-02" in corners["top_left"].text()
    assert "Tools phantom" in corners["top_right"].text()
    assert corners["bottom_left"].text().startswith(f"{axial.index + 1}/12")
    assert "W 200  L 150" in corners["bottom_left"].text()
    assert (
        "not analysed" in corners["bottom_right"].text()
        and "zoom" in corners["bottom_right"].text()
    )
    window.views["axial"].step(1)
    assert corners["bottom_left"].text().startswith(f"{axial.index + 1}/12")
    window.show_result(make_result(window.volume))
    assert corners["bottom_right"].text().endswith("tiny\nFLAGGED")
    series = SeriesInfo("s1", "1.2", "CT", "Doe lung follow-up", ["a.dcm"], 12, 64, 64, None)
    study = StudyInfo(None, "20240102", "CT chest", [series])
    window.browser.set_index(StudyIndex("/data", [PatientInfo("P123", "Doe^Jane", [study])]))
    assert "Doe^Jane (P123)" in window.browser.topLevelItem(0).text(0)
    axial.graphics.setFocus()
    key(qtbot, axial.graphics, "Shift+D")
    text = " ".join(
        label.text() for view in window.views.values() for label in view.corners.values()
    )
    assert "Doe" not in text and "P123" not in text and "2024" not in text and "Tools" not in text
    assert window.windowTitle() == "ctviewer"
    patient = window.browser.topLevelItem(0)
    assert patient.text(0) == "Patient 1" and patient.child(0).text(0) == "Study"
    (series_item,) = window.browser.series_items()  # descriptions are free text: hidden too
    assert series_item.text(0).startswith("Series 1\n") and "Doe" not in series_item.toolTip(0)
    key(qtbot, axial.graphics, "Shift+D")
    assert series_item.text(0).startswith("Doe lung follow-up\n")
    key(qtbot, axial.graphics, "Shift+D")
    key(qtbot, axial.graphics, "T")
    assert not corners["top_left"].isVisible()
    again = MainWindow()  # both settings persist
    qtbot.addWidget(again)
    assert again.model.deidentified and not again.acts["corner_text"].isChecked()


def test_user_presets_from_the_viewer(qtbot, window: MainWindow) -> None:
    shipped = len(window.presets.actions)
    window.set_window((35.0, 45.0))
    window.presets.add_current("Stroke")
    assert len(window.presets.actions) == shipped + 1
    window.set_window((0.0, 1000.0))
    key(qtbot, window.views["axial"].graphics, str(shipped + 1))
    assert window.window_cw == (35.0, 45.0)
    (mine,) = [p for p in window.presets.presets() if p.label == "Stroke"]
    window.presets.rename(mine, "Stroke window")
    texts = [a.text() for a in window.presets.actions.values()]
    assert any(t.startswith("Stroke window") for t in texts)
    again = MainWindow()  # stored in the user data folder
    qtbot.addWidget(again)
    assert len(again.presets.actions) == shipped + 1
    window.presets.delete(mine)
    assert len(window.presets.actions) == shipped


def test_help_and_readme_show_the_table_the_window_binds(qtbot, window: MainWindow) -> None:
    documented = {k for b in KEYS for k in b.keys} | set(PRESET_KEYS)
    bound = {s.toString() for a in window.actions() for s in a.shortcuts()}
    assert bound and bound <= {QKeySequence(k).toString() for k in documented}
    window.show_bindings()
    table = window.bindings_dialog.table
    assert table.rowCount() == len(rows())
    shown = {table.item(r, 2).text() for r in range(table.rowCount())}
    assert {b.text for b in KEYS} <= shown
    assert markdown_table() in README.read_text(encoding="utf-8")


def test_oblique_mpr_turns_with_the_mouse(qtbot, window: MainWindow) -> None:
    from ctviewer.render import plane
    from ctviewer.viewer.oblique import trace

    axial = window.views["axial"]
    axial.graphics.setFocus()
    key(qtbot, axial.graphics, "Shift+M")
    oblique = window.oblique
    assert oblique.isVisible() and window.views["sagittal"].isHidden()
    volume, (z, y, x) = window.volume, window.model.position
    coronal = plane(volume, volume.array, "coronal", y)
    xs = trace(volume, (z, y, x), 0.0)[:, 1]  # 0.5 mm steps across 0.8 mm columns
    expected = np.stack([np.interp(xs, np.arange(128), row) for row in coronal])
    np.testing.assert_allclose(oblique.image_item.image, expected, atol=1e-2)  # 0°: coronal
    centre = oblique.graphics.viewport().rect().center()
    drag(qtbot, oblique, centre, centre + QPoint(60, 0))
    angle = window.model.oblique_angle
    assert 20 < angle < 40 and window.oblique_trace.angle == pytest.approx(angle)
    assert f"{angle:+.0f}°" in oblique.title.text()
    window.model.turn_oblique(90.0 - angle)
    np.testing.assert_allclose(oblique.image_item.image, plane(volume, volume.array, "sagittal", x),
                               atol=1e-3)  # fmt: skip  # 90°: the sagittal plane
    key(qtbot, axial.graphics, "Down")  # the plane follows the crosshair
    assert window.model.position[0] == z + 1
    key(qtbot, axial.graphics, "M")  # MPR off: the oblique view goes too
    assert not oblique.isVisible() and not window.acts["oblique"].isChecked()


def test_dragging_a_crosshair_line_moves_its_plane(qtbot, window: MainWindow) -> None:
    axial = window.views["axial"]
    vertical = axial.crosshair[1]  # where the sagittal plane cuts the axial view
    start = viewport_pos(axial, vertical.value(), 10.0)
    drag(qtbot, axial, start, start + QPoint(80, 0))
    sagittal = window.views["sagittal"]
    assert sagittal.index > 64 and window.model.position[2] == sagittal.index
    assert vertical.value() == pytest.approx((sagittal.index + 0.5) * SPACING[2])
    assert window.window_cw == (150.0, 200.0)  # a line drag is not window/level
