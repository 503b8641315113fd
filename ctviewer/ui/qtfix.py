"""Guard against a PySide6 refcount bug: in PySide6 6.12.0 (with CPython 3.11) every Python-side
`Signal.emit()` drops one reference to `True` without taking it. pyqtgraph emits from Python on
every mouse move and image change, so after a few thousand emits CPython aborts with
"Fatal Python error: bool_dealloc". Measured here: 100 emits → refcount(True) − 100.

If (and only if) the running PySide6 shows the leak, we hold a reserve of references to `True`
and top it up once a second; each leaked emit then costs 8 bytes instead of a crash. The reserve
lists are never freed (one extra reference each), or their release at exit would hit the same
abort.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

RESERVE_MIN = 1_000_000  # references to keep in hand: far more than emits in one second


class _Probe(QObject):
    fired = Signal()


def emit_leaks_true() -> bool:
    """Whether a plain emit here loses a reference to True."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(10):
        probe.fired.emit()
    return sys.getrefcount(True) < before


LEAKS = emit_leaks_true()


def top_up() -> None:
    deficit = RESERVE_MIN - sys.getrefcount(True)
    if LEAKS and deficit > 0:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object([True] * deficit))  # kept to the end


def install(app: QCoreApplication) -> None:
    """Keep the reserve topped up for the life of `app` (no-op where PySide6 does not leak)."""
    top_up()
    if LEAKS and app.property("ctviewerBoolGuard") is None:
        timer = QTimer(app)
        timer.setInterval(1000)
        timer.timeout.connect(top_up)
        timer.start()
        app.setProperty("ctviewerBoolGuard", True)


top_up()  # importing ctviewer.ui already protects short-lived uses (tests, snapshots)
