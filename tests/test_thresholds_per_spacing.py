"""Calibrations per slice spacing: a series is judged by the one nearest its slice spacing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ctviewer.errors import ModelError
from ctviewer.model.autoencoder import AnomalyModel, Architecture, AutoEncoder
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.thresholds import SPACING_KEY, thresholds_for
from ctviewer.model.train import calibrate
from ctviewer.pipeline import detect
from ctviewer.synth.phantom import make_phantom
from ctviewer.volume import Volume

MAIN = {"threshold": 1.0, "pixel_threshold": 2.0, "calibration": {"slice_mm": 9.4}}
THIN = {"threshold": 0.5, "pixel_threshold": 0.7, "mass_threshold": 3.0, "slice_mm": 4.7}


def tiny_model(**metadata) -> AnomalyModel:
    torch.manual_seed(0)
    arch = Architecture(in_channels=1, base_channels=4, depth=2, latent_channels=3)
    pre = Preprocessing(size=32, windows=((40.0, 400.0),))
    base = {"name": "tiny", "version": "v1", "architecture": arch.to_dict()}
    return AnomalyModel(AutoEncoder(arch), {**base, "preprocessing": pre.to_dict(), **metadata})


def phantom(slices: int) -> Volume:
    return make_phantom(shape=(slices, 48, 48), seed=3).volume


def test_the_calibration_nearest_on_a_log_scale_is_chosen() -> None:
    meta = {**MAIN, SPACING_KEY: [THIN]}
    assert thresholds_for(meta, 5.0).pixel == 0.7
    assert thresholds_for(meta, 6.0).pixel == 0.7  # log-nearer 4.7 than 9.4
    assert thresholds_for(meta, 7.0).pixel == 2.0
    assert thresholds_for(meta, 12.5).series == 1.0
    assert thresholds_for(meta, 1.0).mass == 3.0
    assert thresholds_for(meta, None).pixel == 2.0  # a single image: the main calibration
    assert thresholds_for(MAIN, 4.7).pixel == 2.0  # nothing else calibrated
    again = {**THIN, "slice_mm": 9.4, "pixel_threshold": 3.0}  # on more normals, say
    assert thresholds_for({**MAIN, SPACING_KEY: [THIN, again]}, 9.4).pixel == 3.0


def test_a_single_image_is_judged_by_the_single_image_calibration_and_volumes_never() -> None:
    flat = {"threshold": 0.3, "pixel_threshold": 0.4, "single_image": True, "slice_mm": 9.4}
    meta = {**MAIN, SPACING_KEY: [flat, THIN]}
    assert thresholds_for(meta, None).pixel == 0.4 and thresholds_for(meta, None).single_image
    assert thresholds_for(meta, 9.4).pixel == 2.0  # a volume at its spacing: not the 2D one
    assert thresholds_for(meta, 4.0).pixel == 0.7


def test_detect_judges_a_series_by_its_slice_spacing() -> None:
    model = tiny_model(threshold=1e9, pixel_threshold=1e9, **{SPACING_KEY: []})
    thin, thick = phantom(64), phantom(16)  # the phantom's chest is ~300 mm long
    assert thin.spacing[0] < 6 < 9 < thick.spacing[0]
    model.metadata[SPACING_KEY] = [{"threshold": -1.0, "pixel_threshold": 1e9, "slice_mm": 4.7}]
    model.metadata["calibration"] = {"slice_mm": 18.75}
    on_thin, on_thick = detect(thin, model), detect(thick, model)
    assert on_thin.assessed and on_thick.assessed
    assert on_thin.threshold == -1.0 and on_thin.abnormal and on_thin.model.threshold == -1.0
    assert on_thick.threshold == 1e9 and not on_thick.abnormal
    assert on_thin.calibration == "4.7 mm slices" == on_thin.to_json()["calibration"]
    assert on_thick.calibration == "18.8 mm slices"


def test_calibrating_records_the_spacing_and_drops_stale_calibrations() -> None:
    torch.set_num_threads(1)
    model = tiny_model(threshold=0.1, pixel_threshold=0.1, **{SPACING_KEY: [THIN]})
    normals = [make_phantom(shape=(16, 48, 48), seed=s).volume for s in range(3)]
    update = calibrate(model, normals, 0.95)
    assert update[SPACING_KEY] == []
    assert update["calibration"]["slice_mm"] == pytest.approx(normals[0].spacing[0], abs=1e-3)
    model.metadata.update(update)
    assert thresholds_for(model.metadata, 4.7).pixel == update["pixel_threshold"]


def test_calibrating_single_images_records_no_spacing() -> None:
    image = Volume(array=np.zeros((1, 40, 40), np.float32), spacing=(1, 1, 1), is_hu=False)
    model = tiny_model()
    model.preprocessing = Preprocessing(kind="image", size=32)
    update = calibrate(model, [image, image], 0.95)
    assert update["calibration"]["slice_mm"] is None


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_threshold_of_a_spacing_calibration_is_refused(
    tmp_path: Path, value: float
) -> None:
    model = tiny_model(**MAIN, **{SPACING_KEY: [{**THIN, "pixel_threshold": value}]})
    path = save_model(model, tmp_path / "m.pt")
    with pytest.raises(ModelError, match="4.7 mm"):
        load_model(path, device="cpu")
    save_model(model, path, {SPACING_KEY: "nonsense"})
    with pytest.raises(ModelError, match="not a list"):
        load_model(path, device="cpu")
