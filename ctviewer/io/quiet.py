"""Keep the codec libraries' own console output out of ours.

OpenJPEG, GDCM and ITK's VNL print to the process's stderr from C when they meet a broken file
(a corrupt JPEG 2000 series gives hundreds of "A marker ID was expected" lines, a NaN NIfTI
affine a page of matrices), around the one line our error says it in. While a reader runs,
file descriptor 2 points at /dev/null; Python's own `sys.stderr` (progress lines, our errors)
keeps writing to the real one. Nested and concurrent use (decode threads) share one redirect.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_python_stderr: object | None = None  # sys.stderr as it was, restored at the end


def _real_stderr_fd() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False  # replaced (pytest capture, a GUI without a console): leave it alone


def _mute() -> None:
    global _saved_fd, _python_stderr
    try:
        sys.stderr and sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):
        return
    if _real_stderr_fd():  # Python keeps the real stderr through a copy of the descriptor
        _python_stderr = sys.stderr
        sys.stderr = open(saved, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.dup2(null, 2)
    os.close(null)
    _saved_fd = saved


def _unmute() -> None:
    global _saved_fd, _python_stderr
    if _saved_fd is None:
        return
    if _python_stderr is not None:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = _python_stderr
        _python_stderr = None
    os.dup2(_saved_fd, 2)
    os.close(_saved_fd)
    _saved_fd = None


@contextmanager
def native_output_muted() -> Iterator[None]:
    """Drop what C libraries write to stderr inside the block (see the module docstring)."""
    global _depth
    with _lock:
        if _depth == 0:
            _mute()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _unmute()
