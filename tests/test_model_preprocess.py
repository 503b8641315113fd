"""The shared preprocessing: windows, body crop, masks, and mapping maps back onto the volume."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ctviewer.errors import ModelError
from ctviewer.model.preprocess import (
    Preprocessing,
    body_box,
    body_mask_2d,
    check_kind,
    fill_holes,
    inner_mask,
    prepare_volume,
    restore,
)
from ctviewer.synth.canvas import BLOOD, BONE
from ctviewer.synth.lesions import Lesion
from ctviewer.synth.phantom import make_phantom
from ctviewer.volume import Volume


def ct_volume() -> Volume:
    """Air everywhere, a 40 x 60 soft-tissue block off centre with a -800 HU hole in it."""
    array = np.full((5, 100, 120), -1000.0, np.float32)
    array[:, 20:60, 50:110] = 40.0
    array[:, 30:40, 70:80] = -800.0
    return Volume(array=array, spacing=(2.0, 0.8, 0.8))


def test_prepare_windows_crops_and_masks_the_body() -> None:
    pre = Preprocessing(size=32, windows=((40.0, 400.0), (-600.0, 1500.0)), context=1)
    prepared = prepare_volume(ct_volume(), pre)
    assert prepared.images.shape == (5, 6, 32, 32)
    assert prepared.images.min() >= 0.0 and prepared.images.max() <= 1.0
    # the box is square around the block: its side is the block's width plus the margin
    y0, x0, y1, x1 = prepared.box
    assert y1 - y0 == x1 - x0 and 60 <= x1 - x0 <= 70 and x0 <= 50 and x1 >= 110
    body = prepared.body[0]
    assert 0.4 < body.mean() < 0.8  # a 40 x 60 block in a ~64 x 64 box, hole filled
    soft_tissue = prepared.images[0, 2]  # centre slice, first window
    assert soft_tissue[body].mean() > 0.4 and soft_tissue[~body].mean() < 0.1


def test_restore_puts_the_map_back_on_the_volume_grid() -> None:
    volume = ct_volume()
    pre = Preprocessing(size=32)
    prepared = prepare_volume(volume, pre)
    back = restore(prepared.body.astype(np.float32), prepared.box, volume.shape[1:]) > 0.5
    truth = np.zeros(volume.shape[1:], bool)
    truth[20:60, 50:110] = True
    iou = (back[0] & truth).sum() / (back[0] | truth).sum()
    assert back.shape == volume.shape and iou > 0.85


def test_inner_mask_strips_the_bright_shell() -> None:
    yy, xx = np.mgrid[:64, :64] - 31.5
    r = np.hypot(yy, xx)
    image = np.where(r < 28, 1.0, 0.0)
    image[r < 24] = 0.4
    inner = inner_mask(image.astype(np.float32), r < 28)
    assert inner[r < 18].all() and not inner[(r > 24) & (r < 28)].any()


def test_kind_mismatch_and_bad_settings_are_model_errors() -> None:
    picture = Volume(array=np.zeros((1, 8, 8), np.float32), spacing=(1, 1, 1), is_hu=False)
    picture.source = "x.png"
    with pytest.raises(ModelError, match="x.png"):
        check_kind(picture, Preprocessing(kind="hu"))
    with pytest.raises(ModelError):
        Preprocessing(size=50)
    with pytest.raises(ModelError):
        Preprocessing(organ="liver")


def test_settings_survive_a_dict_round_trip_and_empty_slices_do_not_crash() -> None:
    pre = Preprocessing(kind="hu", size=48, windows=((40.0, 80.0),), context=2, organ="inner")
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    empty = Volume(array=np.full((2, 16, 16), -1000.0, np.float32), spacing=(1, 1, 1))
    assert body_box(empty, pre) == (0, 0, 16, 16)
    assert not prepare_volume(empty, pre).body.any()


CHEST = Preprocessing(
    size=128, windows=((40.0, 400.0), (-600.0, 1500.0)), organ="lungs", hu_range=(-950.0, 200.0)
)


def _region(volume: Volume, pre: Preprocessing) -> np.ndarray:
    """The scoring region (the organ mask) on the volume's grid."""
    prepared = prepare_volume(volume, pre)
    return restore(prepared.body.astype(np.float32), prepared.box, volume.shape[1:]) > 0.5


def test_lung_mask_keeps_a_juxtapleural_nodule_and_leaves_the_heart_out() -> None:
    lesion = Lesion("juxtapleural", radius_mm=9.0, seed=0)
    phantom = make_phantom(shape=(32, 256, 256), seed=0, lesions=[lesion])
    region = _region(phantom.volume, CHEST)
    # aerated lung alone holds almost none of it: the nodule replaces the lung it lies in
    aerated = (phantom.volume.array > -990) & (phantom.volume.array < -300)
    assert aerated[phantom.mask].mean() < 0.2
    assert region[phantom.mask].mean() > 0.6
    assert region[phantom.labels == BLOOD].mean() < 0.1  # heart and great vessels stay out
    assert region[phantom.labels == BONE].mean() < 0.08


def test_lung_mask_keeps_the_real_lung1_nodule(shared_data) -> None:
    import SimpleITK as sitk

    from ctviewer.io import load_inputs

    folder = shared_data / "anomaly" / "chest_ct_volumes"
    if not (folder / "lung1_image.nrrd").exists():
        pytest.skip(f"{folder / 'lung1_image.nrrd'} is absent")
    volume = next(iter(load_inputs([folder / "lung1_image.nrrd"])))
    nodule = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "lung1_label.nrrd"))) > 0
    region = _region(volume, CHEST)
    assert region[nodule].mean() > 0.95
    assert region.mean() < 0.25  # the lungs, not the whole chest


def test_fill_holes_fills_the_same_pixels_as_scipy() -> None:
    rng = np.random.default_rng(5)
    masks = [rng.random((40, 56)) < p for p in (0.3, 0.5, 0.6, 0.7)]  # holes touching edges too
    masks += [np.zeros((9, 9), bool), np.ones((9, 9), bool), np.ones((1, 7), bool)]
    ring = np.zeros((20, 20), bool)
    ring[3:15, 3:15], ring[6:12, 6:12], ring[8, 8] = True, False, True  # a hole with an island
    masks.append(ring)
    for mask in masks:
        assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    assert fill_holes(ring)[7, 7] and not fill_holes(ring)[0, 0]


def test_body_mask_keeps_a_lung_behind_a_wall_thinner_than_the_opening() -> None:
    yy, xx = np.mgrid[:128, :128]
    body = (yy - 64) ** 2 + (xx - 64) ** 2 < 55**2
    lung = (yy - 64) ** 2 + (xx - 30) ** 2 < 19**2  # 2 pixels from the body's edge
    wall = body & ~lung
    filled = body_mask_2d(wall)
    assert filled[lung].all() and not filled[~body].any()
