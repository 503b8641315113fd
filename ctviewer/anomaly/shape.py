"""Shape filtering of an anomaly map: keep compact bright blobs, suppress tubes and plates.

A nodule's residual is a compact blob; a vessel's is a tube, a fissure's or the pleura's a plate.
The multiscale Hessian blob measure used here (in the spirit of Li et al. 2003's dot filter) is,
per voxel and scale, the scale-normalised minus the largest Hessian eigenvalue, clipped at 0:
inside a bright blob every eigenvalue is strongly negative, along a tube one is about zero, on a
plate two are. The map is its maximum over scales. It works in 3D when the map has several
slices (the z spacing from the volume) and in 2D on a single image. Scales are ball radii in mm
(σ = r / √d, where a ball of radius r responds most), converted to pixels per axis.

Thin slices are merged first (`merged_slices`, `MERGE_THIN`): where the slices are at most half
the finest in-plane pixel, a scale whose z kernel stays wide enough on merged slices is measured
on every k-th slice of the stack smoothed in z, so that z is no finer than in-plane. The rest of
each scale's z kernel runs on the merged slices (Gaussians compose), and each scale's measure is
interpolated back onto every slice before its clipping and the maximum over scales. This is an
approximation (on the 300-slice bench about half the blob stage's time); thicker slices are
measured exactly as they are.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage

TRUNCATE = 3.0  # Gaussian kernels reach this many σ
MIN_SIGMA_PX = 0.5  # finer than this a pixel grid cannot take a second derivative
CHUNK_VOXELS = 6_000_000  # a 3D run of slices holds about this many voxels of its box
EIGEN_RUN = 1 << 20  # eigenvalues are found this many at a time
MERGE_THIN = True  # merge thin slices before the 3D measure (`merged_slices`)
MERGE_SMOOTH = 0.6  # z smoothing before merging k slices: σ = this × k slices (anti-aliasing)
MERGE_MIN_SIGMA_PX = 2.5  # a scale's z kernel on merged slices is at least this wide


def blob_sigmas(
    radius_mm: float,
    spacing_mm: tuple[float, float, float],
    three_d: bool,
    z_done_mm: float = 0.0,
) -> tuple[float, ...]:
    """Per-axis Gaussian σ (pixels; z, y, x, or y, x in 2D) for a ball of `radius_mm`; in z,
    less the smoothing (σ in mm) the stack already had, `z_done_mm`."""
    dims = 3 if three_d else 2
    sigma = radius_mm / math.sqrt(dims)
    axes = spacing_mm if three_d else spacing_mm[1:]
    sigmas = [max(MIN_SIGMA_PX, sigma / s) for s in axes]
    if three_d and z_done_mm > 0:
        rest = math.sqrt(max(sigma**2 - z_done_mm**2, 0.0))
        sigmas[0] = max(MIN_SIGMA_PX, rest / axes[0])
    return tuple(sigmas)


def halo_slices(
    scales_mm: tuple[float, ...], spacing_mm: tuple[float, float, float], z_done_mm: float = 0.0
) -> int:
    """Slices on each side a 3D filter of these scales reads beyond a run of slices."""
    if not scales_mm:
        return 0
    sigma_z = blob_sigmas(max(scales_mm), spacing_mm, True, z_done_mm)[0]
    return int(math.ceil(TRUNCATE * sigma_z)) + 1


def merged_slices(radius_mm: float, spacing_mm: tuple[float, float, float]) -> int:
    """How many thin slices the 3D measure at this scale merges into one (1: none): z no finer
    than the finest in-plane pixel allows, and the rest of the scale's z kernel on the merged
    slices still at least MERGE_MIN_SIGMA_PX wide."""
    if not MERGE_THIN or spacing_mm[0] <= 0:
        return 1
    sigma = radius_mm / math.sqrt(3)
    k = int(min(spacing_mm[1:]) / spacing_mm[0] + 1e-6)
    while k > 1:
        rest = math.sqrt(max(sigma**2 - (MERGE_SMOOTH * k * spacing_mm[0]) ** 2, 0.0))
        if rest / (k * spacing_mm[0]) >= MERGE_MIN_SIGMA_PX:
            break
        k -= 1
    return max(1, k)


def blob_filter(
    maps: np.ndarray,
    spacing_mm: tuple[float, float, float],
    scales_mm: tuple[float, ...],
    where: np.ndarray | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Multiscale blob measure (n, s, s) of a bright map or image (n, s, s), measured where
    `where` is True (default: where the map is above 0) and 0 elsewhere; `spacing_mm` is its
    (z, y, x) voxel size. 3D when n > 1 (in runs of slices, each read with its halo, so the
    result is that of the whole stack at once), else each slice in 2D; `threads` as in
    `largest_blob_filter`."""
    maps = np.asarray(maps, dtype=np.float32)
    return largest_blob_filter(
        [maps], spacing_mm, scales_mm, maps > 0 if where is None else where, threads
    )


def largest_blob_filter(
    images: list[np.ndarray],
    spacing_mm: tuple[float, float, float],
    scales_mm: tuple[float, ...],
    where: np.ndarray,
    threads: int = 1,
) -> np.ndarray:
    """The largest `blob_filter` over `images` (each (n, s, s), measured where `where` is
    True). The 3D measure of each run of slices, image and scale is one job, run on up to
    `threads` threads at once (scipy's filters leave the GIL): each job's numbers are those it
    gives alone and the maximum is exact, so the result does not depend on `threads`."""
    images = [np.asarray(m, dtype=np.float32) for m in images]
    out = np.zeros_like(images[0])
    if not scales_mm or not where.any():
        return out
    n = out.shape[0]
    if n == 1:
        for image in images:
            for radius in scales_mm:
                sigmas = blob_sigmas(radius, spacing_mm, False)
                response = _blob_2d(image[0], sigmas, spacing_mm[1:], radius / math.sqrt(2))
                np.maximum(out[0], response, out=out[0])
        return np.where(where, out, 0.0).astype(np.float32)
    merges = {radius: merged_slices(radius, spacing_mm) for radius in scales_mm}
    exact = tuple(r for r in scales_mm if merges[r] == 1)
    if exact:
        for (start, stop, *_), part in _measures_3d(images, spacing_mm, exact, where, threads):
            np.maximum(out[start:stop], part, out=out[start:stop])
    for k in sorted({m for m in merges.values() if m > 1}):
        scales = tuple(r for r in scales_mm if merges[r] == k)
        box = _reach_box(where, blob_sigmas(max(scales), spacing_mm, True)[1:])
        part = [image[box] for image in images]  # all that the kernels read from
        merged = _merged_3d(part, spacing_mm, scales, where[box], threads, k)
        np.maximum(out[box], merged, out=out[box])
    return np.where(where, out, 0.0).astype(np.float32)


def _measures_3d(images, spacing_mm, scales_mm, where, threads, z_done_mm=0.0, signed=False):
    """(job, measure) for each run of slices, image and scale, in the order of the jobs
    (start, stop, low, high, image index, radius): the 3D measure of the run, read with its
    halo, on up to `threads` threads; `signed`: before its clipping at 0."""
    n = where.shape[0]
    halo = halo_slices(scales_mm, spacing_mm, z_done_mm)
    jobs = []
    for start, stop in _runs(n, where, halo):
        low, high = max(0, start - halo), min(n, stop + halo)
        if where[start:stop].any():
            jobs += [(start, stop, low, high, i, r) for r in scales_mm for i in range(len(images))]
    jobs.sort(key=lambda job: -job[-1])  # the largest scales (longest kernels) first

    def one(job) -> np.ndarray:
        start, stop, low, high, i, radius = job
        sigmas = blob_sigmas(radius, spacing_mm, True, z_done_mm)
        part = _blob_3d(
            images[i][low:high], sigmas, spacing_mm, radius / math.sqrt(3), where[low:high], signed
        )
        return part[start - low : stop - low]

    with ThreadPoolExecutor(max(1, min(threads, len(jobs)))) as pool:
        yield from zip(jobs, pool.map(one, jobs), strict=True)


def _reach_box(where: np.ndarray, sigmas_yx: tuple[float, ...]) -> tuple[slice, slice, slice]:
    """The (z, y, x) box around `where` plus the reach of kernels of these σ in y and x."""
    ys, xs = np.nonzero(where.any(axis=0))
    reach = [int(TRUNCATE * s + 0.5) + 1 for s in sigmas_yx]
    return np.s_[
        :,
        max(0, ys.min() - reach[0]) : ys.max() + 1 + reach[0],
        max(0, xs.min() - reach[1]) : xs.max() + 1 + reach[1],
    ]


def _merged_3d(images, spacing_mm, scales_mm, where, threads, k: int) -> np.ndarray:
    """The largest 3D measure over images and scales, measured on every k-th slice of the
    stacks smoothed in z, each (image, scale) measure interpolated back onto every slice before
    the clipping and the maximum (whose kinks an interpolation would blunt)."""
    n = where.shape[0]
    smooth_px = MERGE_SMOOTH * k
    picks = np.arange(((n - 1) % k) // 2, n, k)
    reach = int(TRUNCATE * smooth_px + 0.5)  # gaussian_filter1d's kernel, at the picks only
    weights = np.exp(-0.5 * (np.arange(-reach, reach + 1) / smooth_px) ** 2)
    weights /= weights.sum()
    coarse = []
    for image in images:
        smooth = np.zeros((len(picks), *image.shape[1:]), np.float64)
        for offset, w in zip(range(-reach, reach + 1), weights, strict=True):
            smooth += w * image[np.clip(picks + offset, 0, n - 1)]  # "nearest" at the ends
        coarse.append(smooth.astype(np.float32))
    # a merged slice is measured wherever a thin slice interpolated from it needs a value
    coarse_where = np.zeros((len(picks), *where.shape[1:]), bool)
    for offset in range(-(k - 1), k):
        coarse_where |= where[np.clip(picks + offset, 0, n - 1)]
    spacing = (spacing_mm[0] * k, spacing_mm[1], spacing_mm[2])
    measures: dict[tuple[int, float], np.ndarray] = {}
    for (start, stop, _, _, i, radius), part in _measures_3d(
        coarse, spacing, scales_mm, coarse_where, threads, smooth_px * spacing_mm[0], True
    ):
        measures.setdefault((i, radius), np.zeros(coarse[0].shape, np.float32))[start:stop] = part
    at = np.clip((np.arange(n) - picks[0]) / k, 0, len(picks) - 1)
    low = at.astype(int)
    high = np.minimum(low + 1, len(picks) - 1)
    weight = (at - low).astype(np.float32)[:, None, None]
    out = np.zeros(where.shape, np.float32)  # starting at 0: every measure clipped at 0
    for measure in measures.values():
        np.maximum(out, measure[low] * (1 - weight) + measure[high] * weight, out=out)
    return out


def _runs(n: int, where: np.ndarray, halo: int) -> list[tuple[int, int]]:
    """Runs of slices (start, stop) whose box, with its halo, holds about CHUNK_VOXELS voxels
    at most (at least 4 halos of slices each, so the halo stays a small share)."""
    ys, xs = np.nonzero(where.any(axis=0))
    area = max(1, (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
    step = max(4 * halo, CHUNK_VOXELS // area - 2 * halo, 1)
    return [(start, min(n, start + step)) for start in range(0, n, step)]


def _scale(d: np.ndarray, order: tuple[int, ...], spacing) -> np.ndarray:
    """A Gaussian derivative in pixels → value per mm^|order|."""
    return d / np.prod([s**k for s, k in zip(spacing, order, strict=True)])


def _derivative(image, sigmas, order, spacing) -> np.ndarray:
    """Gaussian derivative of `image` in units of value per mm^|order|."""
    d = ndimage.gaussian_filter(image, sigmas, order=order, truncate=TRUNCATE, mode="nearest")
    return _scale(d, order, spacing)


def _blob_2d(image, sigmas, spacing, sigma_mm) -> np.ndarray:
    hyy = _derivative(image, sigmas, (2, 0), spacing)
    hxx = _derivative(image, sigmas, (0, 2), spacing)
    hxy = _derivative(image, sigmas, (1, 1), spacing)
    largest = 0.5 * (hyy + hxx) + np.sqrt(0.25 * (hyy - hxx) ** 2 + hxy**2)
    return np.clip(-largest * sigma_mm**2, 0.0, None).astype(np.float32)


HESSIAN = ((2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1))


def _hessian(part: np.ndarray, sigmas, spacing, inside: np.ndarray) -> list[np.ndarray]:
    """The six Gaussian second derivatives of `part` (in `HESSIAN` order) at the voxels
    `inside`. Each is `ndimage.gaussian_filter`'s z, then y, then x pass, and passes that
    derivatives share are computed once (15 one-axis passes instead of 18, the long z kernel
    3 times instead of 6), and the x passes run only on the rows (z, y) that hold a voxel
    inside (each row is filtered on its own): the numbers are those of six separate calls."""

    def one(image, sigma, axis, order):
        return ndimage.gaussian_filter1d(
            image, sigma, axis, order, truncate=TRUNCATE, mode="nearest"
        )

    rows = inside.any(axis=2)  # (z, y)
    within = inside[rows]  # (rows, x): the voxels inside, in the order of `part[inside]`
    found: dict[tuple[int, int, int], np.ndarray] = {}
    for oz in (0, 1, 2):  # one z pass, then its y passes, then their x passes: 3 boxes at most
        along_z = one(part, sigmas[0], 0, oz)
        for oy in sorted({o[1] for o in HESSIAN if o[0] == oz}):
            lines = one(along_z, sigmas[1], 1, oy)[rows]
            for order in (o for o in HESSIAN if o[:2] == (oz, oy)):
                found[order] = _scale(one(lines, sigmas[2], 1, order[2])[within], order, spacing)
    return [found[o] for o in HESSIAN]


def _blob_3d(volume, sigmas, spacing, sigma_mm, where, signed: bool = False) -> np.ndarray:
    """The 3D measure at one scale, computed in the box around `where` (plus the kernels'
    reach in y and x, so the values inside `where` are those of the whole slab); `signed`:
    before its clipping at 0."""
    out = np.zeros(volume.shape, np.float32)
    ys, xs = np.nonzero(where.any(axis=0))
    reach = [int(TRUNCATE * s + 0.5) + 1 for s in sigmas[1:]]
    y0, y1 = max(0, ys.min() - reach[0]), ys.max() + 1 + reach[0]
    x0, x1 = max(0, xs.min() - reach[1]), xs.max() + 1 + reach[1]
    box = np.s_[:, y0:y1, x0:x1]
    part, inside = volume[box], where[box]
    largest = _largest_eigenvalue(*_hessian(part, sigmas, spacing, inside))
    measure = -largest * sigma_mm**2
    out[box][inside] = measure if signed else np.clip(measure, 0.0, None)
    return out


def _largest_eigenvalue(*entries: np.ndarray) -> np.ndarray:
    """Largest eigenvalue of symmetric 3×3 matrices given by their six entries (arrays, in
    `HESSIAN` order: a00, a11, a22, a01, a02, a12), in closed form (Smith 1961), in float64
    runs of EIGEN_RUN values so that its temporaries stay small."""
    out = np.empty(entries[0].shape, np.float32)
    for i in range(0, out.size, EIGEN_RUN):
        out[i : i + EIGEN_RUN] = _largest_run(*(e[i : i + EIGEN_RUN] for e in entries))
    return out


def _largest_run(a00, a11, a22, a01, a02, a12) -> np.ndarray:
    a00, a11, a22, a01, a02, a12 = (
        np.asarray(v, np.float64) for v in (a00, a11, a22, a01, a02, a12)
    )
    q = (a00 + a11 + a22) / 3.0
    off = a01**2 + a02**2 + a12**2
    p = np.sqrt(((a00 - q) ** 2 + (a11 - q) ** 2 + (a22 - q) ** 2 + 2.0 * off) / 6.0)
    safe = np.where(p > 0, p, 1.0)
    b00, b11, b22 = (a00 - q) / safe, (a11 - q) / safe, (a22 - q) / safe
    b01, b02, b12 = a01 / safe, a02 / safe, a12 / safe
    det = b00 * (b11 * b22 - b12**2) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
    phi = np.arccos(np.clip(det / 2.0, -1.0, 1.0)) / 3.0
    return np.where(p > 0, q + 2.0 * p * np.cos(phi), q).astype(np.float32)
