"""A second scoring region for a chest model: the solid soft-tissue organs (liver, spleen, the
upper abdomen below the lungs), scored without the network.

The chest network's residual does not show liver lesions (chest2: it reconstructs a 40 HU
contrast inside a uniform organ), so this region is scored by the image itself: the blob
measure (`anomaly.shape`) of its soft-tissue channel, dark blobs (hypodense lesions) and
bright ones (hyperdense) alike. Outside the region the channel is replaced by the region's own
smoothed value (a normalised convolution), so that its rim against fat, lung or bone is not a
dark or bright edge for the measure. Everything runs at model resolution.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ctviewer.anomaly.shape import largest_blob_filter
from ctviewer.model import planes

SOLID_HU = (-20.0, 200.0)  # soft tissue: above fat and water-poor tissue, below bone
OPEN_PX = 3  # opening (cross, at 128 px): thin muscle layers and organ rims fall out
BONE_PX = 2  # pixels next to bone (above SOLID_HU, at 128 px) are left out: partial volume
MIN_SHARE = 0.01  # a solid component smaller than this share of the slice is left out
ERODE_PX = 4  # in-plane erosion after the opening (partial volume at the organ's rim)
WALL_MM = 20.0  # pixels nearer than this to the body's outline (the chest wall) are left out
FILL_MM = 10.0  # Gaussian σ of the normalised convolution that fills the outside


def solid_masks(
    soft: np.ndarray, window: tuple[float, float], lungs: np.ndarray, pixel_mm: float
) -> np.ndarray:
    """The solid-organ region (n, s, s) of a stack of soft-tissue channel slices in [0, 1]
    (`window`: their HU centre and width; `pixel_mm` their in-plane pixel size), outside the
    lung mask `lungs` (dilated by one pixel), away from bone and the chest wall: soft tissue
    by HU, opened, eroded, large components only. Slice by slice, so that runs of slices give
    the same masks as the whole stack."""
    scale = soft.shape[-1] / 128
    hu = (window[0] - window[1] / 2) + soft * window[1]
    solid = (hu >= SOLID_HU[0]) & (hu <= SOLID_HU[1]) & ~planes.dilate(lungs, 1)
    solid &= ~planes.dilate(hu > SOLID_HU[1], max(1, round(BONE_PX * scale)))
    body = planes.fill_holes(soft > 0.05)  # above air (the channel clips it to 0)
    wall = max(1, round(WALL_MM / pixel_mm))
    solid &= planes.erode(body, wall)
    solid = planes.opening(solid, max(1, round(OPEN_PX * scale)))
    solid = planes.erode(solid, max(1, round(ERODE_PX * scale)))
    labels, z = planes.label(solid)  # what is left of thin muscles (the pectorals) is small
    if not z.size:
        return solid
    sizes = np.bincount(labels.ravel(), minlength=z.size + 1)
    keep = sizes >= MIN_SHARE * soft.shape[-1] * soft.shape[-2]
    keep[0] = False
    return keep[labels]


def filled(
    soft: np.ndarray, solid: np.ndarray, spacing_mm: tuple[float, float, float]
) -> np.ndarray:
    """The channel inside `solid`, outside it the region's own value nearby: a normalised
    convolution (Gaussian σ FILL_MM), the region's median where nothing of it is near."""
    soft = np.asarray(soft, np.float32)
    weight = solid.astype(np.float32)
    sigma = tuple(FILL_MM / s for s in spacing_mm)
    num = ndimage.gaussian_filter(soft * weight, sigma, truncate=3.0)
    den = ndimage.gaussian_filter(weight, sigma, truncate=3.0)
    level = np.float32(np.median(soft[solid])) if solid.any() else np.float32(0.5)
    outside = np.where(den > 1e-3, num / np.maximum(den, 1e-3), level)
    return np.where(solid, soft, outside).astype(np.float32)


def solid_map(
    soft: np.ndarray,
    solid: np.ndarray,
    spacing_mm: tuple[float, float, float],
    scales_mm: tuple[float, ...],
    threads: int = 1,
) -> np.ndarray:
    """The blob measure (n, s, s) of dark and bright blobs of the filled channel inside
    `solid` (`solid_masks`, eroded here by one slice in z: the lung base above the liver's
    dome is partial volume) at these ball radii (mm): the larger of the two, 0 elsewhere."""
    if len(solid) > 2:
        solid = solid & np.roll(solid, 1, axis=0) & np.roll(solid, -1, axis=0)
        solid[[0, -1]] = False
    if not scales_mm or not solid.any():
        return np.zeros(solid.shape, np.float32)
    image = filled(soft, solid, spacing_mm)
    return largest_blob_filter([image, 1.0 - image], spacing_mm, scales_mm, solid, threads)
