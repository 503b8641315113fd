"""Shared fixtures: an isolated user data dir, offscreen Qt, and the real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ("orthanc_fixture",)  # a real Orthanc PACS for the PACS tests

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def ctviewer_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own CTVIEWER_HOME so no test touches the real user data dir."""
    home = tmp_path_factory.mktemp("ctviewer_home")
    monkeypatch.setenv("CTVIEWER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the checkout; tests using it skip with a reason if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
