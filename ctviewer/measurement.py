"""Reading-room measurements on an axial slice: length and ROI statistics, Qt-free.

A `Measurement` is what the user drew (kind, slice, two points in pixel coordinates); `measure`
turns it into numbers on the volume it was drawn on. Viewer, store and reports share these.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctviewer.volume import Volume

KINDS = ("length", "ellipse", "rectangle")


@dataclass
class Measurement:
    """A length (two end points) or an ROI (two opposite corners of its bounding box).

    `points_yx` are (row, column) pixel positions on axial slice `slice_index` (0-based); sub-pixel
    values are allowed. `values` holds what `measure` computed (see there).
    """

    kind: str
    slice_index: int
    points_yx: tuple[tuple[float, float], tuple[float, float]]
    label: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    values: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown measurement kind {self.kind!r} (expected one of {KINDS})")
        (y0, x0), (y1, x1) = self.points_yx
        self.points_yx = ((float(y0), float(x0)), (float(y1), float(x1)))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "slice_index": self.slice_index,
            "points_yx": [list(p) for p in self.points_yx],
            "label": self.label,
            "values": dict(self.values),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        (a, b) = data["points_yx"]
        return cls(
            kind=data["kind"],
            slice_index=int(data["slice_index"]),
            points_yx=((a[0], a[1]), (b[0], b[1])),
            label=data.get("label", ""),
            id=data.get("id") or uuid.uuid4().hex[:12],
            values={k: float(v) for k, v in data.get("values", {}).items()},
        )

    def summary(self, spacing_known: bool = True) -> str:
        """One line for panels and reports, e.g. `length 12.3 mm` or `ellipse mean 41.2 HU ...`."""
        names = ("length", "mean", "sd", "min", "max", "area")
        v = {k: self.values.get(k, float("nan")) for k in names}
        unit = "mm" if spacing_known else "px"
        if self.kind == "length":
            return f"length {v['length']:.1f} {unit}"
        return (
            f"{self.kind} mean {v['mean']:.1f} sd {v['sd']:.1f} min {v['min']:.0f} "
            f"max {v['max']:.0f} area {v['area']:.1f} {unit}²"
        )


def roi_mask(kind: str, points_yx, shape_yx: tuple[int, int]) -> np.ndarray:
    """Pixels whose centres lie inside the ellipse or rectangle spanned by the two corners."""
    (y0, x0), (y1, x1) = points_yx
    top, bottom = sorted((y0, y1))
    left, right = sorted((x0, x1))
    yy, xx = np.mgrid[0 : shape_yx[0], 0 : shape_yx[1]].astype(np.float64)
    if kind == "rectangle":
        return (yy >= top) & (yy <= bottom) & (xx >= left) & (xx <= right)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    ry, rx = max((bottom - top) / 2, 1e-6), max((right - left) / 2, 1e-6)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def measure(volume: Volume, m: Measurement) -> Measurement:
    """Fill `m.values` from the volume: `length` (mm, or px without known spacing), or the ROI's
    `mean`, `sd`, `min`, `max` (HU, or the image's own units for 8-bit), `area` (mm² or px²) and
    `pixels`. Returns `m`."""
    if not 0 <= m.slice_index < volume.n_slices:
        raise ValueError(f"slice {m.slice_index + 1} is outside the series (1–{volume.n_slices})")
    sy, sx = (volume.spacing[1], volume.spacing[2]) if volume.spacing_known else (1.0, 1.0)
    (y0, x0), (y1, x1) = m.points_yx
    if m.kind == "length":
        m.values = {"length": math.hypot((y1 - y0) * sy, (x1 - x0) * sx)}
        return m
    image = volume.array[m.slice_index]
    inside = roi_mask(m.kind, m.points_yx, image.shape)
    pixels = image[inside].astype(np.float64)
    if pixels.size == 0:
        m.values = {"pixels": 0.0, "area": 0.0}
        return m
    m.values = {
        "mean": float(pixels.mean()),
        "sd": float(pixels.std()),
        "min": float(pixels.min()),
        "max": float(pixels.max()),
        "area": float(pixels.size * sy * sx),
        "pixels": float(pixels.size),
    }
    return m


def roi_window(m: Measurement) -> tuple[float, float]:
    """(center, width) spanning the ROI's values from min to max (ROI-based auto window/level);
    ValueError for a length or an ROI without pixels."""
    if m.kind == "length" or not m.values.get("pixels"):
        raise ValueError("window from an ROI needs an ROI with pixels inside")
    low, high = m.values["min"], m.values["max"]
    width = max(high - low, 1e-3)
    return (low + width / 2, width)
