"""What the viewer needs from the system before Qt starts: a display, and the shared libraries
that the PySide6 wheels do not bundle. Qt-free, so that it runs (and fails with one line) before
PySide6 is imported; without it Qt aborts with a page of plugin errors.

The tables list what PySide6 6.11's libraries link to directly (`readelf -d` on libQt6Core,
Gui, Widgets, DBus, OpenGL, Svg, and for X11 on plugins/platforms/libqxcb.so and
libQt6XcbQpa.so.6); each one's Debian package pulls in the rest (libxcb1, libXau, ...).
The package names are Debian 12's and Ubuntu's; on Debian 13 apt picks the renamed `t64`
packages by itself, as they provide the old names.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from collections.abc import Callable, Mapping

from ctviewer.errors import CTViewerError

QT_LIBRARIES = {  # loaded by QtGui / QtWidgets on any platform, offscreen (the tests) included
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}
XCB_LIBRARIES = {  # Qt's X11 ("xcb") platform plugin; a window on X11 or XWayland needs them
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
NO_DISPLAY = (
    "no display to open the viewer on (DISPLAY and WAYLAND_DISPLAY are unset): start it in a "
    "desktop session (or ssh -X), or render a view without a window with "
    "`ctviewer snapshot PATH --out FILE.png`"
)


class SystemSetupError(CTViewerError):
    """The machine lacks something the viewer's window needs (a display, a system library)."""


def can_load(soname: str) -> bool:
    """Whether the dynamic loader finds `soname`, as Qt's loader would (ld.so cache,
    LD_LIBRARY_PATH)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def qt_platform(environ: Mapping[str, str]) -> str | None:
    """The Qt platform plugin the viewer would start with: QT_QPA_PLATFORM's first choice,
    else `wayland` or `xcb` after the session's display; None when there is no display."""
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0]
    if environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    if environ.get("DISPLAY"):
        return "xcb"
    return None


def needed_libraries(platform: str) -> dict[str, str]:
    """soname → Debian package of what Qt loads to start on `platform`."""
    return {**QT_LIBRARIES, **(XCB_LIBRARIES if platform == "xcb" else {})}


def install_command(packages: list[str], as_root: bool) -> str:
    """The one line that installs `packages` (sudo unless already root)."""
    return ("" if as_root else "sudo ") + "apt-get install -y " + " ".join(packages)


def missing_libraries_message(missing: dict[str, str], has_apt: bool, as_root: bool) -> str:
    """One line naming what is missing and, where apt exists, the command that installs it."""
    names = ", ".join(missing)
    if not has_apt:
        return f"the viewer needs system libraries that are missing: {names}; install them"
    packages = sorted(set(missing.values()))
    return (
        f"the viewer needs system libraries that are missing ({names}); "
        f"install them with: {install_command(packages, as_root)}"
    )


def check_viewer_can_start(
    environ: Mapping[str, str] | None = None,
    loadable: Callable[[str], bool] = can_load,
) -> None:
    """Raise SystemSetupError (one line) if Qt could not open the viewer's window here: no
    display, or system libraries its platform plugin needs are missing. Linux only: the
    wheels for other systems bring what they need."""
    if not sys.platform.startswith("linux") or getattr(sys, "frozen", False):
        return  # a frozen build loads the libraries it carries, which this lookup cannot see
    environ = os.environ if environ is None else environ
    platform = qt_platform(environ)
    if platform is None or (platform == "xcb" and not environ.get("DISPLAY")):
        raise SystemSetupError(NO_DISPLAY)
    missing = {
        soname: package
        for soname, package in needed_libraries(platform).items()
        if not loadable(soname)
    }
    if missing:
        has_apt = shutil.which("apt-get") is not None
        raise SystemSetupError(missing_libraries_message(missing, has_apt, os.geteuid() == 0))
