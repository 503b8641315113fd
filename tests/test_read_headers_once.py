"""Reading a series that discovery just indexed uses the headers discovery read (no second
parse), gives the same volume as reading its headers afresh, and reads them afresh when a file
changed since."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom

from ctviewer.io import dicom, discover, load_series
from ctviewer.synth.phantom import make_phantom, write_dicom_series


def _series(tmp_path: Path):
    write_dicom_series(make_phantom(shape=(6, 48, 48), seed=3), tmp_path)
    return discover(tmp_path).all_series()[0]


def _headers_read(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = dicom._read_headers

    def counting(files, cancel):
        seen.extend(files)
        return real(files, cancel)

    monkeypatch.setattr(dicom, "_read_headers", counting)
    return seen


def test_discovered_headers_are_not_read_again_and_give_the_same_volume(
    tmp_path, monkeypatch
) -> None:
    series = _series(tmp_path)
    seen = _headers_read(monkeypatch)
    fast = load_series(series)
    assert seen == []
    series.scan = None  # as a series built without discovery's headers
    plain = load_series(series)
    assert seen == series.files
    assert np.array_equal(fast.array, plain.array) and fast.array.dtype == plain.array.dtype
    assert fast.spacing == plain.spacing and np.allclose(fast.origin, plain.origin)
    assert fast.meta == plain.meta and fast.warnings == plain.warnings
    assert fast.window == plain.window and fast.files == plain.files


def test_a_file_changed_since_discovery_is_read_afresh(tmp_path, monkeypatch) -> None:
    series = _series(tmp_path)
    path = series.files[2]
    ds = pydicom.dcmread(path)
    ds.RescaleIntercept = float(ds.RescaleIntercept) + 100.0  # a rewritten file
    ds.save_as(path)
    os.utime(path, ns=(0, 0))  # whatever its size, the time says it changed
    seen = _headers_read(monkeypatch)
    volume = load_series(series)
    assert seen == series.files
    fresh = load_series(discover(tmp_path).all_series()[0])
    assert np.array_equal(volume.array, fresh.array)
