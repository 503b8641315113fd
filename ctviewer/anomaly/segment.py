"""Anomaly map → findings: 3D connected regions above a seed level, kept when their peak or their
mass is high enough, small ones dropped, the rest measured.

A region is where the map exceeds `seed` (the peak threshold itself when not given), so that a
finding covers the whole lesion rather than only its brightest voxels. It is a finding when its
peak exceeds the peak threshold (a small, sharp lesion) or its mass, the integral of the map above
the seed level in mm³ (mm² for a single image), exceeds `mass` (a larger lesion the map lights up
less sharply, such as a nodule on real CT read by a model trained on phantoms). Both thresholds
are calibrated on normals (`region_stats`). Findings are numbered by peak, strongest first;
`Finding.id` is the component's value in the returned label volume, whose type is the smallest
unsigned integer that holds the finding count.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ctviewer.memory import lazy_zeros
from ctviewer.volume import Finding, Volume


def label_dtype(count: int) -> np.dtype:
    """The smallest unsigned integer type that holds labels 0..count."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if count <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def segment(
    anomaly_map: np.ndarray,
    volume: Volume,
    threshold: float,
    min_size_mm3: float = 30.0,
    min_area_mm2: float = 10.0,
    seed: float | None = None,
    mass: float | None = None,
) -> tuple[np.ndarray, list[Finding]]:
    """Label volume (0 = background) and its findings (see the module docstring). A single image
    is measured in mm² (`min_area_mm2` applies), a volume in mm³ (`min_size_mm3`). An image whose
    pixel size is unknown (`Volume.spacing_known` False: PNG/JPG) is measured in px²,
    `min_area_mm2` then counting pixels."""
    level = seed_level(threshold, seed)
    flat = np.flatnonzero(anomaly_map > level)
    values = anomaly_map.ravel()[flat]
    return segment_voxels(flat, values, volume, threshold, min_size_mm3, min_area_mm2, seed, mass)


def seed_level(threshold: float, seed: float | None) -> float:
    """The level regions grow down to: `seed`, never above the peak threshold."""
    return threshold if seed is None else min(seed, threshold)


def segment_voxels(
    flat: np.ndarray,
    values: np.ndarray,
    volume: Volume,
    threshold: float,
    min_size_mm3: float = 30.0,
    min_area_mm2: float = 10.0,
    seed: float | None = None,
    mass: float | None = None,
) -> tuple[np.ndarray, list[Finding]]:
    """`segment` from the voxels above the seed level alone: their flat indices into the volume
    (in ascending order) and their map values, so that a caller streaming the map slab by slab
    never holds it whole in float32. Components are labelled in the voxels' bounding box only;
    the label volume is zero (and not paged in) elsewhere."""
    level = seed_level(threshold, seed)
    single = volume.n_slices == 1
    in_px = single and not volume.spacing_known
    voxel = voxel_size(volume)
    min_voxels = max(1, int(np.ceil((min_area_mm2 if single else min_size_mm3) / voxel)))
    if flat.size == 0:
        return np.zeros(volume.shape, np.uint8), []
    local = np.unravel_index(flat, volume.shape)
    low = [int(c.min()) for c in local]
    crop = tuple(slice(lo, int(c.max()) + 1) for lo, c in zip(low, local, strict=True))
    shape = tuple(s.stop - s.start for s in crop)
    for axis, lo in zip(local, low, strict=True):
        axis -= lo  # coordinates in the bounding box
    above = np.zeros(shape, bool)
    above[tuple(local)] = True
    # the bounding box holds every voxel above the seed level: its components are the volume's
    raw, n = ndimage.label(above)
    del above
    component = raw[tuple(local)]  # in the order of `flat`
    sizes, peaks, masses = _region_measures(n, component, values, level, voxel)
    strong = peaks > threshold
    if mass is not None:
        strong |= masses > mass
    keep = np.flatnonzero((sizes >= min_voxels) & strong)
    keep = keep[keep > 0]
    labels = lazy_zeros(volume.shape, label_dtype(keep.size))
    if keep.size == 0:
        return labels, []
    order = keep[np.argsort(-peaks[keep], kind="stable")]
    boxes = ndimage.find_objects(raw)  # per component, in the bounding box
    inside = labels[crop]
    for k, c in enumerate(order, start=1):  # each kept component in its own box: no
        box = boxes[c - 1]  # relabelled copy of the whole bounding box
        inside[box][raw[box] == c] = k
    del raw
    sums = np.bincount(component, weights=values, minlength=n + 1)
    centres = [
        np.bincount(component, weights=c, minlength=n + 1) / np.maximum(sizes, 1) + lo
        for c, lo in zip(local, low, strict=True)
    ]
    findings = []
    for k, c in enumerate(order, start=1):
        box = boxes[c - 1]
        count = int(sizes[c])
        z0, y0, x0 = (b.start + lo for b, lo in zip(box, low, strict=True))
        z1, y1, x1 = (b.stop + lo for b, lo in zip(box, low, strict=True))
        findings.append(
            Finding(
                id=k,
                slice_start=z0,
                slice_end=z1 - 1,
                bbox=(z0, y0, x0, z1, y1, x1),
                centroid_mm=volume.index_to_mm(*(float(axis[c]) for axis in centres)),
                voxels=count,
                size_mm3=None if single else count * voxel,
                area_mm2=count * voxel if single and not in_px else None,
                peak=float(peaks[c]),
                mean=float(sums[c] / count),
                area_px=count if in_px else None,
            )
        )
    return labels, findings


def voxel_size(volume: Volume) -> float:
    """mm³ per voxel of a volume, mm² per pixel of a single image, 1 when its pixel size is
    unknown."""
    sz, sy, sx = (float(v) for v in volume.spacing)
    if volume.n_slices == 1:
        return sy * sx if volume.spacing_known else 1.0
    return sz * sy * sx


def _region_measures(n: int, component, values, seed: float, voxel: float):
    """Per region (index 0 unused): voxel count, peak, and mass (map above `seed` × voxel)."""
    sizes = np.bincount(component, minlength=n + 1)
    peaks = np.full(n + 1, -np.inf)
    np.maximum.at(peaks, component, values)
    masses = np.bincount(component, weights=values - seed, minlength=n + 1) * voxel
    return sizes, peaks, masses


def region_stats(
    anomaly_map: np.ndarray, volume: Volume, seed: float, min_size: float
) -> tuple[float, float]:
    """The largest peak and the largest mass among the regions above `seed` of at least
    `min_size` (mm³, or mm² for a single image): what calibration reads off a normal."""
    voxel = voxel_size(volume)
    raw, n = ndimage.label(anomaly_map > seed)
    if n == 0:
        return seed, 0.0
    flat = np.flatnonzero(raw)
    component, values = raw.ravel()[flat], anomaly_map.ravel()[flat]
    sizes, peaks, masses = _region_measures(n, component, values, seed, voxel)
    big = sizes * voxel >= min_size
    big[0] = False
    if not big.any():
        return seed, 0.0
    return float(peaks[big].max()), float(masses[big].max())
