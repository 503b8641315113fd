"""detect(): a model trained on a few normal phantoms finds an inserted lesion and leaves the
normal anatomy alone; the Result is consistent with its findings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctviewer import paths
from ctviewer.errors import Cancelled
from ctviewer.model.autoencoder import AnomalyModel
from ctviewer.model.checkpoint import load_model
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.train import TrainConfig, train_model
from ctviewer.pipeline import detect
from ctviewer.progress import new_cancel_flag
from ctviewer.synth.phantom import Lesion, make_phantom
from ctviewer.volume import Volume

SHAPE = (16, 96, 96)
WINDOWS = ((40.0, 400.0), (-600.0, 1500.0))


@pytest.fixture(scope="module")
def model() -> AnomalyModel:
    torch.set_num_threads(1)  # 2 OpenMP threads crawl on a loaded 2-core machine
    normals = [make_phantom(shape=SHAPE, seed=100 + s).volume for s in range(6)]
    config = TrainConfig(
        epochs=25,
        batch_size=16,
        learning_rate=3e-3,
        preprocessing=Preprocessing(size=64, windows=WINDOWS),
        base_channels=8,
        depth=3,
        latent_channels=8,
        device="cpu",
    )
    return train_model(normals, config)


@pytest.fixture(scope="module")
def bundled() -> AnomalyModel:
    path = paths.default_model_path()
    if not path.is_file():
        pytest.skip(f"bundled model {path} absent: run scripts/train_default_model.py")
    return load_model(path, device="cpu")


@pytest.mark.parametrize("slices", [24, 48])  # 12.5 and 6.25 mm: calibrated at 9.4 and 4.7 mm
def test_bundled_model_finds_inserted_lesion_not_normal_anatomy(
    bundled: AnomalyModel, slices: int
) -> None:
    torch.set_num_threads(1)
    shape = (slices, 192, 192)
    phantom = make_phantom(shape=shape, seed=41, lesions=[Lesion("nodule", radius_mm=9.0)])
    sick = detect(phantom.volume, bundled)
    healthy = detect(make_phantom(shape=shape, seed=42).volume, bundled)
    assert sick.findings and not healthy.findings
    top = sick.findings[0]
    assert phantom.mask[sick.labels == top.id].any(), "the strongest finding misses the nodule"
    assert sick.score > healthy.score


def test_tiny_model_scores_a_lesion_above_normal(model: AnomalyModel) -> None:
    lesion = Lesion("nodule", radius_mm=14.0)
    sick = detect(make_phantom(shape=SHAPE, seed=7, lesions=[lesion]).volume, model)
    healthy = detect(make_phantom(shape=SHAPE, seed=8).volume, model)
    assert sick.score > healthy.score


def test_result_is_consistent(model: AnomalyModel) -> None:
    phantom = make_phantom(shape=SHAPE, seed=9, lesions=[Lesion("nodule", radius_mm=12.0)])
    volume = phantom.volume
    result = detect(volume, model)
    assert result.anomaly_map.shape == volume.shape and result.anomaly_map.dtype == np.float16
    assert result.labels.shape == volume.shape
    assert result.slice_scores.shape == (volume.n_slices,)
    assert result.score == pytest.approx(result.slice_scores.max())
    assert result.model.version == model.info.version
    for finding in result.findings:
        region = result.labels == finding.id
        assert region.sum() == finding.voxels
        z0, y0, x0, z1, y1, x1 = finding.bbox
        assert region[z0:z1, y0:y1, x0:x1].sum() == finding.voxels
        assert finding.slice_start == z0 and finding.slice_end == z1 - 1
        assert finding.size_mm3 == pytest.approx(finding.voxels * np.prod(volume.spacing))
        assert finding.peak == pytest.approx(result.anomaly_map[region].max())
    peaks = [f.peak for f in result.findings]
    assert peaks == sorted(peaks, reverse=True)


def test_detect_reports_progress_and_cancels(model: AnomalyModel) -> None:
    volume = make_phantom(shape=SHAPE, seed=3).volume
    seen: list[float] = []
    detect(volume, model, progress=lambda f, _msg: seen.append(f))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    flag = new_cancel_flag()
    flag.set()
    with pytest.raises(Cancelled):
        detect(volume, model, cancel=flag)


def test_image_input_to_ct_model_is_not_assessed(model: AnomalyModel) -> None:
    picture = Volume(array=np.zeros((1, 64, 64), np.float32), spacing=(1, 1, 1), is_hu=False)
    picture.source = "photo.png"
    result = detect(picture, model)
    assert not result.assessed and result.state == "not_assessed"
    assert result.not_assessed_reason == "8-bit image, but the model expects CT in HU"
    assert result.verdict()[0] == "Not assessed" and not result.abnormal
