"""Cine: step the active view through its slices at a frame rate, wrapping round at the end."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal


class Cine(QObject):
    playingChanged = Signal(bool)

    def __init__(self, step: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.step = step
        self.fps = 10
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.step)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def set_fps(self, fps: int) -> None:
        self.fps = max(1, int(fps))
        self.timer.setInterval(round(1000 / self.fps))

    def toggle(self) -> None:
        self.stop() if self.playing else self.play()

    def play(self) -> None:
        self.set_fps(self.fps)
        self.timer.start()
        self.playingChanged.emit(True)

    def stop(self) -> None:
        if self.playing:
            self.timer.stop()
            self.playingChanged.emit(False)
