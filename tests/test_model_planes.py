"""Slice-by-slice morphology of whole stacks (`ctviewer.model.planes`) and the stack versions of
the body and lung masks give exactly the pixels of scipy's 2D functions and of the per-slice
code they replaced (kept here as the reference), on random masks and on chest phantoms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import convex_hull_image

from ctviewer.model import planes
from ctviewer.model import preprocess as pp
from ctviewer.synth.lesions import Lesion
from ctviewer.synth.phantom import make_phantom


def _random_stacks() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    stacks = [rng.random((6, 40, 56)) < p for p in (0.05, 0.3, 0.5, 0.6, 0.7, 0.9)]
    stacks[2][1], stacks[2][4] = False, True  # an empty and a full slice among others
    smooth = ndimage.gaussian_filter(rng.standard_normal((5, 64, 64)), (0, 2, 2)) > 0.1
    stacks += [smooth, rng.random((3, 1, 9)) < 0.7, rng.random((3, 9, 1)) < 0.7]
    return stacks


def _per_slice(function, stack: np.ndarray, *args) -> np.ndarray:
    return np.stack([function(s, *args) for s in stack])


# the per-slice code that `planes` and the stack masks replaced (ctviewer before session 9)
def _old_body_mask_2d(foreground: np.ndarray) -> np.ndarray:
    if not foreground.any():
        return foreground
    iterations = max(1, round(foreground.shape[0] / 64))
    before = ndimage.binary_fill_holes(pp._largest(foreground))
    opened = ndimage.binary_opening(foreground, iterations=iterations)
    after = ndimage.binary_fill_holes(pp._largest(opened if opened.any() else foreground))
    return after | pp._largest(ndimage.binary_opening(before, iterations=iterations))


def _old_with_pockets(one: np.ndarray, hu: np.ndarray, close: int, scale: float) -> np.ndarray:
    pad = close + 1
    padded = np.pad(one, pad)
    closed = ndimage.binary_closing(padded, iterations=close)[pad:-pad, pad:-pad]
    lung = ndimage.binary_fill_holes(closed | one)
    pockets, n = ndimage.label(convex_hull_image(lung) & ~lung)
    if n == 0:
        return lung
    depth = ndimage.distance_transform_edt(pockets > 0)
    sizes = np.bincount(pockets.ravel(), minlength=n + 1)
    deepest = np.zeros(n + 1)
    np.maximum.at(deepest, pockets.ravel(), depth.ravel())
    fat = np.bincount(pockets.ravel(), weights=((hu > pp.FAT_HU[0]) & (hu < pp.FAT_HU[1])).ravel())
    keep = (sizes <= pp.POCKET_AREA * lung.sum()) & (deepest <= pp.POCKET_DEPTH * scale)
    keep &= fat <= pp.POCKET_FAT * sizes
    keep[0] = False
    return lung | keep[pockets]


def _old_lung_mask(hu: np.ndarray, body: np.ndarray) -> np.ndarray:
    lung = ndimage.binary_opening(body & (hu > pp.LUNG_HU[0]) & (hu < pp.LUNG_HU[1]), iterations=1)
    labels, n = ndimage.label(lung)
    if n == 0:
        return lung
    sizes = np.bincount(labels.ravel())[1:]
    out = np.zeros_like(lung)
    scale = hu.shape[0] / 128
    close = max(1, round(pp.LUNG_CLOSE * scale))
    boxes = ndimage.find_objects(labels)
    for k in np.flatnonzero(sizes >= max(16, 0.1 * sizes.max())) + 1:
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in boxes[k - 1])
        out[box] |= _old_with_pockets(labels[box] == k, hu[box], close, scale) & body[box]
    return ndimage.binary_fill_holes(out | lung)


def test_erosion_dilation_opening_closing_match_scipy_per_slice() -> None:
    for stack in _random_stacks():
        for it in (1, 2, 3):
            for ours, theirs in (
                (planes.erode, ndimage.binary_erosion),
                (planes.dilate, ndimage.binary_dilation),
                (planes.opening, ndimage.binary_opening),
                (planes.closing, ndimage.binary_closing),
            ):
                expected = np.stack([theirs(s, iterations=it) for s in stack])
                assert np.array_equal(ours(stack, it), expected), (ours.__name__, it)
        assert np.array_equal(planes.erode(stack[0]), ndimage.binary_erosion(stack[0]))  # 2D


def test_fill_holes_largest_and_labels_match_each_slice_on_its_own() -> None:
    for stack in _random_stacks():
        assert np.array_equal(
            planes.fill_holes(stack), _per_slice(ndimage.binary_fill_holes, stack)
        )
        assert np.array_equal(planes.largest(stack), _per_slice(pp._largest, stack))
        labels, z = planes.label(stack)
        for k, at in enumerate(z, start=1):  # every label lies in the slice it is said to
            assert (labels[at] == k).any() and (labels == k).sum() == (labels[at] == k).sum()
        assert len(z) == sum(ndimage.label(s)[1] for s in stack)


def _chest_stack(seed: int, lesions: list[Lesion]) -> tuple[np.ndarray, np.ndarray]:
    """A chest phantom's slices cropped and shrunk to 128² as `prepare` sees them (HU), and
    their foreground."""
    volume = make_phantom(shape=(24, 192, 192), seed=seed, lesions=lesions).volume
    pre = pp.Preprocessing(organ="lungs")
    box = pp.body_box(volume, pre)
    hu = pp._resize(pp._crop(volume.array, box, pp.AIR_HU), 128)
    return hu, pp._foreground(hu, pre)


@pytest.mark.parametrize("seed", [0, 7])
def test_stack_body_and_lung_masks_equal_the_per_slice_code(seed: int) -> None:
    lesions = [
        Lesion("juxtapleural", radius_mm=8.0, seed=seed),
        Lesion("nodule", radius_mm=5.0, seed=seed),
    ]
    hu, foreground = _chest_stack(seed, lesions)
    body = pp.body_masks(foreground)
    assert np.array_equal(body, _per_slice(_old_body_mask_2d, foreground))
    for other in (
        foreground[:, ::2, ::3],
        np.repeat(np.repeat(foreground, 3, 1), 3, 2)[:, ::2, ::2],
    ):
        # other sizes: one and three opening iterations
        assert np.array_equal(pp.body_masks(other), _per_slice(_old_body_mask_2d, other))
    lungs = pp.lung_masks(hu, body)
    assert lungs.any() and np.array_equal(lungs, np.stack(list(map(_old_lung_mask, hu, body))))
    assert np.array_equal(pp.lung_mask(hu[5], body[5]), _old_lung_mask(hu[5], body[5]))
    assert np.array_equal(pp.body_mask_2d(foreground[5]), _old_body_mask_2d(foreground[5]))
