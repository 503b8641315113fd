"""Exceptions users can cause. Each carries a one-line message that names the file and the reason.

The CLI prints `str(error)` and exits non-zero; the UI shows it in the status bar or a dialog.
"""

from __future__ import annotations

from pathlib import Path


class CTViewerError(Exception):
    """Base of every error a user can cause; `str()` is one line, ready to show."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        text = f"{self.path}: {message}" if self.path else message
        super().__init__(" ".join(text.split()))  # always one line


class InputError(CTViewerError):
    """A file or folder cannot be read as an image we can show (corrupt, unsupported, empty)."""


class ModelError(CTViewerError):
    """A model checkpoint is missing, malformed, unsafe, or does not fit the input."""


class Cancelled(CTViewerError):
    """A long job stopped because its cancel flag was set; nothing half-written was kept."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
