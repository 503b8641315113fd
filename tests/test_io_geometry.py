"""Slice order, spacing, direction and warnings from positions alone (no files needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctviewer.io.geometry import stack_geometry
from ctviewer.io.headers import Frame

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def frames_at(zs: list[float], orientation=AXIAL, shear_y: float = 0.0) -> list[Frame]:
    """Frames at the given z positions; instance numbers deliberately run backwards."""
    return [
        Frame(
            path=f"f{i}",
            index=None,
            rows=4,
            cols=4,
            position=(0.0, shear_y * z, z),
            orientation=orientation,
            pixel_spacing=(0.5, 0.7),
            instance=len(zs) - i,
        )
        for i, z in enumerate(zs)
    ]


def test_sorted_by_position_not_instance() -> None:
    frames = frames_at([10.0, 0.0, 5.0, 2.5, 7.5])
    geometry = stack_geometry(frames)
    assert [frames[i].position[2] for i in geometry.order] == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert geometry.spacing == pytest.approx((2.5, 0.5, 0.7))
    assert geometry.origin == (0.0, 0.0, 0.0)
    assert np.allclose(geometry.direction, np.eye(3))
    assert geometry.warnings == []


def test_missing_slice_says_where() -> None:
    geometry = stack_geometry(frames_at([0.0, 1.0, 2.0, 4.0, 5.0]))
    assert geometry.spacing[0] == pytest.approx(1.0)
    (warning,) = geometry.warnings
    assert "missing slice" in warning
    assert "between slices 3 and 4" in warning  # numbered from 1, as the viewer shows them
    assert "about 1 missing" in warning


def test_non_uniform_spacing() -> None:
    geometry = stack_geometry(frames_at([0.0, 1.0, 2.0, 3.7, 9.0]))
    assert any("non-uniform" in w for w in geometry.warnings)
    assert geometry.spacing[0] == pytest.approx(9.0 / 4)  # mean step keeps the extent


def test_gantry_tilt_degrees_and_exact_positions() -> None:
    tilt = 15.0
    zs = [0.0, 1.0, 2.0, 3.0]
    frames = frames_at(zs, shear_y=math.tan(math.radians(tilt)))
    geometry = stack_geometry(frames)
    assert any(f"gantry tilt {tilt:.1f}°" in w for w in geometry.warnings)
    # the z axis follows the sheared stack so index → mm stays exact
    for k, position in enumerate(geometry.positions):
        offset = geometry.direction @ np.array([0.0, 0.0, k * geometry.spacing[0]])
        assert np.allclose(np.array(geometry.origin) + offset, position)


def test_reversed_orientation_sorts_along_normal() -> None:
    flipped = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # normal points to -z
    frames = frames_at([0.0, 5.0, 10.0], orientation=flipped)
    geometry = stack_geometry(frames)
    assert [frames[i].position[2] for i in geometry.order] == [10.0, 5.0, 0.0]
    assert np.allclose(geometry.direction[:, 2], [0.0, 0.0, -1.0])


def test_without_positions_orders_by_instance() -> None:
    frames = frames_at([0.0, 1.0, 2.0])
    for frame in frames:
        frame.position = None
    geometry = stack_geometry(frames, thickness=3.0)
    assert [frames[i].instance for i in geometry.order] == [1, 2, 3]
    assert geometry.spacing[0] == 3.0
    assert any("instance number" in w for w in geometry.warnings)
