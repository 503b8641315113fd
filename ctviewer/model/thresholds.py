"""A model's thresholds for one series: the calibration nearest to the series' slice spacing.

The 3D blob measure responds to the slice spacing, so a map threshold calibrated on normals with
9.4 mm slices does not hold at 4.7 mm (FINDINGS.md, chest8). A checkpoint's top-level keys
(`threshold`, `pixel_threshold`, `seed_threshold`, `mass_threshold`, `calibration`) are its main
calibration; `spacing_calibrations` may add more, each the same keys plus `slice_mm`, made on
normals of that slice spacing, or `single_image` (made on single slices: a single image is
scored in 2D). A volume uses the calibration whose slice spacing is nearest to its own (on a log
scale: 6 mm is nearer 4.7 than 9.4; an added one before the main one at the same spacing); a
single image uses the single-image one, else the main one.
Recalibrating (`model.train.calibrate`) clears the extra ones: they belong to the network and
the calibration they were made with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ctviewer.volume import Volume

SPACING_KEY = "spacing_calibrations"
THRESHOLD_KEYS = ("threshold", "pixel_threshold", "seed_threshold", "mass_threshold")


@dataclass(frozen=True)
class Thresholds:
    """One calibration: the series threshold, the map threshold findings need, the level they
    grow down to and the mass that qualifies a region (None: not calibrated), and the normals'
    series scores; `slice_mm` is the slice spacing of those normals (None: not recorded), and
    `single_image` says they were single images."""

    series: float
    pixel: float
    seed: float | None = None
    mass: float | None = None
    normal_scores: tuple[float, ...] = ()
    slice_mm: float | None = None
    single_image: bool = False

    @classmethod
    def from_calibration(cls, data: dict) -> Thresholds:
        """From a checkpoint's top-level keys or one entry of `spacing_calibrations`."""
        calibration = data.get("calibration", {})
        slice_mm = data.get("slice_mm", calibration.get("slice_mm"))
        return cls(
            series=float(data.get("threshold", 0.0)),
            pixel=float(data.get("pixel_threshold", math.inf)),
            seed=_optional(data.get("seed_threshold")),
            mass=_optional(data.get("mass_threshold")),
            normal_scores=tuple(float(s) for s in calibration.get("normal_scores") or ()),
            slice_mm=_optional(slice_mm),
            single_image=bool(data.get("single_image", False)),
        )

    @property
    def label(self) -> str:
        """What its normals were, for results: "4.69 mm slices", "single images" or ""."""
        if self.single_image:
            return "single images"
        return f"{self.slice_mm:.3g} mm slices" if self.slice_mm else ""


def calibrations(metadata: dict) -> list[Thresholds]:
    """The main calibration, then those added per slice spacing."""
    extra = metadata.get(SPACING_KEY) or []
    return [Thresholds.from_calibration(metadata), *map(Thresholds.from_calibration, extra)]


def thresholds_for(metadata: dict, slice_mm: float | None) -> Thresholds:
    """The calibration whose slice spacing is nearest (log scale) to `slice_mm`; for a single
    image (`slice_mm` None) the single-image one; else, or when none has a spacing, the main one."""
    main, *extra = calibrations(metadata)
    if slice_mm is None or slice_mm <= 0:
        return next((c for c in extra if c.single_image), main)
    spaced = [c for c in (*extra, main) if c.slice_mm and not c.single_image]  # tie: an added one
    if not spaced:
        return main
    return min(spaced, key=lambda c: abs(math.log(slice_mm / c.slice_mm)))


def volume_slice_mm(volume: Volume) -> float | None:
    """The slice spacing a calibration is chosen by: None for a single image."""
    return float(volume.spacing[0]) if volume.n_slices > 1 else None


def normals_slice_mm(normals) -> float | None:
    """The median slice spacing of calibration normals (volumes), None if any is one image."""
    values = sorted(volume_slice_mm(v) or 0.0 for v in normals)
    if not values or values[0] <= 0:
        return None
    return round(values[len(values) // 2], 4)


def _optional(value) -> float | None:
    return None if value is None else float(value)
