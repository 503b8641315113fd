"""Binary morphology of (n, y, x) stacks slice by slice, without a loop over slices: the same
pixels as scipy's 2D functions (4-connected cross, outside the slice = background) on each
slice. Erosion and dilation are array shifts (scipy's per-pixel loops are ~10× slower on
the masks' 128² slices); labelling runs once over the stack with a structure that connects
pixels within a slice only (`PLANAR`). 2D masks work too (one slice)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CROSS = ndimage.generate_binary_structure(2, 1)
PLANAR = np.zeros((3, 3, 3), bool)  # 3D labelling that connects pixels within a slice only
PLANAR[1] = CROSS


def erode(masks: np.ndarray, iterations: int = 1) -> np.ndarray:
    """`ndimage.binary_erosion` of each slice (last two axes) by the cross, `iterations` times."""
    out = np.asarray(masks, dtype=bool)
    for _ in range(iterations):
        prev, out = out, out.copy()
        out[..., 1:, :] &= prev[..., :-1, :]
        out[..., :-1, :] &= prev[..., 1:, :]
        out[..., 1:] &= prev[..., :-1]
        out[..., :-1] &= prev[..., 1:]
        out[..., (0, -1), :] = False
        out[..., (0, -1)] = False
    return out


def dilate(masks: np.ndarray, iterations: int = 1) -> np.ndarray:
    """`ndimage.binary_dilation` of each slice (last two axes) by the cross, `iterations` times."""
    out = np.asarray(masks, dtype=bool)
    for _ in range(iterations):
        prev, out = out, out.copy()
        out[..., 1:, :] |= prev[..., :-1, :]
        out[..., :-1, :] |= prev[..., 1:, :]
        out[..., 1:] |= prev[..., :-1]
        out[..., :-1] |= prev[..., 1:]
    return out


def opening(masks: np.ndarray, iterations: int = 1) -> np.ndarray:
    """`ndimage.binary_opening` of each slice by the cross (`iterations` each way)."""
    return dilate(erode(masks, iterations), iterations)


def closing(masks: np.ndarray, iterations: int = 1) -> np.ndarray:
    """`ndimage.binary_closing` of each slice by the cross: the erosion sees background
    outside the slice, so pad a mask that reaches its edge first."""
    return erode(dilate(masks, iterations), iterations)


def label(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected components of each slice of an (n, y, x) stack, numbered across the stack,
    and each label's slice (index 0: label 1). scipy numbers components in scan order of their
    first pixel, so a slice's labels follow the previous slice's."""
    labels, n = ndimage.label(masks, structure=PLANAR)
    last = labels.reshape(len(labels), -1).max(axis=1) if n else np.zeros(len(labels), int)
    counts = np.diff(np.maximum.accumulate(np.r_[0, last]))
    return labels, np.repeat(np.arange(len(labels)), counts)


def fill_holes(masks: np.ndarray) -> np.ndarray:
    """`ndimage.binary_fill_holes` of each slice of an (n, y, x) stack, the same pixels in one
    labelling pass: the background (4-connected) components that touch no edge of their slice
    are holes. scipy grows the outside in by repeated dilation, slow on large hole-free masks."""
    labels, n = ndimage.label(~np.asarray(masks, dtype=bool), structure=PLANAR)
    if n == 0:
        return np.ones(labels.shape, dtype=bool)
    outside = np.zeros(n + 1, bool)
    for edge in (labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]):
        outside[edge] = True
    outside[0] = False
    return ~outside[labels]


def largest(masks: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of each slice of an (n, y, x) bool stack (the first
    in scan order among equals, as `labels == sizes.argmax()` of the slice's own labelling);
    slices with one component or none stay as they are."""
    labels, z = label(masks)
    n = len(z)
    if n <= 1:
        return np.asarray(masks, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    order = np.lexsort((np.arange(n), -sizes, z))  # by slice, then largest, then first
    first = order[np.r_[True, z[order][1:] != z[order][:-1]]]
    keep = np.zeros(n + 1, bool)
    keep[first + 1] = True
    return keep[labels]
