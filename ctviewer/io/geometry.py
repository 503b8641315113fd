"""Where the slices of a stack lie: order along the slice normal, spacing, direction, warnings.

Shared by discovery (headers only) and by the reader, so both say the same thing about a series.
Slices are sorted by ImagePositionPatient projected on the normal of the image plane (row × column
cosines), never by InstanceNumber. The z axis of the direction matrix runs from slice to slice: it
equals the normal, except under gantry tilt where it follows the sheared stack, so that
`Volume.index_to_mm` stays exact while the voxels are shown as acquired (not resampled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ctviewer.io.headers import Frame, Vec3

TILT_WARN_DEG = 0.5  # below this the stack is treated as orthogonal
DUPLICATE_MM = 1e-3
MAX_GAPS_LISTED = 3


@dataclass
class StackGeometry:
    order: list[int]  # indices into the frames, in slice order
    spacing: tuple[float, float, float]  # (z, y, x) mm
    origin: Vec3
    direction: np.ndarray  # 3×3, columns: x, y, z axes in LPS
    positions: list[Vec3] = field(default_factory=list)  # slice positions in slice order
    warnings: list[str] = field(default_factory=list)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    return _unit(np.cross(row, col))


def _spacing_warnings(
    d: np.ndarray, nominal: float, instances: list[int]
) -> tuple[list[str], bool]:
    """Missing slices (gaps that are whole multiples of the nominal step) and other irregularity;
    the flag says whether some steps are neither nominal nor whole multiples of it. Slices are
    numbered from 1 in the messages, as the viewer and the report number them."""
    steps = np.diff(d)
    tol = max(0.02, 0.02 * nominal)
    gaps = []
    irregular = []
    for i, step in enumerate(steps):
        if abs(step - nominal) <= tol:
            continue
        k = round(step / nominal)
        if k >= 2 and abs(step - k * nominal) <= tol * k:
            gaps.append(
                f"{step:.2f} mm gap between slices {i + 1} and {i + 2} (instances "
                f"{instances[i]} and {instances[i + 1]}, at {d[i]:.2f} and {d[i + 1]:.2f} mm "
                f"along the normal), about {k - 1} missing"
            )
        else:
            irregular.append(step)
    messages = [f"missing slices: {gap}" for gap in gaps[:MAX_GAPS_LISTED]]
    if len(gaps) > MAX_GAPS_LISTED:
        messages.append(f"missing slices: {len(gaps) - MAX_GAPS_LISTED} more gaps")
    if irregular:
        messages.append(
            f"non-uniform slice spacing: {steps.min():.2f}–{steps.max():.2f} mm "
            f"(median {nominal:.2f} mm)"
        )
    return messages, bool(irregular)


def stack_geometry(frames: list[Frame], thickness: float | None = None) -> StackGeometry:
    """Sort frames into slices and derive spacing, origin, direction and warnings."""
    first = frames[0]
    dy, dx = first.pixel_spacing or (1.0, 1.0)
    fallback_z = thickness if thickness and thickness > 0 else 1.0
    placed = all(f.position is not None and f.orientation is not None for f in frames)
    if not placed:
        order = sorted(range(len(frames)), key=lambda i: (frames[i].instance, i))
        notes = ["no slice positions: slices ordered by instance number"] if len(frames) > 1 else []
        direction = np.eye(3)
        if first.orientation is not None:
            row, col = np.array(first.orientation[:3]), np.array(first.orientation[3:])
            direction = np.column_stack([row, col, slice_normal(first.orientation)])
        origin = first.position or (0.0, 0.0, 0.0)
        return StackGeometry(order, (fallback_z, dy, dx), origin, direction, [], notes)

    normal = slice_normal(first.orientation)  # type: ignore[arg-type]
    row, col = np.array(first.orientation[:3]), np.array(first.orientation[3:])  # type: ignore[index]
    positions = np.array([f.position for f in frames], dtype=float)
    d_all = positions @ normal
    order = sorted(range(len(frames)), key=lambda i: (d_all[i], frames[i].instance))
    positions = positions[order]
    d = d_all[order]
    notes: list[str] = []
    if any(not np.allclose(f.orientation, first.orientation, atol=1e-3) for f in frames):
        notes.append("mixed image orientations in one stack")
    if len(frames) < 2:
        origin = tuple(float(v) for v in positions[0])
        direction = np.column_stack([row, col, normal])
        return StackGeometry(order, (fallback_z, dy, dx), origin, direction, [origin], notes)

    steps = np.diff(d)
    n_dup = int(np.sum(steps < DUPLICATE_MM))
    if n_dup:
        notes.append(f"{n_dup} slices share a position with another slice")
    distinct = steps[steps >= DUPLICATE_MM]
    nominal = float(np.median(distinct)) if distinct.size else fallback_z
    if distinct.size:
        instances = [frames[i].instance for i in order]
        messages, irregular = _spacing_warnings(d, nominal, instances)
        notes.extend(messages)
        if irregular:  # the mean step keeps the stack's overall extent right
            nominal = float(d[-1] - d[0]) / (len(d) - 1)
    stack = _unit(positions[-1] - positions[0])
    tilt = math.degrees(math.acos(min(1.0, abs(float(stack @ normal))))) if distinct.size else 0.0
    if tilt >= TILT_WARN_DEG:
        notes.append(
            f"gantry tilt {tilt:.1f}°: slices are sheared, shown as acquired (not resampled)"
        )
        axis_z = stack
        spacing_z = nominal / math.cos(math.radians(tilt))
    else:
        axis_z, spacing_z = normal, nominal
    direction = np.column_stack([row, col, axis_z])
    return StackGeometry(
        order,
        (spacing_z, dy, dx),
        tuple(float(v) for v in positions[0]),  # type: ignore[arg-type]
        direction,
        [tuple(float(v) for v in p) for p in positions],  # type: ignore[misc]
        notes,
    )
