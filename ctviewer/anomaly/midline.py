"""The midsagittal line of an axial head stack at model resolution, and mirroring about it.

A head lies rotated and shifted in the scanner, so its left-right mirror is not the crop's own
mirror. `estimate_midline` finds the line (one per volume: its angle from the image's vertical
axis and its horizontal offset from the crop centre at the centre row) that maximises the
correlation of the slices with their mirror image over the body, by a coarse grid search refined
once; `reflect` mirrors a stack about it (bilinear, zero outside).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

COARSE_ANGLES = np.radians(np.arange(-16.0, 16.5, 2.0))
COARSE_OFFSETS = np.arange(-8.0, 8.5, 1.0)  # pixels of a 64-pixel slice, scaled with the slice
FINE_ANGLES = np.radians(np.arange(-1.5, 1.6, 0.5))
FINE_OFFSETS = np.arange(-0.75, 0.8, 0.25)
MIN_SHARE = 0.5  # slices whose body is at least this share of the largest one's are used
MAX_SLICES = 16


@dataclass(frozen=True)
class Midline:
    """The mirror line: `angle` (rad, from the image's vertical axis, positive turning the
    line's lower end towards larger columns) through the point `offset` pixels right of the
    slice centre on its centre row; `fit` is the correlation reached (0 when not estimated)."""

    angle: float = 0.0
    offset: float = 0.0
    fit: float = 0.0


def _mirror_coords(size: int, line: Midline) -> np.ndarray:
    """(2, size, size): the (row, column) where each pixel's mirror image about `line` lies."""
    c = (size - 1) / 2
    y, x = np.meshgrid(np.arange(size) - c, np.arange(size) - c - line.offset, indexing="ij")
    dy, dx = np.cos(line.angle), np.sin(line.angle)
    along = y * dy + x * dx
    return np.stack([2 * along * dy - y + c, 2 * along * dx - x + line.offset + c])


def reflect(stack: np.ndarray, line: Midline) -> np.ndarray:
    """Stack (n, s, s) mirrored about `line` (bilinear, 0 where the mirror leaves the slice)."""
    stack = np.asarray(stack, dtype=np.float32)
    yx = _mirror_coords(stack.shape[-1], line)
    out = np.empty_like(stack)
    for i, image in enumerate(stack):
        out[i] = ndimage.map_coordinates(image, yx, order=1, mode="constant", cval=0.0)
    return out


def _fits(images: np.ndarray, body: np.ndarray, lines: list[Midline]) -> np.ndarray:
    """Correlation of the slices with their mirror about each line, where both are body
    (all lines at once: one bilinear resampling per stack)."""
    n, size = images.shape[0], images.shape[-1]
    c = (size - 1) / 2
    coords = np.stack([_mirror_coords(size, line) for line in lines])  # (k, 2, s, s)
    grid = torch.from_numpy(((coords[:, ::-1] - c) / c).transpose(0, 2, 3, 1).astype(np.float32))
    stack = torch.from_numpy(np.concatenate([images, body]).astype(np.float32))[None]
    mirrored = F.grid_sample(
        stack.expand(len(lines), -1, -1, -1), grid, align_corners=True, padding_mode="zeros"
    )
    a = torch.from_numpy(images.astype(np.float32))[None]
    b, weight = mirrored[:, :n], (mirrored[:, n:] > 0.5) & torch.from_numpy(body)[None]
    w = weight.float()
    count = w.sum(dim=(1, 2, 3)).clamp(min=1)
    mean_a, mean_b = (a * w).sum(dim=(1, 2, 3)) / count, (b * w).sum(dim=(1, 2, 3)) / count
    da, db = (a - mean_a[:, None, None, None]) * w, (b - mean_b[:, None, None, None]) * w
    cov = (da * db).sum(dim=(1, 2, 3))
    norm = torch.sqrt((da * da).sum(dim=(1, 2, 3)) * (db * db).sum(dim=(1, 2, 3)))
    fit = torch.where((norm > 0) & (count >= 32), cov / norm.clamp(min=1e-12), -1.0)
    return fit.numpy().astype(np.float64)


def pick_slices(body: np.ndarray) -> np.ndarray:
    """Up to MAX_SLICES evenly spaced slice indices among those with at least MIN_SHARE of the
    largest body area (the middle of the head, where the midline is clearest)."""
    area = body.reshape(len(body), -1).sum(axis=1)
    if area.size == 0 or area.max() == 0:
        return np.zeros(0, dtype=int)
    good = np.flatnonzero(area >= MIN_SHARE * area.max())
    spaced = np.linspace(0, good.size - 1, min(MAX_SLICES, good.size)).round().astype(int)
    return good[np.unique(spaced)]


def estimate_midline(images: np.ndarray, body: np.ndarray) -> Midline:
    """The mirror line (see `Midline`) of slices (n, s, s) with body masks (n, s, s) that makes
    them most symmetric; the crop's own centre line when the stack has no body."""
    if not body.any():
        return Midline()
    scale = images.shape[-1] / 64
    coarse = _search(*_halve(images, body), Midline(), COARSE_ANGLES, COARSE_OFFSETS * scale / 2)
    coarse = Midline(coarse.angle, 2 * coarse.offset)
    return _search(images, body, coarse, FINE_ANGLES, FINE_OFFSETS * scale)


def _halve(images: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slices and masks at half resolution (2 x 2 means; a line's offset halves with them)."""
    n, size = images.shape[0], images.shape[-1] // 2 * 2

    def pool(a: np.ndarray) -> np.ndarray:
        return a[:, :size, :size].reshape(n, size // 2, 2, size // 2, 2).mean(axis=(2, 4))

    return pool(images.astype(np.float32)), pool(body.astype(np.float32)) > 0.5


def _search(
    images: np.ndarray, body: np.ndarray, around: Midline, angles: np.ndarray, offsets: np.ndarray
) -> Midline:
    """The best-fitting line among `around` turned by `angles` and shifted by `offsets`."""
    lines = [
        Midline(around.angle + float(a), around.offset + float(o)) for a in angles for o in offsets
    ]
    fits = _fits(images, body, lines)
    best = int(np.argmax(fits))
    return Midline(lines[best].angle, lines[best].offset, float(fits[best]))
