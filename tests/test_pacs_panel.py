"""The PACS panel in the real main window, driven by pytest-qt against Orthanc: search, expand to
series, retrieve with progress (the first series opens as soon as it is complete), open, send our
exports back, cancel mid-retrieve, and errors as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from orthanc_fixture import (
    PASSWORD,
    PHANTOM_ID,
    USER,
    PacsSetup,
    configure_nodes,
    export_results,
    free_port,
    write_phantom_study,
)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from ctviewer.pacs.credentials import SERVICE
from ctviewer.pacs.records import StudyQuery
from ctviewer.pacs.retrieve import find_series, find_studies
from ctviewer.paths import pacs_cache_dir
from ctviewer.ui.main_window import MainWindow
from ctviewer.ui.pacs_node_dialog import PacsNodeDialog
from ctviewer.ui.pacs_panel import PacsPanel

pytestmark = [pytest.mark.gui, pytest.mark.shared_data]
WAIT_MS = 60_000
PANEL_ID, PANEL_NAME = (
    "PID-PANEL",
    "PANEL^TEST",
)  # a study of its own: what this test sends back changes it


def open_panel(qtbot) -> tuple[MainWindow, PacsPanel]:
    window = MainWindow()
    window.auto_run_action.setChecked(False)
    qtbot.addWidget(window)
    window.show()
    (action,) = [
        a for a in window.findChildren(type(window.save_view_action)) if a.text() == "&PACS…"
    ]
    action.trigger()
    dock = window.findChild(QDockWidget, "pacs_dock")
    assert dock is not None and dock.isVisible()
    return window, dock.widget()


def search(qtbot, panel: PacsPanel, node: str, **fields: str) -> str:
    panel.node.setCurrentText(node)
    for name, value in fields.items():
        getattr(panel, name).setText(value)
    with qtbot.waitSignal(panel.jobEnded, timeout=WAIT_MS) as ended:
        qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    return ended.args[1]


def test_search_retrieve_open_and_send(pacs: PacsSetup, qtbot, tmp_path: Path) -> None:
    pacs.server.upload(write_phantom_study(tmp_path / "upload", PANEL_ID, 9, PANEL_NAME))
    window, panel = open_panel(qtbot)
    assert panel.node.findText("web") >= 0 and panel.node.findText("dimse") >= 0
    assert search(qtbot, panel, "web", patient_id=PANEL_ID) == "finished"
    assert panel.tree.topLevelItemCount() == 1
    study = panel.tree.topLevelItem(0)
    assert (study.text(0), study.text(1), study.text(5)) == (PANEL_NAME, PANEL_ID, "16")
    study.setExpanded(True)
    qtbot.waitUntil(lambda: study.childCount() == 1, timeout=WAIT_MS)
    assert study.child(0).text(4) == "CT"

    fractions: list[int] = []
    panel.progress.valueChanged.connect(fractions.append)
    panel.tree.setCurrentItem(study.child(0))  # a series selects its study
    with qtbot.waitSignals([window.volumeShown, panel.jobEnded], timeout=WAIT_MS):
        qtbot.mouseClick(panel.retrieve_button, Qt.MouseButton.LeftButton)
    assert window.volume is not None and window.volume.n_slices == 16  # the first series
    assert any(0 < f < 1000 for f in fractions) and panel.progress.value() == 1000
    assert "1 series retrieved" in panel.status.text()
    cached = panel.retrieved
    assert cached is not None and cached.parent.name == "pacs_cache"
    with qtbot.waitSignal(panel.openRequested, timeout=WAIT_MS) as opened:
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert opened.args == [str(cached)]

    exported = export_results(next(p for p in cached.iterdir() if p.is_dir()), tmp_path / "out")
    panel.node.setCurrentText("dimse")
    with qtbot.waitSignal(panel.jobEnded, timeout=WAIT_MS) as ended:
        panel.send_files([exported.segmentation, *exported.key_images])
    assert ended.args == ["send", "finished"]
    assert f"{1 + len(exported.key_images)} files sent to dimse" in panel.status.text()
    node = pacs.config.resolve("dimse")
    (found,) = find_studies(node, StudyQuery(patient_id=PANEL_ID), pacs.config.local())
    modalities = {s.Modality for s in find_series(node, found.StudyInstanceUID)}
    assert "SEG" in modalities


def test_add_a_node_from_the_panel(pacs: PacsSetup, qtbot, memory_keyring) -> None:
    _, panel = open_panel(qtbot)
    qtbot.mouseClick(panel.add_node_button, Qt.MouseButton.LeftButton)
    dialog = panel.findChild(PacsNodeDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.name.setText("ward")
    dialog.url.setText(pacs.server.dicomweb_url)
    qtbot.keyClicks(dialog.user, USER)  # typing a user chooses basic authentication
    assert dialog.auth.currentText() == "basic"
    dialog.save()
    assert "needs a password or token" in dialog.error.text() and dialog.isVisible()
    assert "ward" not in pacs.config.names()  # nothing saved from a bad entry
    dialog.secret.setText(PASSWORD)
    dialog.save()
    assert not dialog.isVisible() and panel.node.currentText() == "ward"
    assert memory_keyring.secrets[(SERVICE, "ward")] == PASSWORD
    assert PASSWORD not in pacs.config.path.read_text()
    assert search(qtbot, panel, "ward", patient_id=PHANTOM_ID) == "finished"
    assert panel.tree.topLevelItemCount() == 1


def test_errors_are_one_line_in_the_panel(pacs: PacsSetup, qtbot) -> None:
    _, panel = open_panel(qtbot)
    panel.node.setCurrentText("nosuch")
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert "unknown PACS node 'nosuch'" in panel.status.text()
    panel.node.setCurrentText("web")
    panel.date_from.setText("2024")
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert "expected YYYYMMDD" in panel.status.text()
    panel.date_from.setText("")
    dead = f"dicom://PACS@127.0.0.1:{free_port()}"  # nobody listens there
    assert search(qtbot, panel, dead) == "failed"
    assert "cannot connect" in panel.status.text() and "\n" not in panel.status.text()


def test_cancel_mid_retrieve(orthanc_full, memory_keyring, qtbot) -> None:
    configure_nodes(orthanc_full)
    window, panel = open_panel(qtbot)
    panel.auto_open.setChecked(False)
    assert search(qtbot, panel, "web", patient_id="CQ500-CT-0") == "finished"

    def cancel_once_started(value: int) -> None:
        if 0 < value < 1000:
            qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)

    panel.progress.valueChanged.connect(cancel_once_started)
    with qtbot.waitSignal(panel.jobEnded, timeout=WAIT_MS) as ended:
        qtbot.mouseClick(panel.retrieve_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["retrieve", "cancelled"]
    assert panel.status.text() == "Cancelled." and panel.retrieved is None
    assert not panel.open_button.isEnabled() and panel.retrieve_button.isEnabled()
    cache = pacs_cache_dir()
    assert not list(cache.rglob("*.dcm")) and not list(cache.rglob(".complete"))


def test_closing_the_window_cancels_a_retrieve(orthanc_full, memory_keyring, qtbot) -> None:
    configure_nodes(orthanc_full)
    window, panel = open_panel(qtbot)
    panel.auto_open.setChecked(False)
    assert search(qtbot, panel, "web", patient_id="CQ500-CT-0") == "finished"
    started: list[int] = []
    panel.progress.valueChanged.connect(lambda value: value > 0 and started.append(value))
    with qtbot.waitSignal(panel.jobEnded, timeout=WAIT_MS) as ended:
        panel.retrieve()
        qtbot.waitUntil(lambda: bool(started), timeout=WAIT_MS)
        window.close()
    assert ended.args == ["retrieve", "cancelled"]
