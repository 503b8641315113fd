"""The viewer shows "Not assessed" with its reason, never in green, when no model fits."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui_window import analyse, new_window, open_study

from ctviewer import paths
from ctviewer.ui.findings_panel import STATE_COLOURS

pytestmark = [pytest.mark.gui, pytest.mark.shared_data]


def test_head_ct_with_the_chest_model_is_not_assessed_in_the_viewer(
    qtbot, shared_data: Path
) -> None:
    window = new_window(qtbot, paths.default_model_path())  # the bundled chest model only
    open_study(qtbot, window, shared_data / "dicom" / "cq500_head_jpegls_tilt")
    analyse(qtbot, window)
    result = window.result
    assert result is not None and not result.assessed
    verdict = window.findings.verdict.text()
    assert "Not assessed" in verdict and "is for chest" in verdict
    assert STATE_COLOURS["clear"] not in verdict and STATE_COLOURS["not_assessed"] in verdict
    assert "No region above threshold" not in verdict
    buttons = (window.findings.accept_button, window.findings.reject_button)
    assert not any(b.isEnabled() for b in (*buttons, window.findings.normal_button))
    assert not (window.views["axial"].overlay_item.array >> 24).any()  # no map to show
    assert "Not assessed" in window.last_message
