"""The head's midline: estimated on a tilted synthetic stack, and the mirror score about it."""

from __future__ import annotations

import numpy as np
import pytest

from ctviewer.anomaly.maps import mirror_residual
from ctviewer.anomaly.midline import Midline, estimate_midline, pick_slices, reflect

SIZE = 64


def _frame(line: Midline) -> tuple[np.ndarray, np.ndarray]:
    """(along, across) coordinates of a SIZE² grid relative to `line`: along it, and signed
    distance from it."""
    c = (SIZE - 1) / 2
    y, x = np.meshgrid(np.arange(SIZE) - c, np.arange(SIZE) - c - line.offset, indexing="ij")
    dy, dx = np.cos(line.angle), np.sin(line.angle)
    return y * dy + x * dx, -y * dx + x * dy


def _head(line: Midline, slices: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A stack of slices symmetric about `line`: an ellipse with a bright rim, two ventricles
    and a midline stripe (falx), and mild symmetric texture; its body masks."""
    rng = np.random.default_rng(seed)
    along, across = _frame(line)
    images, bodies = [], []
    for k in range(slices):
        ry, rx = 26 - k, 20 - 0.7 * k
        r = (along / ry) ** 2 + (across / rx) ** 2
        body = r < 1
        image = np.where(body, 0.45, 0.0)
        image = np.where(body & (r > 0.8), 1.2, image)  # skull
        ventricle = ((along + 4) / 8) ** 2 + ((np.abs(across) - 5) / 2.5) ** 2 < 1
        image = np.where(ventricle, 0.1, image)
        image = np.where(body & (np.abs(across) < 0.8) & (np.abs(along) > 8), 0.8, image)
        bumps = rng.normal(0, 1, 5)  # texture symmetric in |across|
        texture = sum(
            b * np.cos((i + 1) * along / 6 + np.abs(across) / (3 + i)) for i, b in enumerate(bumps)
        )
        images.append(np.where(body, image + 0.02 * texture, 0.0))
        bodies.append(body)
    return np.asarray(images, np.float32), np.asarray(bodies)


@pytest.mark.parametrize("angle_deg, offset", [(8.0, 3.0), (-11.0, -2.5), (0.0, 0.0)])
def test_estimate_recovers_a_known_rotation_and_shift(angle_deg, offset):
    truth = Midline(np.radians(angle_deg), offset)
    images, body = _head(truth)
    line = estimate_midline(images, body)
    assert abs(np.degrees(line.angle) - angle_deg) <= 1.0
    assert abs(line.offset - offset) <= 0.5
    assert line.fit > 0.9


def test_reflect_about_the_centre_line_is_the_left_right_flip_and_an_involution():
    stack, _ = _head(Midline(np.radians(-5.0), 1.0), slices=2)
    np.testing.assert_array_equal(reflect(stack, Midline()), stack[..., ::-1])
    line = Midline(np.radians(9.0), 2.0)
    twice = reflect(reflect(stack, line), line)
    inner = np.s_[:, 12:-12, 12:-12]  # away from the border, where the mirror leaves the slice
    assert np.abs(twice - stack)[inner].mean() < 0.2 * np.abs(stack - stack.mean())[inner].mean()


def test_mirror_about_the_midline_cancels_a_symmetric_structure_but_not_a_one_sided_bleed():
    truth = Midline(np.radians(10.0), 3.0)
    images, body = _head(truth, slices=4)
    along, across = _frame(truth)
    falx = (np.abs(across) < 1.0) & (np.abs(along) > 8)  # residual on the midline
    pair = (np.abs(np.abs(across) - 9) < 1.5) & (np.abs(along - 10) < 2)  # symmetric pair
    bleed = ((across + 9) ** 2 + (along + 12) ** 2) < 9  # one side only
    diff = np.zeros(images.shape, np.float32)
    diff[:] = 0.3 * (falx | pair)
    diff[:, bleed] += 0.3
    line = estimate_midline(images, body)
    about_line = mirror_residual(diff, 1.0, line, spread=1)
    about_centre = mirror_residual(diff, 1.0, None, spread=1)
    assert about_line[:, falx | pair].mean() < 0.01
    assert about_line[:, bleed].mean() > 0.8 * 0.3
    assert about_centre[:, falx].mean() > 0.3 * 0.3  # the crop's centre line misses the tilt
    # without the spread, the thin falx mirrored between pixels only partly cancels
    assert mirror_residual(diff, 1.0, line)[:, falx].mean() > about_line[:, falx].mean()


def test_pick_slices_keeps_the_big_middle_of_the_head():
    body = np.zeros((30, 8, 8), dtype=bool)
    for z, side in enumerate(np.r_[np.arange(1, 9), np.full(14, 8), np.arange(8, 0, -1)]):
        body[z, :side, :side] = True
    picked = pick_slices(body)
    assert 0 < picked.size <= 16
    areas = body.reshape(30, -1).sum(1)
    assert (areas[picked] >= 0.5 * areas.max()).all()
    assert pick_slices(np.zeros((3, 8, 8), bool)).size == 0


@pytest.fixture(scope="module")
def head_model():
    from ctviewer import paths
    from ctviewer.model.checkpoint import load_model

    path = paths.default_model_path().with_name("head_ct.pt")
    if not path.is_file():
        pytest.skip(f"bundled head model {path} absent: run scripts/train_head_model.py")
    return load_model(path, device="cpu")


def test_head_phantom_midline_follows_its_pose_and_detect_agrees_with_score_volume(head_model):
    import copy
    from dataclasses import replace

    from ctviewer.pipeline import detect, score_volume, volume_midline
    from ctviewer.synth.head import HeadAnatomy, make_head_phantom

    seed = 2001
    phantom = make_head_phantom(seed=seed, n_slices=8, size=128)
    pose = HeadAnatomy.sample(np.random.default_rng([seed, 7])).angle
    assert not head_model.scoring.midline and volume_midline(phantom, head_model) is None
    model = copy.copy(head_model)
    model.scoring = replace(model.scoring, mirror=1.0, midline=True, mirror_px=1)
    line = volume_midline(phantom, model)
    # the phantom turns its coordinates by `pose`: the head turns the other way on the image
    assert abs(np.degrees(line.angle + pose)) <= 1.5 and abs(np.degrees(pose)) > 5
    assert detect(phantom, model).score == pytest.approx(score_volume(phantom, model)[0], abs=1e-6)
