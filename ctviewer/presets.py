"""Window/level presets (resources/window_presets.json) and the default window of a volume.

Qt-free: the viewer, `ctviewer snapshot` and the report all window images the same way.
A window is `(center, width)`, the DICOM convention, as in `Volume.window`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ctviewer.errors import InputError
from ctviewer.paths import resources_dir
from ctviewer.volume import Volume

PERCENTILES = (0.5, 99.5)  # percentile fit when the file has no window (3D Slicer's approach)


@dataclass(frozen=True)
class WindowPreset:
    name: str  # identifier used on the command line, e.g. "lung"
    label: str  # shown on buttons
    center: float
    width: float
    key: str  # number key in the viewer
    body_part: str

    @property
    def window(self) -> tuple[float, float]:
        return (self.center, self.width)


def presets_path() -> Path:
    return resources_dir() / "window_presets.json"


@lru_cache(maxsize=4)
def load_presets(path: Path | None = None) -> tuple[WindowPreset, ...]:
    """Read the presets file; a malformed file is an InputError naming it."""
    path = path or presets_path()
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))["presets"]
        presets = tuple(
            WindowPreset(
                name=str(e["name"]),
                label=str(e.get("label", e["name"])),
                center=float(e["center"]),
                width=float(e["width"]),
                key=str(e.get("key", "")),
                body_part=str(e.get("body_part", "any")),
            )
            for e in entries
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"cannot read window presets ({error})", path) from error
    if any(p.width <= 0 for p in presets):
        raise InputError("window presets need a positive width", path)
    return presets


def get_preset(name: str) -> WindowPreset:
    """The preset called `name` (case-insensitive); InputError listing the known ones if none."""
    presets = load_presets()
    for preset in presets:
        if preset.name.lower() == name.lower():
            return preset
    known = ", ".join(p.name for p in presets)
    raise InputError(f"unknown window preset {name!r} (known: {known})")


def default_window(volume: Volume) -> tuple[float, float]:
    """The file's own window if it has one, else a percentile fit of the pixel values."""
    if volume.window is not None and volume.window[1] > 0:
        return (float(volume.window[0]), float(volume.window[1]))
    sample = volume.array[:: max(1, volume.n_slices // 16)]  # a few slices are enough
    low, high = np.percentile(sample, PERCENTILES)
    width = float(high - low) if high > low else 1.0
    return (float(low) + width / 2, width)
