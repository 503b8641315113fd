"""Anomaly map → findings: threshold, 3D connected components, drop small ones, measure the rest.

Findings are numbered by peak, strongest first; `Finding.id` is the component's value in the
returned label volume.
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
) -> tuple[np.ndarray, list[Finding]]:
    """Label volume (int32, 0 = background) and its findings. A single image is measured in mm²
    (`min_area_mm2` applies), a volume in mm³ (`min_size_mm3`). An image whose pixel size is
    unknown (`Volume.spacing_known` False: PNG/JPG) is measured in px², `min_area_mm2` then
    counting pixels."""
    single = volume.n_slices == 1
    in_px = single and not volume.spacing_known
    sz, sy, sx = (float(v) for v in volume.spacing)
    voxel = 1.0 if in_px else sy * sx if single else sz * sy * sx
    min_voxels = max(1, int(np.ceil((min_area_mm2 if single else min_size_mm3) / voxel)))
    raw, n = ndimage.label(anomaly_map > threshold)  # int32, relabelled in place below:
    if n == 0:  # one label volume in memory, not two
        return raw, []
    # measure on the above-threshold voxels only: scipy's per-label reductions sort the whole
    # volume, which takes minutes for a 300-slice series
    flat = np.flatnonzero(raw)
    component = raw.ravel()[flat]
    values = anomaly_map.ravel()[flat]
    sizes = np.bincount(component, minlength=n + 1)
    peaks = np.full(n + 1, -np.inf)
    np.maximum.at(peaks, component, values)
    keep = np.flatnonzero(sizes >= min_voxels)
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
