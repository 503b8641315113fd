"""detect() streams the map slab by slab (float16 display map, findings measured in float32 on
the above-threshold voxels, labels in the smallest int type): it gives the same scores, labels
and findings as the dense path (the whole float32 map restored, then `segment`), and a map equal
to it up to float16 rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctviewer import paths
from ctviewer.anomaly.maps import series_score
from ctviewer.anomaly.segment import segment
from ctviewer.model.autoencoder import AnomalyModel
from ctviewer.model.checkpoint import load_model
from ctviewer.model.preprocess import body_box, prepare_volume, restore
from ctviewer.model.thresholds import SPACING_KEY
from ctviewer.pipeline import detect, model_maps
from ctviewer.synth.phantom import Lesion, make_phantom
from ctviewer.volume import Volume


@pytest.fixture(scope="module")
def bundled() -> AnomalyModel:
    path = paths.default_model_path()
    if not path.is_file():
        pytest.skip(f"bundled model {path} absent: run scripts/train_default_model.py")
    torch.set_num_threads(1)
    return load_model(path, device="cpu")


def dense(volume: Volume, model: AnomalyModel):
    """The unstreamed path: the whole float32 map on the volume grid, then `segment` with the
    calibration for the volume's slice spacing."""
    pre = model.preprocessing
    maps, scores = model_maps(prepare_volume(volume, pre), model)
    full = restore(maps, body_box(volume, pre), volume.shape[1:])
    cal = model.thresholds(volume)
    labels, findings = segment(full, volume, cal.pixel, 30.0, 10.0, cal.seed, cal.mass)
    return full, scores, labels, findings


def with_map_threshold(model: AnomalyModel, threshold: float, **metadata) -> AnomalyModel:
    """`model` with one map threshold for every series (its calibrations per spacing dropped)."""
    meta = {**model.metadata, "pixel_threshold": threshold, SPACING_KEY: [], **metadata}
    return AnomalyModel(model.net, meta)


@pytest.mark.parametrize("threshold", [None, 0.05, -1.0])
def test_streamed_detect_matches_the_dense_path(bundled: AnomalyModel, threshold) -> None:
    lesions = [Lesion("nodule", radius_mm=9.0), Lesion("ggo", radius_mm=14.0, seed=3)]
    volume = make_phantom(shape=(70, 192, 192), seed=41, lesions=lesions).volume
    model = bundled
    if threshold is not None:  # low: many findings, some across slabs; < 0: the whole volume
        model = with_map_threshold(bundled, threshold)
    full, scores, labels, findings = dense(volume, model)
    result = detect(volume, model)
    assert result.anomaly_map.dtype == np.float16 and result.labels.dtype == np.uint8
    crossing = [f for f in result.findings if f.slice_start // 16 != f.slice_end // 16]
    assert threshold is None or crossing, "no finding spans two restored slabs"
    assert np.array_equal(result.slice_scores, scores)
    assert result.score == series_score(scores)
    assert findings and result.findings == findings
    assert np.array_equal(result.labels, labels)
    # float16 keeps 11 significant bits (relative error <= 2^-11) down to 2^-14; below, its
    # subnormals step by 2^-24: far under anything the overlay can show
    assert np.allclose(result.anomaly_map, full, rtol=2**-11, atol=2**-24)


def test_preparing_ahead_in_a_thread_changes_nothing(bundled: AnomalyModel, monkeypatch) -> None:
    import ctviewer.pipeline as pipeline

    volume = make_phantom(
        shape=(150, 96, 96), seed=43, lesions=[Lesion("nodule", radius_mm=8.0)]
    ).volume
    monkeypatch.setattr(pipeline, "BATCH_SLICES", 32)  # 5 batches: 4 prepared ahead
    results = []
    for ahead in (False, True):
        monkeypatch.setattr(pipeline, "PREPARE_AHEAD", ahead)
        results.append(detect(volume, bundled))
    plain, threaded = results
    assert np.array_equal(plain.slice_scores, threaded.slice_scores)
    assert np.array_equal(plain.anomaly_map, threaded.anomaly_map)
    assert np.array_equal(plain.labels, threaded.labels)
    assert plain.findings == threaded.findings


def test_streamed_detect_with_a_3d_blob_filter_matches_the_dense_path(bundled) -> None:
    """A 3D map filter reads across the network's batches: streamed = dense."""
    import dataclasses

    from ctviewer.pipeline import BATCH_SLICES

    scoring = dataclasses.replace(bundled.scoring, blob_mm=(6.0, 9.0), blob_on="image")
    model = with_map_threshold(bundled, 0.01, scoring=scoring.to_dict())
    volume = make_phantom(shape=(BATCH_SLICES + 6, 128, 128), seed=42).volume
    full, scores, labels, findings = dense(volume, model)
    result = detect(volume, model)
    assert np.array_equal(result.slice_scores, scores)
    assert result.findings == findings and np.array_equal(result.labels, labels)
    assert np.allclose(result.anomaly_map, full, rtol=2**-11, atol=2**-24)
