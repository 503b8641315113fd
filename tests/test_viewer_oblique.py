"""Oblique MPR sampling (Qt-free): 0° and 90° are the coronal and sagittal planes, other angles
interpolate a linear ramp exactly along the plane's trace."""

from __future__ import annotations

import numpy as np
import pytest

from ctviewer.render import plane
from ctviewer.viewer import ViewerModel
from ctviewer.viewer.oblique import oblique_plane, spacing, trace
from ctviewer.volume import Volume


def ramp_volume(spacing_zyx=(2.0, 0.6, 0.6), direction=None) -> Volume:
    zz, yy, xx = np.mgrid[0:10, 0:40, 0:50].astype(np.float32)
    array = 100 * zz + 3 * yy + xx
    return Volume(array=array, spacing=spacing_zyx, direction=direction if direction is not None
                  else np.eye(3))  # fmt: skip


@pytest.mark.parametrize("flip", [False, True], ids=["feet-first", "head-first"])
def test_zero_and_ninety_degrees_are_coronal_and_sagittal(flip: bool) -> None:
    direction = np.diag([1.0, 1.0, -1.0]) if flip else np.eye(3)
    volume = ramp_volume(direction=direction)
    voxel = (4, 17, 23)
    coronal = oblique_plane(volume, volume.array, voxel, 0.0)
    np.testing.assert_allclose(coronal, plane(volume, volume.array, "coronal", 17), atol=1e-3)
    sagittal = oblique_plane(volume, volume.array, voxel, 90.0)
    np.testing.assert_allclose(sagittal, plane(volume, volume.array, "sagittal", 23), atol=1e-3)
    assert spacing(volume) == (2.0, 0.6)


def test_oblique_angles_follow_the_trace_through_the_voxel() -> None:
    volume = ramp_volume(spacing_zyx=(2.0, 0.5, 0.8))
    voxel = (3, 20, 25)
    points = trace(volume, voxel, 30.0)
    steps_mm = np.hypot(np.diff(points[:, 0]) * 0.5, np.diff(points[:, 1]) * 0.8)
    np.testing.assert_allclose(steps_mm, 0.5, rtol=1e-6)  # square in-plane steps, mm
    direction = np.diff(points, axis=0)[0] * (0.5, 0.8)
    assert np.degrees(np.arctan2(direction[0], direction[1])) == pytest.approx(30.0)
    centre = np.argmin(np.hypot(points[:, 0] - 20, points[:, 1] - 25))
    assert np.allclose(points[centre], (20, 25))  # the plane goes through the voxel
    image = oblique_plane(volume, volume.array, voxel, 30.0)
    rows_z = np.arange(10)[::-1, None]  # head up: slice 9 (superior here) is the top row
    expected = 100 * rows_z + 3 * points[:, 0] + points[:, 1]
    np.testing.assert_allclose(image, expected, atol=1e-3)  # linear interpolation is exact here
    labels = np.zeros(volume.shape, np.int32)
    labels[:, 18:23, 23:28] = 7
    nearest = oblique_plane(volume, labels, voxel, 30.0, order=0)
    assert nearest.dtype == np.int32 and set(np.unique(nearest)) == {0, 7}


def test_turning_the_plane_wraps_and_tells_listeners() -> None:
    model = ViewerModel()
    seen = []
    model.events.oblique.connect(seen.append)
    model.turn_oblique(170.0)
    model.turn_oblique(30.0)
    assert model.oblique_angle == pytest.approx(-160.0) and seen == [170.0, pytest.approx(-160.0)]


def test_a_float16_map_is_sampled_like_its_float32_copy() -> None:
    rng = np.random.default_rng(2)
    volume = Volume(array=np.zeros((70, 30, 40), np.float32), spacing=(2.0, 0.8, 0.6))
    heat = rng.random(volume.shape).astype(np.float16)  # detect's map: 70 slices, 3 slabs
    for angle in (0.0, 33.0, 90.0):
        half = oblique_plane(volume, heat, (35, 12, 20), angle)
        full = oblique_plane(volume, heat.astype(np.float32), (35, 12, 20), angle)
        assert half.dtype == np.float16 and np.array_equal(half, full.astype(np.float16))
