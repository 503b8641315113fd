"""Large arrays that stay mostly unwritten (the display map, the label volume)."""

from __future__ import annotations

import mmap

import numpy as np

LAZY_BYTES = 4 << 20  # numpy asks for transparent huge pages from this size on


def lazy_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Zeros whose memory is taken only where written, 4 KB at a time: numpy's own large
    arrays ask the kernel for 2 MB pages (transparent huge pages), so one value written per
    slice would take the whole array. Plain `np.zeros` where that cannot be asked for."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    if size < LAZY_BYTES or not hasattr(mmap, "MADV_NOHUGEPAGE"):
        return np.zeros(shape, dtype)
    buffer = mmap.mmap(-1, size)  # anonymous: zero-filled, paged in on first write
    buffer.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buffer, dtype).reshape(shape)
