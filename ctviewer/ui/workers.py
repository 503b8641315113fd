"""Long jobs off the GUI thread, napari-style: a function run on the global QThreadPool, with
progress, a cancel flag and errors relayed as signals (never raised in the worker thread).

The function must accept `progress=` and `cancel=` keyword arguments (the core's convention).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ctviewer.errors import Cancelled
from ctviewer.progress import new_cancel_flag

log = logging.getLogger(__name__)


class WorkerSignals(QObject):
    progress = Signal(float, str)
    finished = Signal(object)  # the function's return value
    failed = Signal(object)  # the exception
    cancelled = Signal()
    done = Signal()  # always last, whatever happened


class Worker(QRunnable):
    """Runs `fn(*args, progress=..., cancel=..., **kwargs)`; emit-only, so the GUI stays free."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the owner keeps it until `done`, so signals stay valid
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = WorkerSignals()
        self.cancel_flag = new_cancel_flag()
        self.running = True

    def cancel(self) -> None:
        self.cancel_flag.set()

    def run(self) -> None:
        try:
            value = self.fn(
                *self.args, progress=self._progress, cancel=self.cancel_flag, **self.kwargs
            )
        except Cancelled:
            self._emit(self.signals.cancelled)
        except Exception as error:  # relayed to the GUI thread, which decides how to show it
            log.debug("worker failed", exc_info=error)
            self._emit(self.signals.failed, error)
        else:
            if self.cancel_flag.is_set():
                self._emit(self.signals.cancelled)
            else:
                self._emit(self.signals.finished, value)
        finally:
            self.running = False
            self._emit(self.signals.done)

    def _progress(self, fraction: float, message: str) -> None:
        self._emit(self.signals.progress, float(fraction), str(message))

    def _emit(self, signal, *args) -> None:
        """Emit unless the receiving side is already gone (the app quit while we ran)."""
        try:
            signal.emit(*args)
        except RuntimeError:
            self.cancel_flag.set()


def start_worker(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_done: Callable[[], None] | None = None,
    **kwargs: Any,
) -> Worker:
    """Connect the callbacks (run in the GUI thread) and start `fn` on the global pool."""
    worker = Worker(fn, *args, **kwargs)
    for signal, slot in (
        (worker.signals.finished, on_result),
        (worker.signals.failed, on_error),
        (worker.signals.progress, on_progress),
        (worker.signals.cancelled, on_cancelled),
        (worker.signals.done, on_done),
    ):
        if slot is not None:
            signal.connect(slot)
    QThreadPool.globalInstance().start(worker)
    return worker


class Jobs(QObject):
    """A window's named background jobs: at most one current job per name; a newer job of the
    same name supersedes the older one (which should have been cancelled)."""

    changed = Signal()  # a job started or ended
    progress = Signal(str, float, str)  # label, fraction, message (jobs with a label only)
    failed = Signal(str, object)  # name, exception
    cancelled = Signal(str)  # name

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: dict[str, Worker] = {}
        self._labels: dict[str, str | None] = {}

    def start(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None],
        label: str | None = None,
    ) -> Worker:
        """Run `fn` on the pool; `label` marks a job the user sees (progress, Cancel)."""
        worker: Worker

        def done() -> None:
            if self._running.get(name) is worker:
                del self._running[name]
                self._labels.pop(name, None)
            self.changed.emit()

        def progress(fraction: float, message: str) -> None:
            if label:
                self.progress.emit(label, fraction, message)

        worker = start_worker(
            fn,
            *args,
            on_result=on_result,
            on_error=lambda error: self.failed.emit(name, error),
            on_progress=progress,
            on_cancelled=lambda: self.cancelled.emit(name),
            on_done=done,
        )
        self._running[name] = worker
        self._labels[name] = label
        self.changed.emit()
        return worker

    def cancel(self, names: tuple[str, ...] | None = None) -> None:
        """Ask running jobs (all, or those named) to stop; they end with `cancelled`."""
        for name, worker in list(self._running.items()):
            if names is None or name in names:
                worker.cancel()

    def is_running(self, name: str) -> bool:
        return name in self._running

    def visible(self) -> bool:
        """Whether a job the user sees is running."""
        return any(self._labels.values())
