"""Tiny 2D stand-ins for 8-bit slices: a bright disc ("head") on black, with a blob when abnormal.

For tests and device checks that need PNG files with a known label, fast to train on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def disc_slice(
    seed: int,
    size: int,
    lesion: bool,
    lesion_radius: float = 0.125,
    lesion_value: float = 1.0,
) -> np.ndarray:
    """(size, size) in [0, 1]: a 0.6 disc of radius 0.41 size with mild noise; with `lesion`, a
    blob of `lesion_radius` x size at a random place near the centre set to `lesion_value`."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centre, radius = size // 2, 13 / 32 * size
    image = np.where((yy - centre) ** 2 + (xx - centre) ** 2 < radius**2, 0.6, 0.0)
    image += rng.normal(0, 0.02, image.shape) * (image > 0)
    if lesion:
        cy, cx = rng.integers(round(0.34 * size), round(0.66 * size), 2)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < (lesion_radius * size) ** 2] = lesion_value
    return np.clip(image, 0.0, 1.0)


def write_png(path: Path, image: np.ndarray) -> Path:
    """`image` in [0, 1] as an 8-bit grey PNG (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)
    return path
