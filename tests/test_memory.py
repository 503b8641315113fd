"""lazy_zeros: zeros that take memory only where written (no 2 MB transparent huge pages)."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest

from ctviewer.memory import LAZY_BYTES, lazy_zeros


def test_lazy_zeros_are_writable_zeros_of_the_shape_and_type() -> None:
    for shape, dtype in [((3, 4), np.float32), ((40, 256, 256), np.float16)]:
        array = lazy_zeros(shape, dtype)
        assert array.shape == shape and array.dtype == dtype and not array.any()
        array[1, 2] = 5
        assert array[1, 2].max() == 5 and array.sum() == 5 * np.prod(array.shape[2:])


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_NOHUGEPAGE"),
    reason="page accounting read from Linux /proc",
)
def test_one_value_per_slice_takes_one_page_per_slice() -> None:
    slices, side = 64, 1024  # 2 MB float16 slices: one huge page each if it were given
    array = lazy_zeros((slices, side, side), np.float16)
    assert array.nbytes >= LAZY_BYTES
    before = _rss_kb()
    array[:, side // 2, 0] = 1.0
    assert _rss_kb() - before < slices * 64  # 4 KB pages, far from 64 × 2 MB
    assert array.sum() == slices
