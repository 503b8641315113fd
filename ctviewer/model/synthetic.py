"""Anatomy-aware synthetic anomalies for training (AnatPaste, Sato et al. 2023, in spirit).

Bright lesions are pasted inside the organ mask of a training slice; the network must restore the
clean slice, so it learns to remove such things instead of copying them through. Shapes: irregular
blobs, crescents along the organ's rim, and the filling of dark spaces inside the organ.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

KINDS = ("blob", "blob", "crescent", "fill")


def _shape(kind: str, image: np.ndarray, organ: np.ndarray, rng: np.random.Generator):
    h, w = organ.shape
    f = h / 128  # sizes below are pixels of a 128-pixel slice
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "crescent":
        depth = max(1, round(int(rng.integers(2, 7)) * f))
        rim = organ & ~ndimage.binary_erosion(organ, iterations=depth)
        angle = np.arctan2(yy - h / 2, xx - w / 2)
        start, span = rng.uniform(-np.pi, np.pi), rng.uniform(0.4, 1.6)
        return rim & (np.abs(np.angle(np.exp(1j * (angle - start)))) < span / 2)
    inner = np.argwhere(ndimage.binary_erosion(organ, iterations=3))
    cy, cx = inner[rng.integers(len(inner))]
    blob = _wobbly_ellipse(organ, (cy, cx), rng.uniform(2, 18, 2) * f, yy, xx, rng)
    if kind == "fill":
        dark = image < np.percentile(image[organ], 50) - 1.5 * _iqr(image[organ])
        blob &= dark
    return blob


def _wobbly_ellipse(
    organ: np.ndarray, centre, axes: np.ndarray, yy: np.ndarray, xx: np.ndarray, rng
) -> np.ndarray:
    """An ellipse of semi-axes `axes` (px) about `centre`, at a random angle, its edge made
    irregular by smooth noise, inside `organ`."""
    h, w = organ.shape
    f = h / 128
    (cy, cx), (a, b) = centre, axes
    t = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
    v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
    wobble = ndimage.gaussian_filter(rng.standard_normal((h, w)), 3 * f) * 6 * f
    return ((u / a) ** 2 + (v / b) ** 2 + wobble < 1) & organ


def _iqr(values: np.ndarray) -> float:
    q25, q75 = np.percentile(values, [25, 75])
    return float(max(q75 - q25, 1e-3))


def paste_lesions(image: np.ndarray, organ: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of `image` (c, s, s) with 1-3 bright lesions inside `organ` (s, s); each channel's
    lesion value is its organ median + 2.5-8 IQR, with the slice's own fine texture on top."""
    out = image.copy()
    if ndimage.binary_erosion(organ, iterations=3).sum() < 20:
        return out
    for _ in range(int(rng.integers(1, 4))):
        region = _shape(str(rng.choice(KINDS)), image[0], organ, rng)
        if region.sum() < 3:
            continue
        f = organ.shape[0] / 128
        alpha = ndimage.gaussian_filter(region.astype(np.float32), rng.uniform(0.5, 1.5) * f)
        alpha *= rng.uniform(0.6, 1.0)
        strength = rng.uniform(2.5, 8.0)
        for c in range(image.shape[0]):
            values = image[c][organ]
            level = np.median(values) + strength * _iqr(values)
            texture = 0.5 * (image[c] - ndimage.gaussian_filter(image[c], 2 * f))
            out[c] = (1 - alpha) * out[c] + alpha * (level + texture)
    return out.astype(np.float32)


def crop_patches(slices: np.ndarray, regions: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(patch (c, h, w), mask (h, w)) around each slice's region, for `paste_patch`; regions
    wider than half the slice are left out."""
    patches = []
    for image, region in zip(slices, regions, strict=True):
        ys, xs = np.nonzero(region)
        if ys.size == 0 or np.ptp(ys) >= region.shape[0] // 2 or np.ptp(xs) >= region.shape[1] // 2:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        patches.append((image[:, y0:y1, x0:x1].copy(), region[y0:y1, x0:x1].copy()))
    return patches


def paste_patch(
    image: np.ndarray,
    organ: np.ndarray,
    patch: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """A copy of `image` (c, s, s) with a confirmed anomaly's pixels (`crop_patches`) blended in
    at a random place whose centre lies inside `organ` (s, s)."""
    pixels, mask = patch
    h, w = mask.shape
    s = organ.shape[0]
    inner = np.argwhere(organ[h // 2 : s - (h - h // 2) + 1, w // 2 : s - (w - w // 2) + 1])
    if inner.size == 0:
        return image.copy()
    y, x = inner[rng.integers(len(inner))]
    alpha = ndimage.gaussian_filter(mask.astype(np.float32), 0.7)
    out = image.copy()
    window = out[:, y : y + h, x : x + w]
    out[:, y : y + h, x : x + w] = (1 - alpha) * window + alpha * pixels
    return out


def paste_ground_glass(
    image: np.ndarray, organ: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A copy of `image` (c, s, s) with 1-4 hazy patches inside the lungs `organ` (s, s), most
    of them against the lung's rim (COVID-like, subpleural): ground glass raises the lung by
    2-6 organ IQR and lets vessels show through (added, not replaced); one patch in four is
    consolidation, blended towards the organ's 99th percentile (soft-tissue-like). Edges are
    soft (Gaussian, 1-3 px of a 128-pixel slice), so a patch on the rim spills that far out."""
    out = image.copy()
    if ndimage.binary_erosion(organ, iterations=2).sum() < 20:
        return out
    h, w = organ.shape
    f = h / 128
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = ndimage.distance_transform_edt(organ)
    rim = np.argwhere(organ & (depth <= 6 * f))
    anywhere = np.argwhere(organ)
    levels = [np.percentile(channel[organ], 99) for channel in image]  # consolidation's
    spreads = [_iqr(channel[organ]) for channel in image]  # ground glass's unit
    for _ in range(int(rng.integers(1, 5))):
        points = rim if rim.size and rng.random() < 0.75 else anywhere
        cy, cx = points[rng.integers(len(points))]
        region = _wobbly_ellipse(organ, (cy, cx), rng.uniform(4, 22, 2) * f, yy, xx, rng)
        if region.sum() < 3:
            continue
        alpha = ndimage.gaussian_filter(region.astype(np.float32), rng.uniform(1.0, 3.0) * f)
        consolidation = rng.random() < 0.25
        strength = rng.uniform(2.0, 6.0)
        for c in range(image.shape[0]):
            if consolidation:
                out[c] = (1 - alpha) * out[c] + alpha * levels[c]
            else:
                out[c] = out[c] + alpha * strength * spreads[c]
    return out.astype(np.float32)


GROUND_GLASS_HU = (200.0, 500.0)  # ground glass: aerated lung raised to its median + this (HU)


def paste_ground_glass_hu(
    image: np.ndarray,
    organ: np.ndarray,
    rng: np.random.Generator,
    windows: tuple[tuple[float, float], ...],
) -> np.ndarray:
    """A copy of `image` (c, s, s: CT in HU read through `windows`, channel c through window
    c mod their number) with 1-3 ground-glass patches inside the lungs `organ` (s, s): broad
    (semi-axes 2-8 px of a 128-pixel slice), soft-edged (Gaussian 1-2 px), where the lung is
    raised to its median HU + `GROUND_GLASS_HU` and denser tissue (vessels) keeps its HU, so
    vessels show through. The HU are read from the widest window's channel and re-windowed
    into every channel where they change."""
    out = image.copy()
    if ndimage.binary_erosion(organ, iterations=2).sum() < 20:
        return out
    n = len(windows)
    wide = int(np.argmax([w for _, w in windows]))
    centre, width = windows[wide]
    f = organ.shape[0] / 128
    yy, xx = np.mgrid[0 : organ.shape[0], 0 : organ.shape[1]].astype(np.float32)
    inner = np.argwhere(ndimage.binary_erosion(organ, iterations=2))
    rise = np.zeros(organ.shape, np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = inner[rng.integers(len(inner))]
        region = _wobbly_ellipse(organ, (cy, cx), rng.uniform(2, 8, 2) * f, yy, xx, rng)
        alpha = ndimage.gaussian_filter(region.astype(np.float32), rng.uniform(1.0, 2.0) * f)
        np.maximum(rise, alpha * rng.uniform(*GROUND_GLASS_HU), out=rise)
    for k in range(image.shape[0] // n):  # each slice of a 2.5D input the same
        hu = image[k * n + wide] * width + (centre - width / 2)
        haze = np.median(hu[organ]) + rise
        raised = (rise > 20) & (haze > hu)  # below the haze the wide window is not clipped
        for c, (level, w) in enumerate(windows):
            value = np.clip((haze - (level - w / 2)) / w, 0.0, 1.0)
            out[k * n + c][raised] = value[raised]
    return out.astype(np.float32)
