"""Progress callbacks and cancel flags shared by every long job (load, train, detect, learn).

A long job takes `progress: ProgressFn | None` and `cancel: CancelFlag | None`. It calls
`report(progress, fraction, message)` now and then and `check_cancel(cancel)` between units of
work; the UI wraps the job in a worker thread, the CLI in a progress line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from ctviewer.errors import Cancelled

ProgressFn = Callable[[float, str], None]
"""Called with a fraction in [0, 1] and a short message."""


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


def new_cancel_flag() -> threading.Event:
    """A thread-safe flag; `set()` it from any thread to ask the job to stop."""
    return threading.Event()


def report(progress: ProgressFn | None, fraction: float, message: str = "") -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def check_cancel(cancel: CancelFlag | None) -> None:
    """Raise `Cancelled` if the flag was set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def subrange(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    """Map a sub-job's progress [0, 1] onto [start, end] of the caller's."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * fraction, message)
