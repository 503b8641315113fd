"""Oblique MPR, Qt-free: the plane through a voxel that contains the slice axis, turned by an
angle about it (0° = coronal, 90° = sagittal), sampled with linear interpolation.

Rows run along the slice axis (head up, as `render.plane` shows coronal and sagittal), columns
along the in-plane direction at the finer of the two pixel spacings, so the image has square
in-plane steps and `spacing()` gives its (row, column) mm.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import map_coordinates

from ctviewer.volume import Volume


def _superior_first(volume: Volume) -> bool:
    return float(np.asarray(volume.direction)[2, 2]) < 0


def column_step_mm(volume: Volume) -> float:
    return float(min(volume.spacing[1], volume.spacing[2]))


def spacing(volume: Volume) -> tuple[float, float]:
    """(row, column) mm of the oblique image."""
    return (float(volume.spacing[0]), column_step_mm(volume))


def trace(volume: Volume, voxel: tuple[int, int, int], angle_deg: float) -> np.ndarray:
    """(n, 2) axial (y, x) voxel positions of the columns of the oblique image, in order."""
    _, ny, nx = volume.shape
    sy, sx = volume.spacing[1], volume.spacing[2]
    step = column_step_mm(volume)
    k = math.ceil(math.hypot(ny * sy, nx * sx) / 2 / step)  # covers the slice at any angle
    t = step * np.arange(-k, k + 1)  # the voxel itself is a column
    theta = math.radians(angle_deg)
    ys = voxel[1] + t * math.sin(theta) / sy
    xs = voxel[2] + t * math.cos(theta) / sx
    eps = 1e-6
    inside = (ys > -eps) & (ys < ny - 1 + eps) & (xs > -eps) & (xs < nx - 1 + eps)
    return np.stack([ys[inside], xs[inside]], axis=1)


def oblique_plane(
    volume: Volume,
    array: np.ndarray,
    voxel: tuple[int, int, int],
    angle_deg: float,
    order: int = 1,
) -> np.ndarray:
    """(slices, columns) image of `array` (shaped like the volume) on the plane through `voxel`
    (z, y, x) turned by `angle_deg` about the slice axis; `order` 1 interpolates linearly, 0
    takes the nearest voxel (labels). Interpolated integers (an int16 volume) come back as
    float32."""
    points = trace(volume, voxel, angle_deg)
    nz = volume.shape[0]
    zz = np.repeat(np.arange(nz, dtype=np.float64), len(points))
    yy = np.tile(points[:, 0], nz)
    xx = np.tile(points[:, 1], nz)
    values = _sample(array, [zz, yy, xx], order)
    kind = array.dtype if order == 0 or array.dtype.kind == "f" else np.dtype(np.float32)
    image = values.reshape(nz, len(points)).astype(kind, copy=False)
    return image if _superior_first(volume) else image[::-1]


def _sample(array: np.ndarray, coords: list[np.ndarray], order: int) -> np.ndarray:
    """`map_coordinates` at whole z. scipy.ndimage has no float16 (`Result.anomaly_map`), and
    interpolates integers into integers (an int16 volume): such an array is sampled through
    float32 copies of 32 slices at a time, which gives the same values as the whole volume at
    once since z is never interpolated."""
    floats = array.dtype.kind == "f" and array.dtype != np.float16
    if floats or (order == 0 and array.dtype.kind in "iub"):  # nearest: labels keep their type
        return map_coordinates(array, coords, order=order, mode="nearest")
    zz, yy, xx = coords
    parts = []
    for z in range(0, array.shape[0], 32):
        part = (zz >= z) & (zz < z + 32)
        slab = array[z : z + 32].astype(np.float32)
        parts.append(
            map_coordinates(slab, [zz[part] - z, yy[part], xx[part]], order=order, mode="nearest")
        )
    return np.concatenate(parts)
