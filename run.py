#!/usr/bin/env python3
"""One-command setup and launch: `python3 run.py demo` or `python3 run.py test`.

Creates `.venv` beside this file on first use (or when pyproject.toml/constraints.txt change),
installs ctviewer with the tested versions pinned in constraints.txt, then runs:

  demo            the viewer on the built-in synthetic demo study with the bundled model
  test [ARGS]     the whole test suite (pytest ARGS...)
  ctviewer ARGS   any ctviewer subcommand, e.g. `python3 run.py ctviewer info PATH`
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".ctviewer-setup"
NO_VENV = (
    "run.py: cannot create {venv}: this Python lacks venv/ensurepip; on Debian or Ubuntu install "
    "it with `sudo apt-get install -y python3-venv`, then run this command again"
)


# the tests open the viewer offscreen: Qt needs these system libraries even without a display
TEST_SYSTEM_CHECK = """
import sys
from ctviewer.errors import CTViewerError
from ctviewer.ui.system_check import check_viewer_can_start
try:
    check_viewer_can_start({"QT_QPA_PLATFORM": "offscreen"})
except CTViewerError as error:
    sys.exit(f"run.py: cannot run the tests here: {error}")
"""


class SetupError(Exception):
    """One line for the user; run.py prints it and exits 1 (never a traceback)."""


def create_environment() -> None:
    """A fresh `.venv` with pip; a half-made one (Debian without python3-venv creates the folder,
    then fails in ensurepip) is removed, so the next run starts clean."""
    try:
        import ensurepip  # noqa: F401 - Debian ships Python without it (package python3-venv)

        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    except (ImportError, OSError, subprocess.CalledProcessError, SystemExit) as error:
        # Debian's patched venv prints a paragraph and exits; Python's raises CalledProcessError
        shutil.rmtree(VENV, ignore_errors=True)
        raise SetupError(NO_VENV.format(venv=VENV)) from error
    if not _has_pip():
        shutil.rmtree(VENV, ignore_errors=True)
        raise SetupError(NO_VENV.format(venv=VENV))


def _has_pip() -> bool:
    check = [str(PYTHON), "-m", "pip", "--version"]
    try:
        return subprocess.run(check, capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def _pip(*args: str) -> None:
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    try:
        subprocess.run([*pip, *args], check=True)
    except subprocess.CalledProcessError as error:
        raise SetupError(
            f"run.py: installing ctviewer's dependencies failed (pip exit code {error.returncode}, "
            "its messages are above); check the network connection and run this command again"
        ) from error


def _setup_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create the virtual environment and install the project if it is missing or stale."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py runs on any python3
        sys.exit(f"ctviewer needs Python 3.11 or newer (this is {sys.version.split()[0]})")
    fingerprint = _setup_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    started = time.monotonic()
    if not PYTHON.exists() or not _has_pip():
        print(f"[setup] creating {VENV}", flush=True)
        create_environment()
    print(
        "[setup] installing ctviewer and its pinned dependencies (first run takes a few minutes)",
        flush=True,
    )
    _pip("--upgrade", "pip")
    _pip("-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[dev]")
    STAMP.write_text(fingerprint)
    print(f"[setup] done in {time.monotonic() - started:.0f} s", flush=True)


def test_system_problem() -> str:
    """The one line saying which system libraries the tests lack ("" when none)."""
    check = subprocess.run(
        [str(PYTHON), "-c", TEST_SYSTEM_CHECK], capture_output=True, text=True, check=False
    )
    if check.returncode == 0:
        return ""
    lines = check.stderr.strip().splitlines()
    return lines[-1] if lines else f"run.py: the system check failed (exit code {check.returncode})"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "ctviewer"}:
        print(__doc__)
        return 2
    try:
        ensure_environment()
    except SetupError as error:
        print(error, file=sys.stderr)
        return 1
    command, rest = argv[0], argv[1:]
    if command == "test":
        problem = test_system_problem()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        args = [str(PYTHON), "-m", "pytest", *rest]
    elif command == "demo":
        args = [str(PYTHON), "-m", "ctviewer", "demo", *rest]
    else:
        args = [str(PYTHON), "-m", "ctviewer", *rest]
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
