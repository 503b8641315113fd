"""analyse(volume) / detect(volume, model) → Result: the one entry the UI, the CLI and reports call.

`analyse` picks the installed model that fits the series (`model.catalog`) and runs `detect`, or
returns a "not assessed" Result with the reason. `detect` first checks that the model can judge the
volume (input kind, body part, and afterwards the share of the input its scoring region covers and
the score range of its normals); then slices go through the model in batches: preprocess →
reconstruct → residual → filtered map at model resolution (+ slice scores) → map restored onto the
volume grid 16 slices at a time, kept as float16 for display, while the float32 voxels above the
map threshold are collected → findings from those alone. Decision support only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ctviewer.anomaly.maps import (
    anomaly_map,
    residual,
    score_mask,
    series_score,
    slice_scores,
)
from ctviewer.anomaly.segment import seed_level, segment_voxels
from ctviewer.anomaly.shape import halo_slices
from ctviewer.io import Input, load_inputs  # noqa: F401  (re-exported: train, learn, CLI)
from ctviewer.model.anatomy import AnatomyGuess, guess_body_parts
from ctviewer.model.autoencoder import AnomalyModel
from ctviewer.model.catalog import (
    Fits,
    ModelCatalog,
    body_part_problem,
    kind_problem,
    organ_share_problem,
)
from ctviewer.model.preprocess import (
    Box,
    Prepared,
    body_box,
    model_spacing,
    prepare,
    prepare_volume,
    restore,
)
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.volume import Result, Volume

BATCH_SLICES = 64
RESTORE_SLICES = 16  # slices brought back to the volume grid at a time (16 MB float32 at 512²)
MAP_DTYPE = np.float16  # `Result.anomaly_map`, for display; findings are measured in float32
SCORE_FLOOR = 0.25  # a score below this share of every calibration normal's is out of range


def model_maps(prepared: Prepared, model: AnomalyModel) -> tuple[np.ndarray, np.ndarray]:
    """Filtered maps (n, s, s) and slice scores (n,) at model resolution for prepared slices."""
    recon = model.reconstruct(prepared.images)
    pre = model.preprocessing
    centre = slice(pre.context * pre.channels_per_slice, (pre.context + 1) * pre.channels_per_slice)
    diff = residual(prepared.images[:, centre], recon[:, centre], model.scoring)
    if model.scoring.flip:  # the mirrored image's residual, mapped back, averaged in
        back = model.reconstruct(np.ascontiguousarray(prepared.images[..., ::-1]))[..., ::-1]
        diff = 0.5 * (diff + residual(prepared.images[:, centre], back[:, centre], model.scoring))
    mask = score_mask(prepared.body, model.scoring, prepared.from_hu)
    images = prepared.images[:, centre]
    maps = anomaly_map(diff, mask, model.scoring, prepared.spacing_mm, images)
    return maps, slice_scores(maps, mask, model.scoring)


def score_volume(volume: Volume, model: AnomalyModel) -> tuple[float, np.ndarray]:
    """Series score and slice scores without restoring the map (what evaluate and calibrate use);
    the same numbers `detect` reports."""
    _, scores = model_maps(prepare_volume(volume, model.preprocessing), model)
    return series_score(scores), scores


def fit_problem(volume: Volume, model: AnomalyModel, guess: AnatomyGuess | None = None) -> str:
    """Why this model cannot judge this volume before running it ("" when it can); `guess` is
    the body part already read off the volume, if the caller has it."""
    fits = Fits.from_metadata(model.metadata)
    problem = kind_problem(volume, fits)
    if problem or not fits.body_parts:
        return problem
    return body_part_problem(guess or guess_body_parts(volume), fits, model.info.name)


def score_range_problem(score: float, model: AnomalyModel) -> str:
    """A score far below every normal the model was calibrated on means the input is not what
    it saw (an empty or foreign image), not that it is normal."""
    normals = model.metadata.get("calibration", {}).get("normal_scores") or []
    if not normals or not np.isfinite(score):
        return "" if np.isfinite(score) else "the score is not a number"
    floor = SCORE_FLOOR * min(normals)
    if score >= floor:
        return ""
    return (
        f"input far outside the training distribution: score {score:.3g} is below anything the "
        f"model gave its normals (lowest {min(normals):.3g})"
    )


def detect(
    volume: Volume,
    model: AnomalyModel,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    guess: AnatomyGuess | None = None,
) -> Result:
    """Anomaly map, findings and the series score of one volume (or single image), or a
    not-assessed Result saying why this model cannot judge it."""
    info = model.info
    problem = fit_problem(volume, model, guess)
    if problem:
        return Result.not_assessed(volume, problem, info)
    box = body_box(volume, model.preprocessing)
    n = volume.n_slices
    spacing = model_spacing(volume, box, model.preprocessing.size)
    halo = halo_slices(model.scoring.blob_mm, spacing) if n > 1 else 0
    meta = model.metadata
    threshold = float(meta.get("pixel_threshold", np.inf))
    seed = _optional(meta.get("seed_threshold"))
    collect = seed_level(threshold, seed)  # what findings grow from
    full = np.zeros(volume.shape, dtype=MAP_DTYPE)  # paged in only where the map is non-zero
    scores = np.zeros(n, dtype=np.float32)
    hot: list[tuple[np.ndarray, np.ndarray]] = []  # voxels above `collect`: flat index, value
    organ_pixels = 0.0
    for start in range(0, n, BATCH_SLICES):
        check_cancel(cancel)
        stop = min(n, start + BATCH_SLICES)
        # a 3D map filter reads `halo` slices beyond the batch on each side
        low, high = max(0, start - halo), min(n, stop + halo)
        prepared = prepare(volume, model.preprocessing, low, high, box)
        maps, batch_scores = model_maps(prepared, model)
        inner = slice(start - low, stop - low)
        maps, scores[start:stop] = maps[inner], batch_scores[inner]
        organ_pixels += float(prepared.body[inner].mean()) * (stop - start)
        for z in range(start, stop, RESTORE_SLICES):
            part = maps[z - start : z - start + RESTORE_SLICES]
            if part.any() or collect < 0:  # an all-zero map restores to zeros
                up = restore(part, box, volume.shape[1:])
                hot.append(_store(full, z, up, collect, box))
        report(progress, 0.9 * stop / n, f"analysed {stop}/{n} slices")
    check_cancel(cancel)
    score = series_score(scores)
    problem = organ_share_problem(organ_pixels / n, Fits.from_metadata(model.metadata))
    problem = problem or score_range_problem(score, model)
    if problem:
        return Result.not_assessed(volume, problem, info)
    labels, findings = segment_voxels(
        np.concatenate([h[0] for h in hot] or [np.zeros(0, np.int64)]),
        np.concatenate([h[1] for h in hot] or [np.zeros(0, np.float32)]),
        volume,
        threshold,
        min_size_mm3=float(meta.get("min_size_mm3", 30.0)),
        min_area_mm2=float(meta.get("min_area_mm2", 10.0)),
        seed=seed,
        mass=_optional(meta.get("mass_threshold")),
    )
    report(progress, 1.0, f"{len(findings)} findings")
    return Result(
        source=volume.source,
        series_uid=volume.series_uid,
        model=info,
        score=score,
        threshold=model.threshold,
        abnormal=score > model.threshold,
        slice_scores=scores,
        anomaly_map=full,
        labels=labels,
        findings=findings,
    )


def _optional(value) -> float | None:
    return None if value is None else float(value)


def _store(
    full: np.ndarray, start: int, part: np.ndarray, threshold: float, box: Box
) -> tuple[np.ndarray, np.ndarray]:
    """Write restored float32 slices `part` (zero outside the crop `box`) into `full` from slice
    `start` on, touching only the rows and columns that hold non-zero values (the rest of a
    fresh `np.zeros` stays unpaged); return the flat indices into `full` and the float32 values
    of the voxels above `threshold`, in ascending order, for `segment_voxels`."""
    y0, x0 = max(box[0], 0), max(box[1], 0)
    for k, plane in enumerate(part[:, y0 : box[2], x0 : box[3]]):
        rows, cols = np.flatnonzero(plane.any(axis=1)), np.flatnonzero(plane.any(axis=0))
        if rows.size:
            window = np.s_[y0 + rows[0] : y0 + rows[-1] + 1, x0 + cols[0] : x0 + cols[-1] + 1]
            full[start + k][window] = part[k][window]
    above = np.flatnonzero(part > threshold)
    return above + start * full[0].size, part.ravel()[above]


class ModelCache:
    """Loaded models by (path, modification time, device), so that a viewer or a batch loads each
    model once."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, float, str], AnomalyModel] = {}

    def load(self, path: str | Path, device: str = "auto") -> AnomalyModel:
        from ctviewer.model.checkpoint import load_model

        path = Path(path)
        key = (str(path.resolve()), path.stat().st_mtime if path.exists() else 0.0, device)
        if key not in self._models:
            self._models[key] = load_model(path, device=device)
        return self._models[key]


def analyse(
    volume: Volume,
    model: AnomalyModel | str | Path | None = None,
    catalog: ModelCatalog | None = None,
    device: str = "auto",
    cache: ModelCache | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> Result:
    """The one place that picks, loads and runs a model for a volume: the given model (a loaded
    one or a checkpoint path), else the installed model that fits it, else a not-assessed
    Result that says why none does."""
    cache = cache or ModelCache()
    guess = None
    if model is None:
        choice = (catalog or ModelCatalog.installed()).choose(volume)
        if choice.entry is None:
            return Result.not_assessed(volume, choice.reason)
        model, guess = choice.entry.path, choice.guess
    if not isinstance(model, AnomalyModel):
        report(progress, 0.0, f"loading model {Path(model).name}")
        model = cache.load(model, device)
    report(progress, 0.0, f"analysing on {model.device}")
    return detect(volume, model, progress=progress, cancel=cancel, guess=guess)
