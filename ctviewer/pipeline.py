"""analyse(volume) / detect(volume, model) → Result: the one entry the UI, the CLI and reports call.

`analyse` picks the installed model that fits the series (`model.catalog`) and runs `detect`, or
returns a "not assessed" Result with the reason. `detect` first checks that the model can judge the
volume (input kind, body part, and afterwards the share of the input its scoring region covers and
the score range of its normals); then it runs in three stages: slice by slice in batches
(preprocess, the next batch in a thread, → reconstruct → residual → planar filtering, kept at model
resolution for the whole volume, a few tens of MB); across slices once (the blob measure, exact
over the whole stack, then the slice scores); and the map restored onto the volume grid 16 slices
at a time, kept as float16 for display, while the float32 voxels above the map threshold are
collected → findings from those alone. Decision support only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ctviewer.anomaly.maps import (
    Scoring,
    planar_map,
    residual,
    score_mask,
    series_score,
    shape_map,
    slice_scores,
)
from ctviewer.anomaly.midline import Midline, estimate_midline, pick_slices
from ctviewer.anomaly.segment import seed_level, segment_voxels
from ctviewer.anomaly.solid import solid_masks
from ctviewer.io import Input, load_inputs  # noqa: F401  (re-exported: train, learn, CLI)
from ctviewer.memory import lazy_zeros
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
    Preprocessing,
    body_box,
    model_spacing,
    prepare,
    prepare_volume,
    soft_tissue_window,
    upsample,
    visible,
)
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.volume import Result, Volume

BATCH_SLICES = 64
RESTORE_SLICES = 16  # slices brought back to the volume grid at a time (16 MB float32 at 512²)
MAP_DTYPE = np.float16  # `Result.anomaly_map`, for display; findings are measured in float32
PREPARE_AHEAD = True  # prepare the next slices in a thread while the network runs
MIDLINE_SLICES = 48  # slices prepared to find the head's midline (`volume_midline`)
SCORE_FLOOR = 0.25  # a score below this share of every calibration normal's is out of range


@dataclass
class PlanarMaps:
    """The slice-by-slice stage's output at model resolution for a run of slices: what the
    volumetric stage (`shape_map`) reads."""

    planar: np.ndarray  # (n, s, s) float32: the filtered residual (`planar_map`)
    mask: np.ndarray  # (n, s, s) bool: the eroded scoring mask
    images: np.ndarray | None  # (n, c, s, s) float32: the centre slice's channels when the
    # volumetric stage reads the image (`Scoring.blob_on`, `Scoring.solid_mm`), else None
    solid: np.ndarray | None = None  # (n, s, s) bool: the solid-organ region when it is scored
    # (`Scoring.solid_mm`), else None

    @property
    def scored(self) -> np.ndarray:
        return scored_region(self.mask, self.solid)


def scored_region(mask: np.ndarray, solid: np.ndarray | None) -> np.ndarray:
    """Where slice scores are read: the scoring mask and the solid-organ region, if scored."""
    return mask if solid is None else mask | solid


def reads_image(scoring: Scoring) -> bool:
    """Whether the volumetric stage reads the input image (its blob measure)."""
    return (bool(scoring.blob_mm) and scoring.blob_on == "image") or scoring.scores_solid


def planar_maps(prepared: Prepared, model: AnomalyModel, line: Midline | None = None) -> PlanarMaps:
    """Reconstruction, residual and the per-slice filtering of prepared slices (each slice on
    its own); `line`: the volume's midline (`volume_midline`) for a mirror score about it."""
    recon = model.reconstruct(prepared.images)
    pre = model.preprocessing
    centre = slice(pre.context * pre.channels_per_slice, (pre.context + 1) * pre.channels_per_slice)
    images = prepared.images[:, centre]
    diff = residual(images, recon[:, centre], model.scoring, line)
    if model.scoring.flip:  # the mirrored image's residual, mapped back, averaged in
        back = model.reconstruct(np.ascontiguousarray(prepared.images[..., ::-1]))[..., ::-1]
        diff = 0.5 * (diff + residual(images, back[:, centre], model.scoring, line))
    mask = score_mask(prepared.body, model.scoring, prepared.from_hu)
    kept = images if reads_image(model.scoring) else None
    solid = None
    if model.scoring.scores_solid and pre.kind == "hu":
        solid = solid_masks(images[:, 0], pre.windows[0], prepared.body, prepared.spacing_mm[1])
    return PlanarMaps(planar_map(diff, mask, model.scoring), mask, kept, solid)


def model_maps(
    prepared: Prepared, model: AnomalyModel, line: Midline | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Filtered maps (n, s, s) and slice scores (n,) at model resolution for prepared slices
    (a whole volume: the volumetric stage reads across them); `line` as in `planar_maps`."""
    part = planar_maps(prepared, model, line)
    maps = shape_map(
        part.planar,
        part.mask,
        model.scoring,
        prepared.spacing_mm,
        part.images,
        cpu_threads(),
        part.solid,
    )
    return maps, slice_scores(maps, part.scored, model.scoring)


def cpu_threads() -> int:
    """Threads the CPU stages may use: torch's intra-op thread count (`ctviewer bench
    --threads`, one per screening worker), so that both follow one budget."""
    return max(1, torch.get_num_threads())


def volume_midline(
    volume: Volume, model: AnomalyModel, box: Box | None = None, prepared: Prepared | None = None
) -> Midline | None:
    """The head's midline in the model crop when the model mirrors about it
    (`Scoring.midline`), found on up to 16 of MIDLINE_SLICES evenly spaced slices (taken from
    `prepared`, the whole volume's model input, when given); None otherwise."""
    scoring, pre = model.scoring, model.preprocessing
    if not (scoring.midline and scoring.mirror > 0):
        return None
    n = volume.n_slices
    zs = np.unique(np.linspace(0, n - 1, min(n, MIDLINE_SLICES)).round().astype(int))
    if prepared is None:
        box = body_box(volume, pre) if box is None else box
        images = np.concatenate([prepare(volume, pre, z, z + 1, box).images for z in zs])
    else:
        images = prepared.images[zs]
    centre = images[:, pre.context * pre.channels_per_slice]
    body = centre > 0
    pick = pick_slices(body)
    return estimate_midline(centre[pick], body[pick])


def score_volume(volume: Volume, model: AnomalyModel) -> tuple[float, np.ndarray]:
    """Series score and slice scores without restoring the map (what evaluate and calibrate use);
    the same numbers `detect` reports."""
    prepared = prepare_volume(volume, model.preprocessing)
    _, scores = model_maps(prepared, model, volume_midline(volume, model, prepared=prepared))
    return series_score(scores), scores


def fit_problem(volume: Volume, model: AnomalyModel, guess: AnatomyGuess | None = None) -> str:
    """Why this model cannot judge this volume before running it ("" when it can); `guess` is
    the body part already read off the volume, if the caller has it."""
    fits = Fits.from_metadata(model.metadata)
    problem = kind_problem(volume, fits) or window_problem(volume, model)
    if problem or not fits.body_parts:
        return problem
    return body_part_problem(guess or guess_body_parts(volume), fits, model.info.name)


def window_problem(volume: Volume, model: AnomalyModel) -> str:
    """An 8-bit chest image in a soft-tissue window shows black lungs without texture: a model
    that looks inside the lungs of 8-bit images cannot judge it ("" when it can)."""
    pre = model.preprocessing
    if volume.is_hu or pre.kind != "image" or pre.organ != "lungs":
        return ""
    if not soft_tissue_window(np.asarray(volume.array[volume.n_slices // 2])):
        return ""
    return (
        "8-bit chest image in a soft-tissue (mediastinal) window: the lungs are black and show "
        "no texture, so the lung model cannot judge them; use the slice in a lung window"
    )


def score_range_problem(score: float, normals: Sequence[float]) -> str:
    """A score far below every normal the model was calibrated on (`normals`, their series
    scores) means the input is not what it saw (an empty or foreign image), not that it is
    normal."""
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
    line = volume_midline(volume, model, box)
    n, size = volume.n_slices, model.preprocessing.size
    meta, calibration = model.metadata, model.thresholds(volume)
    threshold, seed = calibration.pixel, calibration.seed
    collect = seed_level(threshold, seed)  # what findings grow from
    # stage 1, slice by slice in batches: network, residual, planar filtering (model resolution)
    planar = np.zeros((n, size, size), np.float32)
    mask = np.zeros((n, size, size), bool)
    channels = model.preprocessing.channels_per_slice
    images = np.zeros((n, channels, size, size), np.float32) if reads_image(model.scoring) else None
    solid = np.zeros((n, size, size), bool) if model.scoring.scores_solid else None
    organ_pixels = 0.0
    spacing = model_spacing(volume, box, size)
    for start, stop, prepared in _prepared(volume, model.preprocessing, box):
        check_cancel(cancel)
        part = planar_maps(prepared, model, line)
        planar[start:stop], mask[start:stop] = part.planar, part.mask
        if images is not None:
            images[start:stop] = part.images
        if solid is not None and part.solid is not None:
            solid[start:stop] = part.solid
        organ_pixels += float(prepared.body.mean()) * (stop - start)
        report(progress, 0.7 * stop / n, f"analysed {stop}/{n} slices")
    # stage 2, across slices: the blob measure (`shape_map`), then the slice scores
    check_cancel(cancel)
    maps = shape_map(planar, mask, model.scoring, spacing, images, cpu_threads(), solid)
    del planar, images
    scores = slice_scores(maps, scored_region(mask, solid), model.scoring)
    # stage 3: the map restored onto the volume grid, RESTORE_SLICES at a time
    full = lazy_zeros(volume.shape, MAP_DTYPE)  # paged in only where the map is non-zero
    hot: list[tuple[np.ndarray, np.ndarray]] = []  # voxels above `collect`: flat index, value
    for z in range(0, n, RESTORE_SLICES):
        check_cancel(cancel)
        slab = maps[z : z + RESTORE_SLICES]
        if slab.any() or collect < 0:  # an all-zero map restores to zeros
            hot.append(_store(full, z, slab, box, collect))
        report(progress, 0.7 + 0.2 * min(n, z + RESTORE_SLICES) / n, "restoring the map")
    check_cancel(cancel)
    score = series_score(scores)
    problem = organ_share_problem(organ_pixels / n, Fits.from_metadata(model.metadata))
    problem = problem or score_range_problem(score, calibration.normal_scores)
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
        mass=calibration.mass,
    )
    report(progress, 1.0, f"{len(findings)} findings")
    return Result(
        source=volume.source,
        series_uid=volume.series_uid,
        model=replace(info, threshold=calibration.series),
        score=score,
        threshold=calibration.series,
        abnormal=score > calibration.series,
        slice_scores=scores,
        anomaly_map=full,
        labels=labels,
        findings=findings,
        calibration=calibration.label,
    )


def _prepared(volume: Volume, pre: Preprocessing, box: Box) -> Iterator[tuple[int, int, Prepared]]:
    """(start, stop, prepared) for the volume's runs of BATCH_SLICES slices, in order; with
    PREPARE_AHEAD the next run is prepared in a thread while the caller runs the network (which
    leaves the GIL) on this one."""
    n = volume.n_slices

    def one(start: int) -> tuple[int, int, Prepared]:
        stop = min(n, start + BATCH_SLICES)
        return start, stop, prepare(volume, pre, start, stop, box)

    if not PREPARE_AHEAD:
        yield from map(one, range(0, n, BATCH_SLICES))
        return
    with ThreadPoolExecutor(1, thread_name_prefix="ctviewer-prepare") as pool:
        future = pool.submit(one, 0)
        for start in range(0, n, BATCH_SLICES):
            batch = future.result()
            if start + BATCH_SLICES < n:
                future = pool.submit(one, start + BATCH_SLICES)
            yield batch


def _store(
    full: np.ndarray, start: int, maps: np.ndarray, box: Box, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Restore model-resolution `maps` (zero outside the crop `box`) into `full` from slice
    `start` on, writing only the rows and columns that hold non-zero values (the rest of a fresh
    `np.zeros` stays unpaged; no full-size slab is made); return the flat indices into `full`
    and the float32 values of the voxels above `threshold`, in ascending order, for
    `segment_voxels`."""
    ny, nx = full.shape[1:]
    rows, cols, box_rows, box_cols = visible(box, (ny, nx))
    flats, values = [], []
    for k, plane in enumerate(upsample(maps, box)[:, box_rows, box_cols]):
        z = start + k
        if threshold < 0:  # every voxel is above: the whole slice, 0 outside the box
            whole = np.zeros((ny, nx), np.float32)
            whole[rows, cols] = plane
            flats.append(np.arange(ny * nx) + z * ny * nx)
            values.append(whole.ravel())
        ys, xs = np.flatnonzero(plane.any(axis=1)), np.flatnonzero(plane.any(axis=0))
        if not ys.size:
            continue
        window = plane[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
        y0, x0 = rows.start + ys[0], cols.start + xs[0]
        full[z, y0 : y0 + window.shape[0], x0 : x0 + window.shape[1]] = window
        if threshold >= 0:  # above a non-negative level means non-zero: inside the window
            yy, xx = np.nonzero(window > threshold)
            flats.append((z * ny + y0 + yy) * nx + x0 + xx)
            values.append(window[yy, xx])
    if not flats:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(flats), np.concatenate(values)


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
