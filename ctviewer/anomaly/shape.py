"""Shape filtering of an anomaly map: keep compact bright blobs, suppress tubes and plates.

A nodule's residual is a compact blob; a vessel's is a tube, a fissure's or the pleura's a plate.
The multiscale Hessian blob measure used here (in the spirit of Li et al. 2003's dot filter) is,
per voxel and scale, the scale-normalised minus the largest Hessian eigenvalue, clipped at 0:
inside a bright blob every eigenvalue is strongly negative, along a tube one is about zero, on a
plate two are. The map is its maximum over scales. It works in 3D when the map has several
slices (the z spacing from the volume) and in 2D on a single image. Scales are ball radii in mm
(σ = r / √d, where a ball of radius r responds most), converted to pixels per axis.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

TRUNCATE = 3.0  # Gaussian kernels reach this many σ
MIN_SIGMA_PX = 0.5  # finer than this a pixel grid cannot take a second derivative


def blob_sigmas(
    radius_mm: float, spacing_mm: tuple[float, float, float], three_d: bool
) -> tuple[float, ...]:
    """Per-axis Gaussian σ (pixels; z, y, x, or y, x in 2D) for a ball of `radius_mm`."""
    dims = 3 if three_d else 2
    sigma = radius_mm / math.sqrt(dims)
    axes = spacing_mm if three_d else spacing_mm[1:]
    return tuple(max(MIN_SIGMA_PX, sigma / s) for s in axes)


def halo_slices(scales_mm: tuple[float, ...], spacing_mm: tuple[float, float, float]) -> int:
    """Slices on each side a 3D filter of these scales reads beyond a run of slices."""
    if not scales_mm:
        return 0
    sigma_z = blob_sigmas(max(scales_mm), spacing_mm, True)[0]
    return int(math.ceil(TRUNCATE * sigma_z)) + 1


def blob_filter(
    maps: np.ndarray,
    spacing_mm: tuple[float, float, float],
    scales_mm: tuple[float, ...],
    where: np.ndarray | None = None,
) -> np.ndarray:
    """Multiscale blob measure (n, s, s) of a bright map or image (n, s, s), measured where
    `where` is True (default: where the map is above 0) and 0 elsewhere; `spacing_mm` is its
    (z, y, x) voxel size. 3D when n > 1, else each slice in 2D."""
    maps = np.asarray(maps, dtype=np.float32)
    out = np.zeros_like(maps)
    where = maps > 0 if where is None else where
    if not scales_mm or not where.any():
        return out
    three_d = maps.shape[0] > 1
    for radius in scales_mm:
        sigmas = blob_sigmas(radius, spacing_mm, three_d)
        if three_d:
            response = _blob_3d(maps, sigmas, spacing_mm, radius / math.sqrt(3), where)
        else:
            response = np.stack(
                [_blob_2d(m, sigmas, spacing_mm[1:], radius / math.sqrt(2)) for m in maps]
            )
        np.maximum(out, response, out=out)
    return np.where(where, out, 0.0).astype(np.float32)


def _derivative(image, sigmas, order, spacing) -> np.ndarray:
    """Gaussian derivative of `image` in units of value per mm^|order|."""
    d = ndimage.gaussian_filter(image, sigmas, order=order, truncate=TRUNCATE, mode="nearest")
    return d / np.prod([s**k for s, k in zip(spacing, order, strict=True)])


def _blob_2d(image, sigmas, spacing, sigma_mm) -> np.ndarray:
    hyy = _derivative(image, sigmas, (2, 0), spacing)
    hxx = _derivative(image, sigmas, (0, 2), spacing)
    hxy = _derivative(image, sigmas, (1, 1), spacing)
    largest = 0.5 * (hyy + hxx) + np.sqrt(0.25 * (hyy - hxx) ** 2 + hxy**2)
    return np.clip(-largest * sigma_mm**2, 0.0, None).astype(np.float32)


def _blob_3d(volume, sigmas, spacing, sigma_mm, where) -> np.ndarray:
    orders = [(2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
    h = [_derivative(volume, sigmas, o, spacing)[where] for o in orders]
    hessian = np.empty((h[0].size, 3, 3), dtype=np.float32)
    for (i, j), values in zip(((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)), h, strict=True):
        hessian[:, i, j] = values
        hessian[:, j, i] = values
    largest = np.linalg.eigvalsh(hessian)[:, -1] if hessian.size else np.zeros(0, np.float32)
    out = np.zeros(volume.shape, np.float32)
    out[where] = np.clip(-largest * sigma_mm**2, 0.0, None)
    return out
