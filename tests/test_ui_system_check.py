"""What `ctviewer open` / `demo` (and so `python3 run.py demo`) check before Qt starts: a
display, and the system libraries Qt's platform plugin loads, each named with its package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ctviewer.ui import system_check
from ctviewer.ui.system_check import (
    XCB_LIBRARIES,
    SystemSetupError,
    check_viewer_can_start,
    qt_platform,
)

ROOT = Path(__file__).resolve().parents[1]
X11 = {"DISPLAY": ":0"}
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux check")


def everything_but(*absent: str):
    return lambda soname: soname not in absent


@linux_only
def test_missing_xcb_libraries_give_one_apt_get_line(monkeypatch) -> None:
    monkeypatch.setattr(system_check.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(system_check.os, "geteuid", lambda: 1000)
    lookup = everything_but("libxcb-keysyms.so.1", "libxcb-icccm.so.4", "libxcb-cursor.so.0")
    with pytest.raises(SystemSetupError) as caught:
        check_viewer_can_start(X11, lookup)
    text = str(caught.value)
    assert "\n" not in text and "libxcb-icccm.so.4" in text
    assert text.endswith("sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")


@linux_only
def test_root_gets_no_sudo_and_without_apt_the_libraries_are_named(monkeypatch) -> None:
    monkeypatch.setattr(system_check.os, "geteuid", lambda: 0)
    lookup = everything_but("libGL.so.1", "libglib-2.0.so.0", "libgthread-2.0.so.0")
    monkeypatch.setattr(system_check.shutil, "which", lambda name: f"/usr/bin/{name}")
    with pytest.raises(SystemSetupError, match=r": apt-get install -y libgl1 libglib2.0-0$"):
        check_viewer_can_start(X11, lookup)
    monkeypatch.setattr(system_check.shutil, "which", lambda name: None)
    with pytest.raises(SystemSetupError, match="libGL.so.1, libglib-2.0.so.0") as caught:
        check_viewer_can_start(X11, lookup)
    assert "apt-get" not in str(caught.value)


@linux_only
def test_offscreen_and_wayland_do_not_need_the_xcb_libraries() -> None:
    no_xcb = everything_but(*XCB_LIBRARIES)
    check_viewer_can_start({"QT_QPA_PLATFORM": "offscreen"}, no_xcb)  # the tests' platform
    check_viewer_can_start({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, no_xcb)
    with pytest.raises(SystemSetupError):
        check_viewer_can_start({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}, no_xcb)


@linux_only
def test_no_display_is_one_line_whatever_the_libraries() -> None:
    for environ in ({}, {"QT_QPA_PLATFORM": "xcb"}):
        with pytest.raises(SystemSetupError, match="no display") as caught:
            check_viewer_can_start(environ, lambda soname: False)
        assert "\n" not in str(caught.value)
    assert qt_platform({"QT_QPA_PLATFORM": "wayland;xcb"}) == "wayland"


def test_every_library_the_installed_xcb_plugin_links_to_is_listed() -> None:
    """Guards the table against a PySide6 upgrade: ldd on the real plugin names nothing
    outside Qt's own, the C runtime and the libraries listed (or what their packages pull in)."""
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt/plugins/platforms/libqxcb.so"
    if not plugin.is_file() or shutil.which("readelf") is None:
        pytest.skip("needs Linux PySide6 wheels and readelf")
    qt = [plugin, *sorted((plugin.parents[2] / "lib").glob("libQt6*.so.6"))]
    used = {"libQt6XcbQpa.so.6", "libQt6Gui.so.6", "libQt6Core.so.6", "libQt6Widgets.so.6",
            "libQt6DBus.so.6", "libQt6OpenGL.so.6", "libQt6Svg.so.6"}  # fmt: skip
    needed = set()
    for library in (lib for lib in qt if lib == plugin or lib.name in used):
        dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True)
        needed |= {line.split("[")[1].rstrip("]") for line in dynamic.stdout.splitlines()
                   if "(NEEDED)" in line}  # fmt: skip
    c_runtime = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                 "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "libzstd.so.1",
                 "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}  # fmt: skip
    listed = set(system_check.QT_LIBRARIES) | set(XCB_LIBRARIES)
    unknown = {n for n in needed - listed - c_runtime if not n.startswith(("libQt6", "libicu"))}
    assert not unknown


@linux_only
@pytest.mark.parametrize("command", ["demo", "open"])
def test_viewer_without_a_display_says_so_in_one_line(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in
           ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    env.update(PYTHONPATH=str(ROOT), CTVIEWER_HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "ctviewer", command], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "no display" in done.stderr
    assert "qt.qpa" not in done.stderr and "Traceback" not in done.stderr
