"""File → Open worklist in the real MainWindow, offscreen: rows by priority, coloured by verdict,
reviewed status from the decision store; a double click opens the series with its stored result
(no analysis, even with auto-run on); N / Shift+N go to the next / previous unreviewed case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from screen_archive import write_archive

from ctviewer.screen import Worklist, screen
from ctviewer.ui.findings_panel import STATE_COLOURS
from ctviewer.ui.main_window import MainWindow
from ctviewer.ui.worklist_panel import open_worklist

pytestmark = pytest.mark.gui
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def worklist_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = write_archive(tmp_path_factory.mktemp("archive"), dicom=3)
    path = tmp_path_factory.mktemp("wl") / "wl.sqlite"
    summary = screen([str(archive)], path, workers=1, threads=1)
    assert summary.screened == 5 and not summary.interrupted
    return path


@pytest.fixture
def window(qtbot, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    analyses = []
    window = MainWindow()
    monkeypatch.setattr(window.model, "analyse", lambda *a, **k: analyses.append(a))
    window.auto_run_action.setChecked(True)  # the panel must still not analyse
    window.analyses = analyses
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def double_click(qtbot, table, row: int) -> None:
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_panel_opens_a_row_with_its_stored_result(qtbot, window, worklist_path: Path) -> None:
    with Worklist(worklist_path) as worklist:
        rows = worklist.rows()
        stored = worklist.result(rows[0])
    actions = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "Open &worklist…" in actions
    panel = open_worklist(window, worklist_path)
    table = panel.table
    assert table.rowCount() == len(rows) == 5
    assert [table.item(i, 5).text().endswith(r.source) for i, r in enumerate(rows)] == [True] * 5
    first = table.item(0, 1)
    assert first.text() in ("Flagged", "Regions listed", "Below threshold")
    assert first.foreground().color().name() == STATE_COLOURS[rows[0].state]
    assert table.item(4, 1).text() == "Not assessed"  # the air volume, last
    assert table.item(4, 1).foreground().color().name() == STATE_COLOURS["not_assessed"]
    assert {table.item(i, 4).text() for i in range(5)} == {"–"}

    with qtbot.waitSignal(window.resultShown, timeout=WAIT_MS):
        double_click(qtbot, table, 0)
    shown = window.result
    assert window.volume.source == rows[0].source == shown.source
    assert shown.score == stored.score and shown.findings == stored.findings
    assert np.array_equal(shown.labels, stored.labels)
    assert window.findings.result is shown
    assert window.last_message.startswith("Stored result from the worklist")
    assert window.analyses == [], "opening a worklist row analysed the series again"

    window.findings.reviewer.setText("Dr Test")
    window.findings.decisionRequested.emit("normal", None)  # the Normal button
    assert table.item(0, 4).text() == "yes", "the reviewed status did not follow the decision"
    with qtbot.waitSignal(window.resultShown, timeout=WAIT_MS):
        qtbot.keyClick(window.active_view().graphics, Qt.Key.Key_N)
    assert table.currentRow() == 1 and window.result.source == rows[1].source
    assert table.item(0, 4).text() == "yes" and table.item(1, 4).text() == "–"
    qtbot.keyClick(window.active_view().graphics, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert table.currentRow() == 1, "the only earlier case is reviewed: nowhere to go back to"
    assert "no previous unreviewed case" in window.last_message
    assert window.analyses == []


def test_a_not_assessed_row_opens_with_its_reason(qtbot, window, worklist_path: Path) -> None:
    panel = open_worklist(window, worklist_path)
    with qtbot.waitSignal(window.resultShown, timeout=WAIT_MS):
        double_click(qtbot, panel.table, 4)
    assert not window.result.assessed
    assert "body part" in window.result.not_assessed_reason
    assert window.analyses == []


def test_a_file_that_is_not_a_worklist_is_an_error(qtbot, window, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"no database here" * 64)
    shown = []
    window.show_error = lambda error, dialog=True: shown.append(str(error))
    assert open_worklist(window, junk) is None
    assert len(shown) == 1 and "not a worklist database" in shown[0]
