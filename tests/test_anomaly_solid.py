"""The solid-organ (liver) region of the chest model: its mask, its map, and that it is off by
default (earlier checkpoints score exactly as before)."""

from __future__ import annotations

import numpy as np

from ctviewer.anomaly.maps import Scoring, shape_map
from ctviewer.anomaly.solid import solid_map, solid_masks

WINDOW = (40.0, 400.0)  # the chest model's soft-tissue channel
SPACING = (5.0, 3.0, 3.0)


def channel(hu: np.ndarray) -> np.ndarray:
    low = WINDOW[0] - WINDOW[1] / 2
    return np.clip((hu - low) / WINDOW[1], 0.0, 1.0).astype(np.float32)


def abdomen(lesion_hu: float | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 16 x 128² stack: a body (fat, a muscle wall) around a 60 HU liver with a bone at its
    side and noise; with `lesion_hu`, a ball of 10 mm radius of that HU inside the liver.
    Returns the soft-tissue channel and the lesion's voxels."""
    zz, yy, xx = np.mgrid[:16, :128, :128].astype(np.float32)
    rng = np.random.default_rng(seed)
    hu = np.full(zz.shape, -1000.0, np.float32)
    r_body = np.hypot((yy - 64) / 60, (xx - 64) / 56)
    hu[r_body < 1] = 45.0  # muscle wall
    hu[r_body < 0.9] = -100.0  # fat
    liver = np.hypot((yy - 64) / 40, (xx - 64) / 36) < 1
    hu[liver] = 60.0
    hu[np.hypot(yy - 64, xx - 18) < 5] = 500.0  # a bone next to the liver
    hu += rng.normal(0, 5, hu.shape).astype(np.float32)
    ball = np.sqrt(((zz - 8) * SPACING[0]) ** 2 + ((yy - 60) * 3) ** 2 + ((xx - 70) * 3) ** 2) < 10
    if lesion_hu is not None:
        hu[ball] = lesion_hu + rng.normal(0, 5, int(ball.sum()))
    return channel(hu), ball


def test_solid_mask_is_the_organ_inside_without_lungs_bone_or_wall() -> None:
    soft, ball = abdomen(None)
    lungs = np.zeros(soft.shape, bool)
    lungs[:, 30:50, 60:70] = True  # a lung in the middle: left out
    solid = solid_masks(soft, WINDOW, lungs, 3.0)
    assert solid[:, 64, 90].all()  # the liver
    assert not solid[:, 40, 65].any()  # the lung
    assert not solid[:, 64, 6].any() and not solid[:, 64, 10].any()  # wall and fat
    assert not solid[:, 64, 18:26].any()  # the bone and its rim
    assert solid[ball].mean() > 0.9


def test_liver_lesion_lights_up_healthy_liver_does_not() -> None:
    lungs = np.zeros((16, 128, 128), bool)
    peaks = {}
    for name, hu in (("healthy", None), ("dark", 20.0), ("bright", 110.0)):
        soft, ball = abdomen(hu)
        term = solid_map(soft, solid_masks(soft, WINDOW, lungs, 3.0), SPACING, (6.0, 9.0))
        peaks[name] = (float(term[ball].max()), float(term[~ball].max()))
    healthy = peaks["healthy"][1]
    for name in ("dark", "bright"):  # hypodense and hyperdense alike
        inside, outside = peaks[name]
        assert inside > 2 * healthy and inside > 2 * outside, (name, peaks)


def test_solid_region_is_off_by_default_and_old_scorings_read_the_same() -> None:
    old = Scoring(blob_mm=(6.0,), blob_on="image", sigma=0.0, median=1)
    data = old.to_dict()
    del data["solid_mm"], data["solid_gain"]  # a checkpoint written before the field
    assert Scoring.from_dict(data) == old and not old.scores_solid
    soft, _ = abdomen(20.0)
    images = np.stack([soft, soft], axis=1)
    mask = np.zeros(soft.shape, bool)
    mask[:, 40:60, 40:60] = True
    planar = np.where(mask, 0.05, 0.0).astype(np.float32)
    solid = solid_masks(soft, WINDOW, mask, 3.0)
    plain = shape_map(planar, mask, old, SPACING, images)
    assert np.array_equal(shape_map(planar, mask, old, SPACING, images, 1, solid), plain)
    on = Scoring.from_dict({**data, "solid_mm": [6.0, 9.0], "solid_gain": 5.0})
    assert Scoring.from_dict(on.to_dict()) == on and on.scores_solid
    both = shape_map(planar, mask, on, SPACING, images, 1, solid)
    assert (both >= plain).all() and both[~mask].max() > 0 == plain[~mask].max()
