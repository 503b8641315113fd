"""A study the model does not fit (a folder of PNGs, a model trained on CT in HU): the viewer says
why once, in a banner, never in one dialog per image; a single click opens a series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from test_ui_window import WAIT_MS, new_window, study, tiny_model  # noqa: F401 - fixtures

from ctviewer.volume import Result

pytestmark = pytest.mark.gui


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        pixels = (rng.random((64, 64)) * 200).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"slice_{k}.png")
    return folder


def click(qtbot, browser, item) -> None:
    rect = browser.visualItemRect(item)
    qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def visible_dialogs() -> list[QMessageBox]:
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    return [box for box in boxes if box.isVisible()]


def test_pngs_with_a_ct_model_tell_the_reason_once_without_a_dialog(
    qtbot,
    png_folder: Path,
    tiny_model: Path,  # noqa: F811 - fixture
) -> None:
    window = new_window(qtbot, tiny_model, auto_run=True)
    with qtbot.waitSignal(window.analysisEnded, timeout=WAIT_MS):
        window.open_path(str(png_folder))
    items = window.browser.series_items()
    assert len(items) == 3
    for item in items[1:]:  # one click each opens the image, and its analysis runs
        with qtbot.waitSignal(window.analysisEnded, timeout=WAIT_MS):
            click(qtbot, window.browser, item)
        assert window.series.key == item.data(0, Qt.ItemDataRole.UserRole).key
    assert not visible_dialogs() and getattr(window, "error_box", None) is None
    banner = window.notices.label
    assert banner.isVisible() and banner.text().count("the model expects CT in HU") == 1
    assert "slice_" not in banner.text()  # the reason, not one image's name
    assert "Not assessed" in window.last_message


def test_not_assessed_results_share_one_banner_line_per_study(qtbot, study: Path) -> None:  # noqa: F811
    window = new_window(qtbot)
    with qtbot.waitSignal(window.volumeShown, timeout=WAIT_MS):
        window.open_path(str(study))
    for _ in range(2):
        reason = f"{window.volume.source}: no installed model fits a chest CT series"
        window.show_result(Result.not_assessed(window.volume, reason))
    banner = window.notices.label
    assert banner.isVisible() and banner.text().count("no installed model fits") == 1
    banner.linkActivated.emit("hide")
    window.show_result(Result.not_assessed(window.volume, reason))
    assert not banner.isVisible()  # hidden stays hidden for a reason already told
    with qtbot.waitSignal(window.volumeShown, timeout=WAIT_MS):
        window.open_path(str(study))  # a study opened again may tell it again
    window.show_result(Result.not_assessed(window.volume, reason))
    assert banner.isVisible() and not visible_dialogs()
