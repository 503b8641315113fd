"""The demo study: a chest phantom with three lesions of different kinds, made once in the user
data folder and reused (`ctviewer demo`, the welcome screen, the self-test).

Layout of `paths.demo_study_dir()`:

    series/CT0001.dcm …          the DICOM series (what the viewer opens)
    ground_truth/lesion_labels.npz, lesions.json
    study.json                   written last: the study is complete
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ctviewer import paths
from ctviewer.synth.phantom import Lesion, make_phantom, write_dicom_series, write_ground_truth

DEMO_VERSION = 1  # bump to regenerate existing demo studies after a phantom change
DEMO_SHAPE = (80, 256, 256)
DEMO_SPACING = (3.0, 1.5, 1.5)
DEMO_SEED = 2026
DEMO_LESIONS = [
    Lesion("nodule", radius_mm=7.0, seed=1),
    Lesion("ggo", radius_mm=12.0, seed=2),
    Lesion("liver", radius_mm=11.0, seed=3),
]
SERIES_DIR, GROUND_TRUTH_DIR, MARKER = "series", "ground_truth", "study.json"


def ensure_demo_study() -> Path:
    """The folder of the demo DICOM series, generated on first use (about a second).

    Generation happens in a temporary folder that is renamed into place, so an interrupted run
    never leaves a half-written study behind."""
    root = paths.demo_study_dir()
    marker = root / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("version") == DEMO_VERSION:
        return root / SERIES_DIR
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo_study-", dir=root.parent))
    try:
        phantom = make_phantom(DEMO_SHAPE, DEMO_SPACING, DEMO_LESIONS, seed=DEMO_SEED)
        write_dicom_series(phantom, staging / SERIES_DIR, series_description="Demo chest phantom")
        write_ground_truth(phantom, staging / GROUND_TRUTH_DIR)
        info = {
            "version": DEMO_VERSION,
            "series_uid": phantom.volume.series_uid,
            "lesions": [lesion.to_json() for lesion in phantom.lesions],
        }
        (staging / MARKER).write_text(json.dumps(info, indent=2))
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / SERIES_DIR
