"""Where ctviewer keeps things: bundled resources and the per-user data folder.

`CTVIEWER_HOME` overrides the user data folder (tests point it at a tmp dir).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "ctviewer"


def resources_dir() -> Path:
    """The `resources/` folder: inside a PyInstaller bundle, else beside the package."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def user_data_dir() -> Path:
    """Feedback DB, trained models, the demo study and logs live here (created on demand)."""
    override = os.environ.get("CTVIEWER_HOME")
    if override:
        path = Path(override)
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_model_path() -> Path:
    """The bundled default model checkpoint."""
    return resources_dir() / "models" / "default.pt"


def models_dir() -> Path:
    """User-trained and incrementally-learned model versions."""
    path = user_data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pacs_cache_dir() -> Path:
    """Studies retrieved from PACS nodes (`pacs.cache`), apart from the user's own folders."""
    path = user_data_dir() / "pacs_cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def feedback_db_path() -> Path:
    return user_data_dir() / "feedback.sqlite"


def demo_study_dir() -> Path:
    return user_data_dir() / "demo_study"


def log_dir() -> Path:
    path = user_data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
