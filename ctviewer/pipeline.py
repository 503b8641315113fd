"""detect(volume, model) → Result: the one entry the UI and the CLI both call.

Slices go through the model in batches: preprocess → reconstruct → residual → filtered map at model
resolution (+ slice scores) → map restored onto the volume grid → findings. Decision support only.
"""

from __future__ import annotations

import numpy as np

from ctviewer.anomaly.maps import (
    anomaly_map,
    residual,
    score_mask,
    series_score,
    slice_scores,
)
from ctviewer.anomaly.segment import segment
from ctviewer.io import Input, load_inputs  # noqa: F401  (re-exported: train, learn, CLI)
from ctviewer.model.autoencoder import AnomalyModel
from ctviewer.model.preprocess import (
    Prepared,
    body_box,
    check_kind,
    prepare,
    prepare_volume,
    restore,
)
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.volume import Result, Volume

BATCH_SLICES = 64


def model_maps(prepared: Prepared, model: AnomalyModel) -> tuple[np.ndarray, np.ndarray]:
    """Filtered maps (n, s, s) and slice scores (n,) at model resolution for prepared slices."""
    recon = model.reconstruct(prepared.images)
    pre = model.preprocessing
    centre = slice(pre.context * pre.channels_per_slice, (pre.context + 1) * pre.channels_per_slice)
    diff = residual(prepared.images[:, centre], recon[:, centre], model.scoring)
    mask = score_mask(prepared.body, model.scoring)
    maps = anomaly_map(diff, mask, model.scoring)
    return maps, slice_scores(maps, mask, model.scoring)


def score_volume(volume: Volume, model: AnomalyModel) -> tuple[float, np.ndarray]:
    """Series score and slice scores without restoring the map (what evaluate and calibrate use);
    the same numbers `detect` reports."""
    _, scores = model_maps(prepare_volume(volume, model.preprocessing), model)
    return series_score(scores), scores


def detect(
    volume: Volume,
    model: AnomalyModel,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> Result:
    """Anomaly map, findings and the series score of one volume (or single image)."""
    check_kind(volume, model.preprocessing)
    box = body_box(volume, model.preprocessing)
    n = volume.n_slices
    full = np.zeros(volume.shape, dtype=np.float32)
    scores = np.zeros(n, dtype=np.float32)
    for start in range(0, n, BATCH_SLICES):
        check_cancel(cancel)
        stop = min(n, start + BATCH_SLICES)
        prepared = prepare(volume, model.preprocessing, start, stop, box)
        maps, scores[start:stop] = model_maps(prepared, model)
        full[start:stop] = restore(maps, box, volume.shape[1:])
        report(progress, 0.9 * stop / n, f"analysed {stop}/{n} slices")
    check_cancel(cancel)
    meta = model.metadata
    labels, findings = segment(
        full,
        volume,
        float(meta.get("pixel_threshold", np.inf)),
        min_size_mm3=float(meta.get("min_size_mm3", 30.0)),
        min_area_mm2=float(meta.get("min_area_mm2", 10.0)),
    )
    report(progress, 1.0, f"{len(findings)} findings")
    score = series_score(scores)
    return Result(
        source=volume.source,
        series_uid=volume.series_uid,
        model=model.info,
        score=score,
        threshold=model.threshold,
        abnormal=score > model.threshold,
        slice_scores=scores,
        anomaly_map=full,
        labels=labels,
        findings=findings,
    )
