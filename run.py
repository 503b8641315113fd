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
    if not PYTHON.exists():
        print(f"[setup] creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(
        "[setup] installing ctviewer and its pinned dependencies (first run takes a few minutes)",
        flush=True,
    )
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(fingerprint)
    print(f"[setup] done in {time.monotonic() - started:.0f} s", flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "ctviewer"}:
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "test":
        args = [str(PYTHON), "-m", "pytest", *rest]
    elif command == "demo":
        args = [str(PYTHON), "-m", "ctviewer", "demo", *rest]
    else:
        args = [str(PYTHON), "-m", "ctviewer", *rest]
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
