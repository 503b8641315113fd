"""Residual → filtered anomaly map, and the slice scores read from it (numpy only, no torch).

The residual |input - reconstruction| is averaged over the centre slice's channels, restricted to
the body mask eroded so that the body outline does not light up, median-filtered to drop isolated
pixels and lightly smoothed. Slice scores are MAE-style statistics of the filtered map inside the
mask: the mean of its top `percent` % (the default) or the plain mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ctviewer.anomaly.midline import Midline, reflect
from ctviewer.anomaly.score import top_percent_mean
from ctviewer.anomaly.shape import blob_filter, largest_blob_filter
from ctviewer.anomaly.solid import solid_map
from ctviewer.errors import ModelError

SLICE_SCORES = ("top_percent", "mae", "blob")
RESIDUALS = ("abs", "positive")
CHANNELS = ("mean", "max")
BLOB_ON = ("map", "image")


@dataclass(frozen=True)
class Scoring:
    """How residuals become maps and scores; stored in every checkpoint."""

    residual: str = "abs"  # "abs", or "positive": only where the input is brighter (bleeds)
    edge: float = 0.0  # > 0: divide the residual by 1 + |gradient of the reconstruction| / edge
    erode_px: int = 3  # erosion of the body mask at model resolution
    erode_hu_px: int = -1  # the same for an organ mask found by HU thresholds (exact: the head
    # CT skull strip keeps the rim where extra-axial bleeds lie); -1: erode_px
    median: int = 3  # median filter size (pixels at model resolution; 1 = off)
    sigma: float = 1.0  # Gaussian smoothing (pixels at model resolution; 0 = off)
    slice_score: str = "top_percent"  # "mae": mean of the map inside the mask; "blob": the
    # top `percent` % pixels' largest connected blob (its sum over the top-pixel count)
    percent: float = 1.0  # for top_percent and blob
    channels: str = "mean"  # how the channels' residuals combine: "mean", or "max" (a lesion
    # visible in one window only, such as ground glass in the lung window, keeps its contrast)
    flip: bool = False  # residual = mean of the image's and its left-right mirror's (mapped back)
    mirror: float = 0.0  # > 0: residual minus this share of its left-right mirror, clipped at 0
    midline: bool = False  # mirror about the head's estimated midsagittal line
    # (`anomaly.midline`, one per volume) instead of the crop's centre line
    mirror_px: int = 0  # the mirror's maximum over (2k+1)² pixels is subtracted: a thin
    # midline structure (falx, sinus) cancels even where the mirror falls between pixels
    blob_mm: tuple[float, ...] = ()  # ball radii (mm): the map becomes its multiscale Hessian
    # blob measure (`anomaly.shape`): compact lesions stay, tubes (vessels) and plates fade
    blob_on: str = "map"  # "map": filter the map; "image": the map's geometric mean with the
    # blob measure of the input image (largest over its channels), read across the mask's edge
    broad_mm: tuple[float, ...] = ()  # > (): the map is also at least `broad_gain` times the
    # blob measure at these radii of the image grey-opened by 3x3x3 (vessels thinner than ~2
    # pixels gone): broad faint lesions such as ground glass (chest10, not a default)
    broad_gain: float = 0.0
    solid_mm: tuple[float, ...] = ()  # > (): a second region, the solid soft-tissue organs
    # outside the lungs (liver, spleen; `anomaly.solid`), scored by `solid_gain` times the blob
    # measure at these radii of dark and bright blobs in the first channel (liver11, no default)
    solid_gain: float = 0.0
    broad_max_slice_mm: float = 0.0  # > 0: the broad term only on volumes (not single images)
    # whose slices are at most this thick (chest11: at thicker slices it finds no ground glass
    # and its normals raise the thresholds); 0: everywhere
    broad_channel: int = -1  # the channel whose opened image the broad term reads (-1: all,
    # the largest; the lung window alone holds ground glass and costs half)
    broad_max_value: float = 0.0  # > 0: the broad term only where its opened channel is at most
    # this (lung window -600/1500: 0.767 = -200 HU, hazier than soft tissue: ground glass, not
    # the hilum's or the mediastinum's edge, which the first term judges); 0: everywhere
    broad_open_mm: float = 0.0  # > 0: the opening's size in z is the odd number of slices
    # nearest to this many mm (at least 3), so that it reaches as far at thin slices; 0: 3 slices

    def __post_init__(self) -> None:
        if self.slice_score not in SLICE_SCORES or self.residual not in RESIDUALS:
            raise ModelError(f"unknown score {self.slice_score!r} or residual {self.residual!r}")
        if self.blob_on not in BLOB_ON:
            raise ModelError(f"unknown blob source {self.blob_on!r}")
        if self.channels not in CHANNELS:
            raise ModelError(f"unknown channel combination {self.channels!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["blob_mm"] = list(self.blob_mm)
        data["broad_mm"] = list(self.broad_mm)
        data["solid_mm"] = list(self.solid_mm)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Scoring:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["blob_mm"] = tuple(float(v) for v in known.get("blob_mm", ()))
        known["broad_mm"] = tuple(float(v) for v in known.get("broad_mm", ()))
        known["solid_mm"] = tuple(float(v) for v in known.get("solid_mm", ()))
        return cls(**known)

    @property
    def scores_solid(self) -> bool:
        """Whether the solid-organ region is scored too (`solid_mm`, `solid_gain`)."""
        return bool(self.solid_mm) and self.solid_gain > 0


def residual(
    images: np.ndarray, recon: np.ndarray, scoring: Scoring, line: Midline | None = None
) -> np.ndarray:
    """Per-pixel residual (n, s, s), the channels' mean (or maximum, `channels`). With `edge`,
    the residual is damped where the reconstruction itself has an edge: the model knows an organ
    border is there but not exactly where, while a lesion it refuses to draw has no edge in the
    reconstruction. `line`: the mirror line for `mirror` (the crop's centre line when None)."""
    diff = images - recon
    diff = np.clip(diff, 0.0, None) if scoring.residual == "positive" else np.abs(diff)
    if scoring.edge > 0:
        gy, gx = np.gradient(recon, axis=(-2, -1))
        diff = diff / (1.0 + np.hypot(gy, gx) / scoring.edge)
    diff = diff.max(axis=1) if scoring.channels == "max" else diff.mean(axis=1)
    return mirror_residual(diff, scoring.mirror, line, scoring.mirror_px)


def mirror_residual(
    diff: np.ndarray, share: float, line: Midline | None = None, spread: int = 0
) -> np.ndarray:
    """The residual (n, s, s) minus `share` of its left-right mirror, clipped at 0: what one
    side shows and the other does not. The mirror is about `line` (the head's midline), else
    about the crop's centre line (the model crop is centred on the head); with `spread`, its
    maximum over (2 spread + 1)² pixels."""
    if share <= 0:
        return diff
    mirrored = diff[..., ::-1] if line is None else reflect(diff, line)
    if spread > 0:
        mirrored = ndimage.maximum_filter(mirrored, size=(1, 2 * spread + 1, 2 * spread + 1))
    return np.clip(diff - share * mirrored, 0.0, None)


def score_mask(body: np.ndarray, scoring: Scoring, from_hu: bool = False) -> np.ndarray:
    """The eroded body mask (n, s, s) where the map may be non-zero; `from_hu`: the mask was
    found by HU thresholds (`erode_hu_px` applies)."""
    erode = scoring.erode_hu_px if from_hu and scoring.erode_hu_px >= 0 else scoring.erode_px
    if erode <= 0:
        return body.copy()
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)  # erode within each slice only
    return ndimage.binary_erosion(body, structure, iterations=erode)


def anomaly_map(
    residual: np.ndarray,
    mask: np.ndarray,
    scoring: Scoring,
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
    images: np.ndarray | None = None,
) -> np.ndarray:
    """Filtered map (n, s, s) from a residual (n, s, s) and the eroded mask; `spacing_mm` is the
    (z, y, x) voxel size the blob filter (`Scoring.blob_mm`) measures its scales in, `images`
    (n, c, s, s) the input it reads with `blob_on="image"`."""
    planar = planar_map(residual, mask, scoring)
    return shape_map(planar, mask, scoring, spacing_mm, images)


def planar_map(residual: np.ndarray, mask: np.ndarray, scoring: Scoring) -> np.ndarray:
    """The slice-by-slice part of `anomaly_map`: the residual inside the mask, median-filtered
    and smoothed within each slice (float32)."""
    out = np.where(mask, residual, 0.0).astype(np.float32)
    if scoring.median > 1:
        out = ndimage.median_filter(out, size=(1, scoring.median, scoring.median))
    if scoring.sigma > 0:
        out = ndimage.gaussian_filter(out, sigma=(0, scoring.sigma, scoring.sigma))
    return np.where(mask, out, 0.0).astype(np.float32)


def shape_map(
    planar: np.ndarray,
    mask: np.ndarray,
    scoring: Scoring,
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
    images: np.ndarray | None = None,
    threads: int = 1,
    solid: np.ndarray | None = None,
) -> np.ndarray:
    """The volumetric part of `anomaly_map`: a `planar_map` weighed by the blob measure of the
    image or replaced by its own (`Scoring.blob_mm`); unchanged without blob scales. It reads
    across slices, so it needs every slice of the volume at once; the blob measure runs on up
    to `threads` threads (the same numbers on any number). `solid`: the solid-organ region
    (`anomaly.solid.solid_masks`), where the map is `Scoring.solid_gain` times its own term."""
    out = _lung_shape_map(planar, mask, scoring, spacing_mm, images, threads)
    if solid is not None and images is not None and scoring.scores_solid:
        term = solid_map(images[:, 0], solid & ~mask, spacing_mm, scoring.solid_mm, threads)
        out = np.maximum(out, np.float32(scoring.solid_gain) * term)
    return out


def _lung_shape_map(
    planar: np.ndarray,
    mask: np.ndarray,
    scoring: Scoring,
    spacing_mm: tuple[float, float, float],
    images: np.ndarray | None,
    threads: int,
) -> np.ndarray:
    """`shape_map` in the model's own scoring region."""
    if scoring.blob_mm and scoring.blob_on == "image" and images is not None:
        channels = list(images.swapaxes(0, 1))  # the largest measure over the channels
        blobs = largest_blob_filter(channels, spacing_mm, scoring.blob_mm, mask, threads)
        out = np.sqrt(planar * blobs).astype(np.float32)
        if broad_applies(scoring, planar.shape[0], spacing_mm[0]):
            np.maximum(out, broad_term(channels, mask, scoring, spacing_mm, threads), out=out)
        return out
    if scoring.blob_mm:
        blobs = blob_filter(planar, spacing_mm, scoring.blob_mm, threads=threads)
        return np.where(mask, blobs, 0.0).astype(np.float32)
    return planar


def broad_applies(scoring: Scoring, n_slices: int, slice_mm: float) -> bool:
    """Whether the broad term (`Scoring.broad_mm`) is part of the map of a stack of `n_slices`
    slices `slice_mm` apart."""
    if not (scoring.broad_mm and scoring.broad_gain > 0):
        return False
    limit = scoring.broad_max_slice_mm
    return limit <= 0 or (n_slices > 1 and slice_mm <= limit)


def broad_term(
    channels: list[np.ndarray],
    mask: np.ndarray,
    scoring: Scoring,
    spacing_mm: tuple[float, float, float],
    threads: int = 1,
) -> np.ndarray:
    """`broad_gain` times the blob measure at `broad_mm` of the image channels (each (n, s, s))
    grey-opened by 3x3x3, largest over the channels (or `broad_channel` alone), in `mask`; with
    `broad_max_value`, each channel's measure only where its opened value is at most that."""
    if scoring.broad_channel >= 0:
        channels = [channels[scoring.broad_channel]]
    depth = open_slices(scoring.broad_open_mm, spacing_mm[0])
    opened = [ndimage.grey_opening(c, size=(depth, 3, 3)) for c in channels]
    limit = scoring.broad_max_value
    if limit <= 0:  # one measure over every channel, else each where it is hazy enough
        groups = [(opened, mask)]
    else:
        groups = [([image], mask & (image <= limit)) for image in opened]
    broad = np.zeros(mask.shape, np.float32)
    for images, where in groups:
        found = largest_blob_filter(images, spacing_mm, scoring.broad_mm, where, threads)
        np.maximum(broad, found, out=broad)
    return np.float32(scoring.broad_gain) * broad


def open_slices(open_mm: float, slice_mm: float) -> int:
    """Slices of the broad term's opening in z: 3, or with `open_mm` > 0 the odd number nearest
    to `open_mm` / `slice_mm` (at least 3)."""
    if open_mm <= 0 or slice_mm <= 0:
        return 3
    return max(3, 2 * int(round((open_mm / slice_mm - 1) / 2)) + 1)


def slice_scores(maps: np.ndarray, mask: np.ndarray, scoring: Scoring) -> np.ndarray:
    """One score per slice from its filtered map inside the mask (0 for an empty mask)."""
    scores = np.zeros(maps.shape[0], dtype=np.float32)
    for i, (m, inside) in enumerate(zip(maps, mask, strict=True)):
        values = m[inside]
        if values.size == 0:
            continue
        if scoring.slice_score == "mae":
            scores[i] = float(values.mean())
        elif scoring.slice_score == "blob":
            scores[i] = blob_score(m, inside, scoring.percent)
        else:
            scores[i] = top_percent_mean(values, scoring.percent)
    return scores


def blob_score(image_map: np.ndarray, inside: np.ndarray, percent: float) -> float:
    """The largest connected blob among the top `percent` % pixels of a map inside its mask:
    its summed value over the top-pixel count (= the top-percent mean when they form one blob,
    less when they are scattered)."""
    values = image_map[inside]
    k = max(1, int(round(values.size * percent / 100.0)))
    cutoff = np.partition(values, values.size - k)[values.size - k]
    top = inside & (image_map >= cutoff) & (image_map > 0)
    labels, count = ndimage.label(top)
    if count == 0:
        return 0.0
    sums = ndimage.sum_labels(image_map, labels, index=np.arange(1, count + 1))
    return float(np.max(sums) / k)


def series_score(scores: np.ndarray) -> float:
    """A series is as unusual as its most unusual slice."""
    return float(np.max(scores)) if scores.size else 0.0
