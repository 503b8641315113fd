"""The chest phantom: deterministic, anatomically plausible, lesions with correct ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from ctviewer.errors import InputError
from ctviewer.synth.canvas import BONE, LIVER, LUNG
from ctviewer.synth.phantom import (
    Lesion,
    Phantom,
    make_phantom,
    random_lesions,
    read_ground_truth,
    write_ground_truth,
)

SHAPE = (32, 128, 128)


def test_same_seed_same_phantom_and_uids() -> None:
    lesions = [Lesion("nodule", 6.0), Lesion("liver", 10.0)]
    a = make_phantom(SHAPE, lesions=lesions, seed=4)
    b = make_phantom(SHAPE, lesions=lesions, seed=4)
    np.testing.assert_array_equal(a.volume.array, b.volume.array)
    np.testing.assert_array_equal(a.lesion_labels, b.lesion_labels)
    assert a.lesions == b.lesions
    assert a.volume.meta == b.volume.meta
    assert a.volume.series_uid == b.volume.series_uid


def test_seeds_give_different_normal_patients() -> None:
    a, b = make_phantom(SHAPE, seed=1), make_phantom(SHAPE, seed=2)
    assert a.volume.series_uid != b.volume.series_uid
    assert a.volume.meta["StudyInstanceUID"] != b.volume.meta["StudyInstanceUID"]
    # Different anatomy, not just different noise: the body outlines differ.
    assert (a.body_mask != b.body_mask).mean() > 0.01
    assert not a.mask.any() and not b.mask.any()
    # The anatomy seed alone fixes the patient; the seed then changes only the noise.
    c = make_phantom(SHAPE, seed=3, anatomy_seed=1)
    np.testing.assert_array_equal(a.labels, c.labels)
    assert 5 < np.std(c.volume.array - a.volume.array) < 40


def test_tissues_have_ct_values_and_anatomy_changes_along_z() -> None:
    phantom = make_phantom((40, 128, 128), seed=0)
    hu, labels = phantom.volume.array, phantom.labels
    assert phantom.volume.array.dtype == np.float32
    assert np.array_equal(hu, np.rint(hu))  # whole HU, as stored in DICOM
    assert -900 < np.median(hu[labels == LUNG]) < -780
    assert 40 < np.median(hu[labels == LIVER]) < 80
    assert np.median(hu[labels == BONE]) > 200
    assert np.median(hu[~phantom.body_mask & (labels == 0)]) < -950  # air around the patient
    # Slice 0 is the lowest (LPS +z is up): the liver is at the bottom, the lung apices at the top.
    liver_per_slice = phantom.liver_mask.sum(axis=(1, 2))
    lung_per_slice = phantom.lung_mask.sum(axis=(1, 2))
    assert liver_per_slice[:10].sum() > 10 * liver_per_slice[-10:].sum()
    assert lung_per_slice[20] > 3 * lung_per_slice[-2]
    # Lung vessels: a bright minority inside the lung.
    lung = hu[labels == LUNG]
    assert 0.01 < (lung > -500).mean() < 0.3


@pytest.mark.parametrize(
    ("kind", "radius", "low", "high", "organ"),
    [
        ("nodule", 8.0, 30.0, 60.0, LUNG),
        ("ggo", 12.0, -520.0, -320.0, LUNG),
        ("liver", 12.0, 10.0, 30.0, LIVER),
    ],
)
def test_lesion_size_value_and_place(
    kind: str, radius: float, low: float, high: float, organ: int
) -> None:
    lesion = Lesion(kind, radius_mm=radius, lobulation=0.0, seed=5)  # type: ignore[arg-type]
    phantom = make_phantom((64, 128, 128), (4.0, 2.0, 2.0), [lesion], seed=7, noise_hu=2.0)
    placed = phantom.lesions[0]
    voxel_mm3 = float(np.prod(phantom.volume.spacing))
    sphere_mm3 = 4 / 3 * np.pi * radius**3
    assert phantom.mask.sum() * voxel_mm3 == pytest.approx(sphere_mm3, rel=0.15)
    z, y, x = (int(round(c)) for c in placed.center_vox)  # type: ignore[union-attr]
    assert phantom.labels[z, y, x] == organ
    assert phantom.lesion_labels[z, y, x] == 1
    # The core (away from partial-volume edges) has the lesion's density.
    core = _ball(phantom, placed.center_vox, radius - 4.0)  # type: ignore[arg-type]
    assert low < np.median(phantom.volume.array[core]) < high
    assert placed.center_mm == pytest.approx(phantom.volume.index_to_mm(*placed.center_vox))


def _ball(phantom: Phantom, centre: tuple[float, float, float], radius_mm: float) -> np.ndarray:
    """Voxels within `radius_mm` of `centre` (z, y, x voxels)."""
    grids = np.ogrid[tuple(slice(0, n) for n in phantom.volume.shape)]
    spacing = phantom.volume.spacing
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    return d2 <= radius_mm**2


def test_lesion_at_given_mm_position() -> None:
    base = make_phantom(SHAPE, seed=2)
    z, y, x = np.argwhere(base.lung_mask)[len(np.argwhere(base.lung_mask)) // 2]
    centre_mm = base.volume.index_to_mm(z, y, x)
    phantom = make_phantom(SHAPE, lesions=[Lesion("nodule", 5.0, center_mm=centre_mm)], seed=2)
    assert phantom.lesions[0].center_vox == pytest.approx((z, y, x))
    assert phantom.lesion_labels[z, y, x] == 1
    # Outside the lesion, the phantom is unchanged.
    outside = phantom.lesion_labels == 0
    changed = phantom.volume.array != base.volume.array
    assert changed[~outside].mean() > 0.9 and changed[outside].mean() < 0.01


def test_random_lesions_are_deterministic_and_of_the_asked_kinds() -> None:
    a = random_lesions(np.random.default_rng(3), 6, kinds=("nodule", "ggo"))
    b = random_lesions(np.random.default_rng(3), 6, kinds=("nodule", "ggo"))
    assert a == b and len(a) == 6
    assert {lesion.kind for lesion in a} <= {"nodule", "ggo"}
    phantom = make_phantom((48, 128, 128), lesions=a[:3], seed=1)
    assert sorted(np.unique(phantom.lesion_labels)) == [0, 1, 2, 3]


def test_bad_lesions_are_refused_in_one_line() -> None:
    with pytest.raises(InputError, match="unknown lesion kind"):
        Lesion("tumour", 5.0)  # type: ignore[arg-type]
    # A slab of the lung apices has no liver to put a liver lesion in.
    with pytest.raises(InputError, match="no liver"):
        make_phantom((4, 64, 64), (2.0, 6.0, 6.0), [Lesion("liver", 5.0)])


def test_ground_truth_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    phantom = make_phantom(SHAPE, lesions=[Lesion("nodule", 6.0), Lesion("ggo", 9.0)], seed=8)
    write_ground_truth(phantom, tmp_path)
    labels, lesions = read_ground_truth(tmp_path)
    np.testing.assert_array_equal(labels, phantom.lesion_labels)
    assert lesions == phantom.lesions


def test_juxtapleural_lesions_touch_the_rim_and_consolidation_stays_in_the_lung() -> None:
    lesions = [
        Lesion("juxtapleural", radius_mm=8.0, seed=4),
        Lesion("consolidation", radius_mm=15.0, seed=5),
    ]
    phantom = make_phantom(shape=(32, 128, 128), seed=3, lesions=lesions)
    base = make_phantom(shape=(32, 128, 128), seed=3)
    rim, dense = phantom.lesion_labels == 1, phantom.lesion_labels == 2
    assert rim.any() and dense.any()
    # the juxtapleural lesion lies partly in lung and partly in the wall or mediastinum
    in_lung = base.labels[rim] == LUNG
    assert 0.2 < in_lung.mean() < 0.95
    # consolidation is dense lung: only lung voxels, far above aerated lung
    assert (base.labels[dense] == LUNG).all()
    assert np.median(phantom.volume.array[dense]) > -100
