"""Anomaly map → findings: 3D connected regions above a seed level, kept when their peak or their
mass is high enough, small ones dropped, the rest measured.

A region is where the map exceeds `seed` (the peak threshold itself when not given), so that a
finding covers the whole lesion rather than only its brightest voxels. It is a finding when its
peak exceeds the peak threshold (a small, sharp lesion) or its mass, the integral of the map above
the seed level in mm³ (mm² for a single image), exceeds `mass` (a larger lesion the map lights up
less sharply, such as a nodule on real CT read by a model trained on phantoms). Both thresholds
are calibrated on normals (`region_stats`). Findings are numbered by peak, strongest first;
`Finding.id` is the component's value in the returned label volume.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ctviewer.volume import Finding, Volume


def segment(
    anomaly_map: np.ndarray,
    volume: Volume,
    threshold: float,
    min_size_mm3: float = 30.0,
    min_area_mm2: float = 10.0,
    seed: float | None = None,
    mass: float | None = None,
) -> tuple[np.ndarray, list[Finding]]:
    """Label volume (int32, 0 = background) and its findings (see the module docstring). A
    single image is measured in mm² (`min_area_mm2` applies), a volume in mm³ (`min_size_mm3`).
    An image whose pixel size is unknown (`Volume.spacing_known` False: PNG/JPG) is measured in
    px², `min_area_mm2` then counting pixels."""
    single = volume.n_slices == 1
    in_px = single and not volume.spacing_known
    voxel = voxel_size(volume)
    min_voxels = max(1, int(np.ceil((min_area_mm2 if single else min_size_mm3) / voxel)))
    seed = threshold if seed is None else min(seed, threshold)
    raw, n, flat, component, values = _regions(anomaly_map, seed)  # int32, relabelled in
    if n == 0:  # place below: one label volume in memory, not two
        return raw, []
    sizes, peaks, masses = _region_measures(n, component, values, seed, voxel)
    strong = peaks > threshold
    if mass is not None:
        strong |= masses > mass
    keep = np.flatnonzero((sizes >= min_voxels) & strong)
    keep = keep[keep > 0]
    if keep.size == 0:
        raw.fill(0)
        return raw, []
    order = keep[np.argsort(-peaks[keep], kind="stable")]
    lookup = np.zeros(n + 1, dtype=np.int32)
    lookup[order] = np.arange(1, order.size + 1)
    labels = np.take(lookup, raw, out=raw, mode="clip")  # each voxel reads only itself: safe
    sums = np.bincount(component, weights=values, minlength=n + 1)
    coords = np.unravel_index(flat, anomaly_map.shape)
    centres = [
        np.bincount(component, weights=c, minlength=n + 1) / np.maximum(sizes, 1) for c in coords
    ]
    findings = []
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        c = order[k - 1]
        count = int(sizes[c])
        findings.append(
            Finding(
                id=k,
                slice_start=box[0].start,
                slice_end=box[0].stop - 1,
                bbox=(
                    box[0].start,
                    box[1].start,
                    box[2].start,
                    box[0].stop,
                    box[1].stop,
                    box[2].stop,
                ),
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


def _regions(anomaly_map: np.ndarray, seed: float):
    """Connected regions above `seed`: labels, count, and the labelled voxels' flat indices,
    labels and values (measuring on these only: scipy's per-label reductions sort the whole
    volume, which takes minutes for a 300-slice series)."""
    raw, n = ndimage.label(anomaly_map > seed)
    flat = np.flatnonzero(raw)
    return raw, n, flat, raw.ravel()[flat], anomaly_map.ravel()[flat]


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
    _, n, _, component, values = _regions(anomaly_map, seed)
    if n == 0:
        return seed, 0.0
    sizes, peaks, masses = _region_measures(n, component, values, seed, voxel)
    big = sizes * voxel >= min_size
    big[0] = False
    if not big.any():
        return seed, 0.0
    return float(peaks[big].max()), float(masses[big].max())
