"""A DICOM series is read as int16 when every rescaled value is a whole number that fits it (half
the memory of float32, the same values), else as float32: a fractional slope, or values beyond
int16, decoded again as float32 when a slice proves it. Uncompressed (pydicom) and RLE (GDCM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from ctviewer.io import load_volume
from ctviewer.synth.phantom import make_phantom, write_dicom_series


def series(tmp_path: Path, syntax: str, slope: float, intercept: float) -> tuple[Path, np.ndarray]:
    """A small phantom written with this rescale; the HU every slice should read as (float64)."""
    files = write_dicom_series(
        make_phantom(shape=(6, 48, 48), seed=2), tmp_path, transfer_syntax=syntax
    )
    expected = []
    for path in files:
        ds = pydicom.dcmread(path)
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.save_as(path)
        expected.append(ds.pixel_array.astype(np.float64) * slope + intercept)
    return tmp_path, np.stack(expected)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, RLELossless])
@pytest.mark.parametrize(
    ("slope", "intercept", "dtype"),
    [(1, -1024, np.int16), (2, -2048, np.int16), (0.5, -1024, np.float32), (1, 40000, np.float32)],
)
def test_whole_values_in_range_read_as_int16_the_rest_as_float32(
    tmp_path: Path, syntax: str, slope: float, intercept: float, dtype
) -> None:
    folder, expected = series(tmp_path, syntax, slope, intercept)
    volume = load_volume(folder)
    assert volume.array.dtype == dtype
    assert np.array_equal(volume.array.astype(np.float64), expected)  # written in volume order
