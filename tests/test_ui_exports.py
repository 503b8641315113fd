"""The viewer's DICOM export says what it wrote and what it left out (offscreen)."""

from __future__ import annotations

import pydicom
import pytest
from test_ui_window import WAIT_MS, analyse, new_window, open_study, study, tiny_model  # noqa: F401

from ctviewer.report.keyimages import MAX_KEY_IMAGES

pytestmark = pytest.mark.gui


def test_dicom_export_tells_what_was_written_and_skipped(
    qtbot,
    study,  # noqa: F811
    tiny_model,  # noqa: F811
    tmp_path,
) -> None:
    window = new_window(qtbot, tiny_model)
    open_study(qtbot, window, study)
    analyse(qtbot, window)
    findings = window.result.findings
    assert findings
    window.findings.reviewer.setText("Dr Export")
    strongest = max(findings, key=lambda f: f.peak)  # it would get the first key image
    window.findings.select_finding(strongest.id)
    window.findings.request("reject")
    folder = tmp_path / "dicom"
    window.review_actions.export_dicom(folder)
    qtbot.waitUntil(lambda: not window.is_busy("export"), timeout=WAIT_MS)
    message = window.last_message
    assert message.startswith(f"DICOM export to {folder}: seg.dcm, sr.dcm"), message
    assert "1 finding rejected by the reviewer got no key image" in message
    keys = [pydicom.dcmread(p).DerivationDescription for p in folder.glob("keyimage_*.dcm")]
    assert len(keys) == min(len(findings) - 1, MAX_KEY_IMAGES)
    assert not [k for k in keys if k.startswith(f"finding {strongest.id},")]
    assert (folder / "sr.dcm").exists()
