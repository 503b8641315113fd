"""Helpers every CLI command shares: a progress line on stderr and JSON output."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

BAR_CELLS = 20
LOG_INTERVAL_S = 5.0  # without a terminal: one line at most this often
ETA_AFTER_S = 2.0  # the first seconds say too little about the rate to guess the end


def format_duration(seconds: float) -> str:
    """`0:07`, `4:32`, `1:02:03`."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    """A `ProgressFn` for long commands, on stderr: on a terminal a redrawn bar
    `[████░░░░] 42% epoch 5/12 loss 0.0123 · ETA 2:10`; otherwise (a pipe, a log file) the same
    text as a new line every few seconds, so a long job is never silent. The ETA comes from the
    fraction done and the time since the first report, so every long job shows one."""

    def __init__(
        self,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self._start: tuple[float, float] | None = None  # (time, fraction) of the first report
        self._last_line_at: float | None = None
        self._drawn = 0  # characters of the bar on screen, to blank a shorter redraw

    def eta(self, fraction: float, now: float) -> float | None:
        """Seconds left at the rate since the first report; None while that says too little."""
        if self._start is None:
            return None
        t0, f0 = self._start
        if now - t0 < ETA_AFTER_S or fraction <= f0:
            return None
        return (now - t0) * (1.0 - fraction) / (fraction - f0)

    def text(self, fraction: float, message: str, now: float) -> str:
        """`42% message · ETA 2:10` (no ETA while it cannot be guessed, none when done)."""
        eta = self.eta(fraction, now) if fraction < 1.0 else None
        tail = f" · ETA {format_duration(eta)}" if eta is not None else ""
        return f"{fraction * 100:3.0f}% {message}{tail}"

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if self._start is None:
            self._start = (now, fraction)
        if self.tty:
            self._draw(fraction, message, now)
            return
        since = self._last_line_at if self._last_line_at is not None else self._start[0]
        if now - since >= LOG_INTERVAL_S:  # a quick command prints nothing, a long one a line
            self._last_line_at = now  # every few seconds
            self.stream.write(f"[{self.text(fraction, message, now)}]\n")
            self.stream.flush()

    def _draw(self, fraction: float, message: str, now: float) -> None:
        filled = round(BAR_CELLS * min(max(fraction, 0.0), 1.0))
        line = f"[{'█' * filled}{'░' * (BAR_CELLS - filled)}] {self.text(fraction, message, now)}"
        line = line[: shutil.get_terminal_size().columns - 1]  # a wrapped line cannot be redrawn
        self.stream.write("\r" + line.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(line)

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
