"""Head CT: HU through the brain window, the head phantom, and the cross-validation folds."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from ctviewer.errors import ModelError
from ctviewer.model.preprocess import Preprocessing, check_kind, prepare_volume, window_hu
from ctviewer.synth.head import add_bleed, brain_mask_hu, make_head_phantom
from ctviewer.volume import Volume

BRAIN = Preprocessing(kind="image", size=64, organ="inner", normalize="organ", hu_window=(40, 80))
SKULL_HU = replace(BRAIN, skull_hu=True)


@pytest.fixture(scope="module")
def phantom() -> Volume:
    return make_head_phantom(seed=3, n_slices=4, size=128)


def _as_image(volume: Volume, values: np.ndarray) -> Volume:
    return Volume(array=values.astype(np.float32), spacing=volume.spacing, is_hu=False)


def test_hu_through_the_brain_window_is_prepared_like_the_windowed_image(phantom):
    from_hu = prepare_volume(phantom, BRAIN)
    from_image = prepare_volume(_as_image(phantom, window_hu(phantom.array, (40, 80))), BRAIN)
    np.testing.assert_array_equal(from_hu.images, from_image.images)
    np.testing.assert_array_equal(from_hu.body, from_image.body)
    assert from_hu.box == from_image.box and not from_hu.from_hu


def test_skull_hu_keeps_the_windowed_image_outside_the_brain_and_adds_the_rim(phantom):
    """`skull_hu`: outside the skull, HU read through the brain window give the windowed image's
    values; the brain found by HU is the image path's brain plus the rim next to the skull."""
    from_hu = prepare_volume(phantom, SKULL_HU)
    from_image = prepare_volume(_as_image(phantom, window_hu(phantom.array, (40, 80))), SKULL_HU)
    assert from_hu.box == from_image.box and from_hu.from_hu and not from_image.from_hu
    assert from_hu.body[from_image.body].mean() > 0.97
    assert from_hu.body.sum() > from_image.body.sum()
    brain = from_hu.body | from_image.body
    outside = from_hu.images[:, 0] > 0.0
    outside &= ~ndimage.binary_dilation(brain, iterations=2, structure=np.ones((1, 3, 3)))
    # the same image up to the brain statistics the normalisation took (median, IQR)
    a, b = from_hu.images[:, 0][outside], from_image.images[:, 0][outside]
    assert np.corrcoef(a, b)[0, 1] > 0.98


def test_an_extra_axial_bleed_stays_inside_the_hu_brain_and_is_not_clipped(phantom):
    brain = brain_mask_hu(phantom.array)
    rng = np.random.default_rng(1)
    hu, bleed = add_bleed(phantom.array, brain, phantom.spacing, rng, "extra-axial", 25.0, 85.0)
    volume = Volume(array=hu, spacing=phantom.spacing, is_hu=True)
    from_hu = prepare_volume(volume, SKULL_HU)
    from_image = prepare_volume(_as_image(volume, window_hu(hu, (40, 80))), BRAIN)
    z = int(np.argmax(bleed.mask.sum(axis=(1, 2))))
    at = _on_model_grid(bleed.mask[z], from_hu.box, 64)
    assert at.any()
    assert from_hu.body[z][at].mean() > 0.8  # kept by the HU skull strip
    assert from_hu.body[z][at].mean() > from_image.body[z][at].mean() + 0.3
    level = np.median(from_hu.images[z, 0][from_hu.body[z] & ~at])
    # 85 HU over brain: far above the brain's level, above the 80 HU top of the window
    assert np.median(from_hu.images[z, 0][at]) > level + 0.3


def _on_model_grid(mask: np.ndarray, box, size: int) -> np.ndarray:
    """A volume-grid mask on the model grid of `box` (more than half covered)."""
    from ctviewer.model.preprocess import _crop, _resize

    return _resize(_crop(mask[None].astype(np.float32), box, 0.0), size)[0] > 0.5


def test_hu_is_prepared_close_to_its_8bit_brain_window_png(phantom):
    eight_bit = np.round(window_hu(phantom.array, (40, 80)) * 255) / 255
    from_hu = prepare_volume(phantom, BRAIN)
    from_png = prepare_volume(_as_image(phantom, eight_bit), BRAIN)
    assert (from_hu.body == from_png.body).mean() > 0.99
    assert np.abs(from_hu.images - from_png.images).mean() < 0.01


def test_an_image_model_reads_hu_only_with_a_declared_window(phantom):
    check_kind(phantom, BRAIN)
    with pytest.raises(ModelError):
        check_kind(phantom, Preprocessing(kind="image"))
    with pytest.raises(ModelError):
        Preprocessing(kind="hu", hu_window=(40, 80))


def test_head_phantom_has_a_skull_ring_around_brain(phantom):
    hu = phantom.array[1]
    bone = hu > 300
    assert bone.any()
    inside = brain_mask_hu(phantom.array[1:2])[0]
    assert inside.sum() > 0.2 * hu.size * 0.25  # a brain of a realistic share of the slice
    assert not (inside & bone).any()
    # the skull encloses the brain: filling the bone ring covers every brain pixel
    assert ndimage.binary_fill_holes(bone)[inside].all()
    brain_hu = hu[inside & (hu > 15)]
    assert 20 < np.median(brain_hu) < 45  # grey/white matter, not bone or CSF
    assert (hu[inside] < 15).mean() > 0.01  # some CSF: ventricles, sulci
    assert not np.array_equal(hu, make_head_phantom(seed=4, n_slices=4, size=128).array[1])


def test_bleed_raises_hu_inside_the_brain(phantom):
    brain = brain_mask_hu(phantom.array)
    rng = np.random.default_rng(0)
    for kind in ("intraparenchymal", "extra-axial"):
        hu, bleed = add_bleed(phantom.array, brain, phantom.spacing, rng, kind, 20.0, 60.0)
        assert bleed.mask.any() and (bleed.mask <= brain).all()
        assert (hu - phantom.array)[bleed.mask].mean() > 30


def _crossval():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "crossval.py"
    spec = importlib.util.spec_from_file_location("crossval", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["crossval"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_crossval_folds_are_stratified_and_never_train_on_abnormals():
    cv = _crossval()
    labels = np.array([0] * 13 + [1] * 7)
    for seed in (0, 1):
        fold = cv.stratified_folds(labels, 5, seed)
        for label in (0, 1):  # every fold gets its share of each label
            counts = np.bincount(fold[labels == label], minlength=5)
            assert counts.max() - counts.min() <= 1
        for k in range(5):
            train = cv.training_items(labels, fold, k)
            assert (labels[train] == 0).all()
            assert not (fold[train] == k).any()
            assert set(train) == set(np.flatnonzero((labels == 0) & (fold != k)))


def test_kept_fold_models_are_keyed_by_training_not_scoring():
    from ctviewer.model.train import recipe

    cv = _crossval()
    config = recipe("head-ct")
    key = cv.model_key("head-ct", config, 5, 0, 1)
    rescored = replace(config, scoring=replace(config.scoring, flip=True, mirror=1.0))
    assert cv.model_key("head-ct", replace(rescored, calibration="lognormal"), 5, 0, 1) == key
    assert cv.model_key("head-ct", replace(config, synthetic=0.8), 5, 0, 1) != key
    assert cv.model_key("head-ct", config, 5, 0, 2) != key
    assert cv.model_key("head-ct", config, 5, 1, 1) != key


def test_dura_phantom_adds_dense_sinuses_and_folds_but_keeps_a_brain():
    plain = make_head_phantom(seed=5, n_slices=6, size=128)
    dura = make_head_phantom(seed=5, n_slices=6, size=128, dura=True)
    assert dura.shape == plain.shape and dura.source.endswith("-dura")

    def dense(volume):  # venous blood, falx, tentorium: 50-110 HU inside the skull
        brain = brain_mask_hu(volume.array)
        return int((brain & (volume.array > 50) & (volume.array < 110)).sum()), brain

    n_plain, _ = dense(plain)
    n_dura, brain = dense(dura)
    assert n_dura > 2 * n_plain
    assert 20 < np.median(dura.array[brain & (dura.array > 15)]) < 45  # still mostly brain
    hu, bleed = add_bleed(dura.array, brain, dura.spacing, np.random.default_rng(1), "extra-axial")
    assert bleed.mask.any() and (hu - dura.array)[bleed.mask].mean() > 30
