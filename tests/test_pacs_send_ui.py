"""File → Send to PACS… in the real main window, driven by pytest-qt against Orthanc: choose a
node, the shown result's SEG, key images and SR are exported and sent, and appear in Orthanc's
study (its REST API); the status line says what went where. Without a result or a configured
node it says what is missing instead."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from orthanc_fixture import PacsSetup, free_port, write_phantom_study
from PySide6.QtCore import Qt
from test_ui_window import WAIT_MS, analyse, new_window, open_study
from test_viewer_model import make_tiny_model

from ctviewer.ui.send_to_pacs import NO_NODE, NodeChooser

pytestmark = [pytest.mark.gui, pytest.mark.shared_data]
PATIENT = "PID-UISEND"


def send_action(window):
    actions = window.findChildren(type(window.save_view_action))
    (action,) = [a for a in actions if a.text() == "Send to &PACS…"]
    file_menu = window.menuBar().actions()[0].menu()
    assert action in file_menu.actions()
    return action


def orthanc_modalities(pacs: PacsSetup, study_uid: str) -> list[str]:
    study = pacs.server.study_orthanc_id(study_uid)
    series = pacs.server.rest(f"/studies/{study}/series")
    return sorted(s["MainDicomTags"]["Modality"] for s in series)


@pytest.mark.parametrize("node", ["web", "dimse"])
def test_send_the_shown_result_to_a_node(pacs: PacsSetup, node: str, qtbot, tmp_path: Path) -> None:
    seed = 71 if node == "web" else 72  # a study per node: what is sent changes it
    files = write_phantom_study(tmp_path / "study", f"{PATIENT}-{node}", seed, "SEND^UI")
    pacs.server.upload(files)
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    assert orthanc_modalities(pacs, study_uid) == ["CT"]
    window = new_window(qtbot, make_tiny_model(tmp_path / "study", tmp_path))
    open_study(qtbot, window, tmp_path / "study")
    analyse(qtbot, window)
    assert window.result.findings, "the tiny model should flag something"
    window.findings.reviewer.setText("Dr Send")
    window.findings.request("accept")  # a decision: the SR carries it

    send_action(window).trigger()
    dialog = window.findChild(NodeChooser)
    assert dialog is not None and dialog.isVisible()
    assert {dialog.nodes.item(i).text() for i in range(dialog.nodes.count())} >= {"web", "dimse"}
    (item,) = dialog.nodes.findItems(node, Qt.MatchFlag.MatchExactly)
    dialog.nodes.setCurrentItem(item)
    dialog.accept()
    qtbot.waitUntil(lambda: window.last_message.startswith("Sent to"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.is_busy("send"), timeout=WAIT_MS)

    message = window.last_message
    assert message.startswith(f"Sent to {node}: seg.dcm, sr.dcm, "), message
    modalities = orthanc_modalities(pacs, study_uid)
    assert "SEG" in modalities and "SR" in modalities and len(modalities) == 4  # + key images
    sent = int(message.split("(")[1].split(" files")[0])
    instances = pacs.server.rest(f"/studies/{pacs.server.study_orthanc_id(study_uid)}/instances")
    assert len(instances) == 16 + sent and sent >= 3


def test_send_says_what_is_missing(qtbot, tmp_path: Path, memory_keyring) -> None:
    window = new_window(qtbot)
    action = send_action(window)
    action.trigger()
    assert window.last_message.startswith("Run the analysis first")
    files = write_phantom_study(tmp_path / "study", "PID-NONODE", 73)
    window = new_window(qtbot, make_tiny_model(files[0].parent, tmp_path))
    open_study(qtbot, window, files[0].parent)
    analyse(qtbot, window)
    send_action(window).trigger()  # no pacs.ini in this CTVIEWER_HOME
    assert window.last_message == NO_NODE and window.findChild(NodeChooser) is None


def test_a_result_with_nothing_to_export_sends_nothing(tmp_path: Path) -> None:
    from ctviewer.errors import CTViewerError
    from ctviewer.pacs.config import LocalAE
    from ctviewer.pacs.nodes import parse_node_url
    from ctviewer.report.dicom_export import DicomExport
    from ctviewer.ui.send_to_pacs import export_and_send

    node = parse_node_url(f"dicom://PACS@127.0.0.1:{free_port()}", name="ward")  # never reached
    note = "not assessed (no model fits): nothing was segmented"
    with pytest.raises(CTViewerError, match=r"^nothing to send to ward: not assessed"):
        export_and_send(
            node, LocalAE(), lambda folder, progress, cancel: DicomExport(None, [], note)
        )
