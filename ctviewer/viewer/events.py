"""Change events: plain-Python callbacks, so the model is tested without a display."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """A list of callbacks called in order with the emitted values."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class ViewerEvents:
    """The model's events; each says what changed and carries the new value."""

    def __init__(self) -> None:
        self.study = Event()  # StudyIndex | None
        self.volume = Event()  # Volume | None
        self.result = Event()  # Result | None
        self.window = Event()  # (center, width)
        self.position = Event()  # (z, y, x) voxel the three planes go through
        self.selection = Event()  # Finding | None
        self.decisions = Event()  # Decisions of the shown result
        self.measurements = Event()  # list[Measurement] of the shown series
        self.oblique = Event()  # the oblique MPR plane's angle (degrees)
        self.display = Event()  # display options changed (de-identified)
