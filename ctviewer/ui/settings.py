"""Settings that persist between sessions, in an INI file in the user data dir.

An INI file in `paths.user_data_dir()` (not the platform registry) so that CTVIEWER_HOME isolates
tests and portable installs, and a user can read or delete it.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from ctviewer.paths import user_data_dir
from ctviewer.render import DEFAULT_OPACITY

MAX_RECENT = 8
DEVICES = ("auto", "cpu", "cuda", "mps")  # as model.device.DEVICE_CHOICES (no torch import here)
DEFAULTS = {
    "last_folder": "",
    "device": "auto",
    "auto_run": True,
    "overlay_opacity": DEFAULT_OPACITY,
    "overlay_visible": True,
    "reviewer": "",
    "colormap": "hot",
    "mpr": True,
    "cine_fps": 10.0,
    "corner_text": True,
    "deidentified_display": False,
}


class Settings:
    """Typed access to the viewer's persistent settings."""

    def __init__(self) -> None:
        path = user_data_dir() / "settings.ini"
        self._qs = QSettings(str(path), QSettings.Format.IniFormat)

    def get(self, key: str):
        default = DEFAULTS[key]
        value = self._qs.value(key, default)
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() == "true"
        if isinstance(default, float):
            try:
                return float(value)
            except (TypeError, ValueError):
                return default
        return str(value)

    def set(self, key: str, value) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self._qs.setValue(key, value)
        self._qs.sync()

    def recent(self) -> list[str]:
        value = self._qs.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def add_recent(self, path: str) -> None:
        recent = [path, *(p for p in self.recent() if p != path)][:MAX_RECENT]
        self._qs.setValue("recent", recent)
        self._qs.sync()
