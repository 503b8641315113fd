"""Window/level presets and the default window of a volume.

Shipped presets are `resources/window_presets.json`; a user's own (added from the viewer's current
W/L, renamed, deleted) are a file of the same format in the user data folder. Together they are
`all_presets()`, number keys 1–9 in order. Qt-free: the viewer, `ctviewer snapshot` and the report
all window images the same way. A window is `(center, width)`, the DICOM convention.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ctviewer.errors import InputError
from ctviewer.paths import resources_dir, user_data_dir
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


def user_presets_path() -> Path:
    return user_data_dir() / "window_presets.json"


def load_user_presets() -> tuple[WindowPreset, ...]:
    """The user's own presets (none when the file is absent)."""
    path = user_presets_path()
    if not path.exists():
        return ()
    return load_presets.__wrapped__(path)  # the file changes while the viewer runs: no cache


def save_user_presets(presets: list[WindowPreset] | tuple[WindowPreset, ...]) -> None:
    """Write the user's presets (written whole, then moved into place)."""
    entries = [{"name": p.name, "label": p.label, "center": p.center, "width": p.width,
                "body_part": p.body_part} for p in presets]  # fmt: skip
    path = user_presets_path()
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({"presets": entries}, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError as error:
        raise InputError(
            f"cannot save your window presets ({error.strerror or error})", path
        ) from None


def all_presets() -> tuple[WindowPreset, ...]:
    """Shipped then user presets; the first nine get the number keys 1–9, in this order."""
    merged = (*load_presets(), *load_user_presets())
    return tuple(replace(p, key=str(i + 1) if i < 9 else "") for i, p in enumerate(merged))


def add_user_preset(label: str, window: tuple[float, float]) -> WindowPreset:
    """A new user preset at `window` (center, width) called `label`."""
    label = label.strip()
    if not label:
        raise InputError("a preset needs a name")
    if window[1] <= 0:
        raise InputError("a preset needs a positive width")
    taken = {p.name for p in all_presets()}
    base = "user-" + "-".join(label.lower().split())
    name = next(n for n in (base, *(f"{base}-{i}" for i in range(2, 999))) if n not in taken)
    preset = WindowPreset(name, label, float(window[0]), float(window[1]), "", "any")
    save_user_presets([*load_user_presets(), preset])
    return preset


def rename_user_preset(name: str, label: str) -> None:
    if not label.strip():
        raise InputError("a preset needs a name")
    save_user_presets([replace(p, label=label.strip()) if p.name == name else p
                       for p in load_user_presets()])  # fmt: skip


def delete_user_preset(name: str) -> None:
    save_user_presets([p for p in load_user_presets() if p.name != name])


def get_preset(name: str) -> WindowPreset:
    """The preset called `name` (case-insensitive); InputError listing the known ones if none."""
    presets = all_presets()
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
