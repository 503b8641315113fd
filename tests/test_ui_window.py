"""The real MainWindow, offscreen: open a phantom study, scroll, window/level, analysis in the
worker (and cancel), overlay toggle, accept/reject recorded in the feedback DB, errors as
messages, settings, CQ500, and a kill -9 in mid-review."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from test_ui_views import drag, send_mouse, wheel
from test_viewer_model import make_tiny_model

from ctviewer.feedback.store import FeedbackStore
from ctviewer.presets import get_preset
from ctviewer.ui.main_window import MainWindow
from ctviewer.ui.series_browser import REASON_ROLE
from ctviewer.ui.settings import Settings

pytestmark = pytest.mark.gui
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phantom study with a nodule, written as a DICOM series."""
    from ctviewer.synth.phantom import Lesion, make_phantom, write_dicom_series

    folder = tmp_path_factory.mktemp("study") / "phantom"
    phantom = make_phantom((24, 96, 96), lesions=[Lesion("nodule", radius_mm=9.0, seed=1)], seed=5)
    write_dicom_series(phantom, folder, series_description="UI test phantom")
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, study: Path) -> Path:
    """A small untrained model that flags the study with findings (the UI is under test)."""
    return make_tiny_model(study, tmp_path_factory.mktemp("model"))


def new_window(qtbot, model: Path | None = None, auto_run: bool = False) -> MainWindow:
    window = MainWindow(model_path=model)
    window.auto_run_action.setChecked(auto_run)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def open_study(qtbot, window: MainWindow, path: Path) -> None:
    with qtbot.waitSignal(window.volumeShown, timeout=WAIT_MS):
        window.open_path(str(path))


def analyse(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=WAIT_MS):
        window.run_analysis()


def key(qtbot, window: MainWindow, name: str) -> None:
    qtbot.keyClick(window.active_view().graphics, getattr(Qt.Key, f"Key_{name}"))


def drop(window: MainWindow, path: Path) -> None:
    """Drag-and-drop of a folder from a file manager onto the window."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    point = QPointF(window.rect().center())
    actions = Qt.DropAction.CopyAction
    no_button, no_key = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point.toPoint(), actions, data, no_button, no_key)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(point, actions, data, no_button, no_key))


def test_welcome_open_scroll_and_window_level(qtbot, study: Path) -> None:
    window = new_window(qtbot)
    assert window.pages.currentWidget() is window.welcome
    with qtbot.waitSignal(window.volumeShown, timeout=WAIT_MS):
        drop(window, study)
    assert window.pages.currentWidget() is window.splitter
    items = window.browser.series_items()
    assert len(items) == 1 and "24 images" in items[0].text(0)
    axial = window.views["axial"]
    assert window.volume.shape == (24, 96, 96) and axial.index == 12
    # keys, wheel and slider scroll the axial view
    window.active_view().graphics.setFocus()
    key(qtbot, window, "Down")
    assert axial.index == 13
    key(qtbot, window, "PageUp")
    assert axial.index == 3
    wheel(axial, -1)
    assert axial.index == 4
    np.testing.assert_array_equal(axial.image_item.image, window.volume.array[4])
    # presets by number key and by toolbar button
    key(qtbot, window, "1")
    assert window.window_cw == get_preset("lung").window
    window.apply_preset(get_preset("brain"))
    assert window.window_cw == (40.0, 80.0)
    assert axial.image_item.levels.tolist() == [0.0, 80.0]
    # left drag = window/level; right drag zooms and leaves W/L alone
    drag(qtbot, axial, 80, 40)
    center, width = window.window_cw
    assert width > 80 and center > 40
    drag(qtbot, axial, 0, -50, Qt.MouseButton.RightButton)
    assert window.window_cw == (center, width)
    # HU under the cursor
    viewport = axial.graphics.viewport()
    centre, no_button = viewport.rect().center(), Qt.MouseButton.NoButton
    send_mouse(viewport, QEvent.Type.MouseMove, centre, no_button, no_button)
    qtbot.waitUntil(lambda: "HU" in window.cursor_label.text())
    # clicking a voxel moves the coronal and sagittal views through it
    window.views["coronal"].set_index(0)
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=viewport.rect().center())
    qtbot.waitUntil(lambda: window.views["coronal"].index > 10)
    # the axial view shows where the coronal plane cuts it (0.5 mm-ish pixels → mm)
    row_line = axial.crosshair[0]
    row_mm = window.volume.spacing[1]
    assert row_line.isVisible()
    assert row_line.value() == pytest.approx((window.views["coronal"].index + 0.5) * row_mm)
    window.mpr_action.trigger()
    assert not row_line.isVisible() and window.views["coronal"].isHidden()


def test_analysis_overlay_and_decisions_reach_the_database(qtbot, study, tiny_model) -> None:
    window = new_window(qtbot, tiny_model)
    open_study(qtbot, window, study)
    axial = window.views["axial"]
    analyse(qtbot, window)
    result = window.result
    assert result is not None and result.findings, "the tiny model should flag something"
    assert window.device_label.text() == "device: cpu"
    verdict = window.findings.verdict.text()
    assert ("Flagged for review" in verdict) == result.abnormal and "threshold" in verdict
    assert window.findings.tree.topLevelItemCount() == len(result.findings)
    assert window.plot.isVisible()
    # a click on the per-slice score plot jumps to that slice
    plot = window.plot
    scene_point = plot.getPlotItem().vb.mapViewToScene(QPointF(7, result.threshold))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene_point))
    qtbot.waitUntil(lambda: axial.index == 6)
    assert plot.cursor_line.value() == 7
    # selecting a finding jumps to it; the overlay layer is drawn there
    last = result.findings[-1]
    window.findings.select_finding(last.id)
    assert last.bbox[0] <= axial.index < last.bbox[3]
    assert (axial.overlay_item.array >> 24).any()
    # O toggles the overlay (key and toolbar action stay in sync)
    key(qtbot, window, "O")
    assert not axial.overlay_item.isVisible() and not window.overlay_action.isChecked()
    window.overlay_action.trigger()
    assert axial.overlay_item.isVisible()
    # a decision needs a reviewer name
    window.findings.select_finding(result.findings[0].id)
    key(qtbot, window, "A")
    assert FeedbackStore().decisions() == [] and "reviewer" in window.last_message
    window.findings.reviewer.setText("Dr Test")
    key(qtbot, window, "A")
    window.findings.select_finding(last.id)
    window.findings.reject_button.click()
    window.findings.select_finding(result.findings[0].id)
    key(qtbot, window, "R")  # changed its mind on the first finding
    window.findings.normal_button.click()
    stored = {d.finding_id: d for d in FeedbackStore().decisions(result.series_uid)}
    assert stored[result.findings[0].id].decision == "reject"
    assert stored[last.id].decision == "reject"
    assert stored[None].decision == "normal"
    assert all(d.reviewer == "Dr Test" for d in stored.values())
    history = FeedbackStore().history(result.series_uid)
    assert [d.decision for d in history][:1] == ["accept"] and len(history) == 4
    assert "rejected by Dr Test" in window.findings.tree.topLevelItem(0).text(4)
    # a second window sees the stored decisions
    other = new_window(qtbot, tiny_model)
    open_study(qtbot, other, study)
    analyse(qtbot, other)
    assert "rejected by Dr Test" in other.findings.tree.topLevelItem(0).text(4)
    assert "normal by Dr Test" in other.findings.series_decision.text()
    assert other.findings.reviewer.text() == "Dr Test"  # the reviewer name persisted


def test_analysis_can_be_cancelled_and_scrolling_works_meanwhile(qtbot, study, tiny_model):
    window = new_window(qtbot, tiny_model)
    open_study(qtbot, window, study)
    with qtbot.waitSignal(window.analysisEnded, timeout=WAIT_MS) as ended:
        window.run_analysis()
        assert window.is_busy("analysis") and window.cancel_button.isVisible()
        window.views["axial"].step(1)  # the GUI thread is free while the worker runs
        window.cancel_button.click()
    assert ended.args == ["cancelled"] and window.result is None
    qtbot.waitUntil(lambda: not window.is_busy("analysis"))
    assert not window.cancel_button.isVisible() and "cancelled" in window.last_message


def test_auto_run_demo_from_the_welcome_page(qtbot, tiny_model) -> None:
    window = new_window(qtbot, tiny_model)
    with qtbot.waitSignal(window.resultShown, timeout=WAIT_MS):
        window.welcome.demo_button.click()
    assert window.volume.n_slices == 80 and "Demo" in window.browser.series_items()[0].text(0)
    assert window.settings.recent()  # the demo study is now a recent study
    again = new_window(qtbot)
    assert again.welcome.recent_list.count() == 1


def test_corrupt_folder_shows_a_message_not_a_traceback(qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(b"DICM" + os.urandom(600))
    (folder / "b.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00")
    (folder / "notes.txt").write_text("not an image")
    window = new_window(qtbot)
    window.open_path(str(folder))
    qtbot.waitUntil(lambda: getattr(window, "error_box", None) is not None, timeout=WAIT_MS)
    text = window.error_box.text()
    assert "no image" in text and "Traceback" not in text and "\n" not in text
    assert window.error_box.icon() == QMessageBox.Icon.Warning
    aside = window.browser.topLevelItem(window.browser.topLevelItemCount() - 1)
    assert aside.text(0).startswith("Set aside (3")
    reasons = [aside.child(i).data(0, REASON_ROLE) for i in range(aside.childCount())]
    assert all(reasons) and all(r in aside.child(i).text(0) for i, r in enumerate(reasons))


def test_uncaught_errors_go_to_the_log_and_a_dialog(qtbot) -> None:
    from ctviewer.ui.app import create_app, handle_exception, log_file

    create_app()
    window = new_window(qtbot)
    window.activateWindow()
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as error:
        handle_exception(type(error), error, error.__traceback__)
    assert "ZeroDivisionError" in log_file().read_text() and "Traceback" in log_file().read_text()
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    texts = [box.text() for box in boxes if box.isVisible() and str(log_file()) in box.text()]
    assert len(texts) == 1 and "ZeroDivisionError: boom" in texts[0] and "\n" not in texts[0]
    assert sys.excepthook is handle_exception


def test_settings_persist_between_sessions(qtbot) -> None:
    window = new_window(qtbot)
    window.opacity_slider.setValue(80)
    window.colormap_box.setCurrentText("jet")
    window.auto_run_action.setChecked(True)
    window.auto_run_action.trigger()  # → off
    window.device_group.actions()[1].trigger()  # cpu
    window.mpr_action.trigger()  # MPR off
    again = new_window(qtbot)
    assert again.opacity_slider.value() == 80 and again.colormap_box.currentText() == "jet"
    assert not again.auto_run and again.device == "cpu" and not again.mpr_action.isChecked()
    assert Settings().get("overlay_opacity") == pytest.approx(0.8)
    assert again.views["coronal"].isHidden()


KILLED_REVIEW = """
import os, sys, time
from PySide6.QtWidgets import QApplication
from ctviewer.ui.main_window import MainWindow
from ctviewer.ui.series_browser import REASON_ROLE
app = QApplication([])
window = MainWindow(model_path=sys.argv[2])
window.auto_run_action.setChecked(True)
window.findings.reviewer.setText("Dr Kill")
done = []
window.resultShown.connect(lambda: done.append(1))
window.open_path(sys.argv[1])
while not done:
    app.processEvents()
    time.sleep(0.01)
for finding in window.result.findings[:2]:
    window.findings.select_finding(finding.id)
    window.findings.request("reject")
print("DECIDED", window.result.series_uid, len(window.result.findings[:2]), flush=True)
while True:  # still reviewing when the kill comes
    app.processEvents()
    time.sleep(0.01)
"""


def test_kill_9_mid_review_loses_no_decision(study, tiny_model, ctviewer_home) -> None:
    env = {**os.environ, "CTVIEWER_HOME": str(ctviewer_home), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_REVIEW), str(study), str(tiny_model)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    try:
        line = proc.stdout.readline().split()
        assert line and line[0] == "DECIDED", "the review subprocess did not get to decide"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    decisions = FeedbackStore().decisions(line[1])
    assert len(decisions) == int(line[2]) >= 1
    assert {d.decision for d in decisions} == {"reject"} and decisions[0].reviewer == "Dr Kill"


@pytest.mark.shared_data
def test_cq500_series_with_its_warnings(qtbot, shared_data: Path) -> None:
    window = new_window(qtbot)
    open_study(qtbot, window, shared_data / "dicom" / "cq500_head_jpegls_tilt")
    assert window.volume.n_slices == 238 and window.volume.shape[1:] == (512, 512)
    items = window.browser.series_items()
    counts = sorted(int(i.text(0).splitlines()[1].split()[0]) for i in items)
    assert counts == [1, 238]
    assert window.volume.warnings and window.volume.warnings[0] in window.last_message
    assert window.warnings_label.isVisible()
    assert all(w in window.warnings_label.text() for w in window.volume.warnings)
    tips = window.browser.series_items()
    assert any("missing" in t.toolTip(0).lower() or "gap" in t.toolTip(0).lower() for t in tips)
    window.views["axial"].set_index(200)
    assert window.views["axial"].position_label.text().startswith("201/238")


def test_snapshot_cli_renders_a_png(study: Path, tiny_model: Path, tmp_path: Path, capsys):
    from PIL import Image

    from ctviewer.cli.main import main

    out = tmp_path / "view.png"
    assert (
        main(["snapshot", str(study), "--out", str(out), "--preset", "lung", "--slice", "3"]) == 0
    )
    image = np.asarray(Image.open(out))
    assert image.shape == (96, 96, 4)
    with_overlay = tmp_path / "overlay.png"
    args = ["snapshot", str(study), "--out", str(with_overlay), "--overlay", "--model"]
    assert main([*args, str(tiny_model)]) == 0
    assert Image.open(with_overlay).size == (96, 96)
    assert main(["snapshot", str(study), "--out", str(out), "--preset", "spine"]) == 1
    assert main(["snapshot", str(study), "--out", str(out), "--slice", "99"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "unknown window preset" in err[0] and "outside" in err[1]


def test_export_report_and_learn_from_the_viewer(qtbot, study, tiny_model, tmp_path) -> None:
    from pypdf import PdfReader

    window = new_window(qtbot, tiny_model)
    open_study(qtbot, window, study)
    analyse(qtbot, window)
    window.findings.reviewer.setText("Dr Report")
    window.findings.select_finding(window.result.findings[0].id)
    window.findings.request("reject")
    pdf = tmp_path / "report.pdf"
    window.review_actions.export_pdf(pdf)
    qtbot.waitUntil(lambda: not window.is_busy("export"), timeout=WAIT_MS)
    assert window.last_message == f"Report written: {pdf}"
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Dr Report" in text and "rejected" in text.lower()
    window.review_actions.learn()
    qtbot.waitUntil(lambda: not window.is_busy("learn"), timeout=WAIT_MS)
    box = window.review_actions.outcome_box
    assert box is not None and "new model version" in box.text(), window.last_message


def test_viewer_commands_are_registered() -> None:
    from ctviewer.cli import viewer
    from ctviewer.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["open", "some/folder", "--model", "m.pt"])
    assert args.func is viewer.open_viewer and args.path == "some/folder" and args.model == "m.pt"
    assert parser.parse_args(["demo"]).func is viewer.demo
    snap = parser.parse_args(["snapshot", "p", "--out", "o.png", "--axis", "coronal", "--overlay"])
    assert snap.func is viewer.snapshot and snap.axis == "coronal" and snap.overlay
