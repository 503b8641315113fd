"""Uncompressed single-frame files are read straight from where their header said the pixel data
starts (`dicom.native_pixels`) instead of being parsed again by pydicom: the same pixels as
pydicom's `pixel_array` in every layout it takes (explicit and implicit VR, signed and unsigned,
unused high bits, elements after the pixel data), and pydicom reads what it does not take
(compressed pixels, a file that changed since its header was read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from ctviewer.io import load_volume
from ctviewer.io.dicom import native_pixels
from ctviewer.io.headers import frames_of, read_header
from ctviewer.synth.phantom import make_phantom, write_dicom_series

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom"


def one_file(tmp_path: Path, syntax: str = ExplicitVRLittleEndian) -> Path:
    files = write_dicom_series(
        make_phantom(shape=(2, 40, 48), seed=3), tmp_path, transfer_syntax=syntax
    )
    return files[0]


def frame_of(path: Path):
    (frame,) = frames_of(read_header(str(path)), str(path))
    return frame


def direct_read(path: Path) -> np.ndarray | None:
    return native_pixels(str(path), frame_of(path))


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize(("signed", "bits_stored"), [(1, 16), (1, 12), (0, 16), (0, 12)])
def test_direct_read_gives_pydicoms_pixels(
    tmp_path: Path, syntax: str, signed: int, bits_stored: int
) -> None:
    path = one_file(tmp_path)
    ds = pydicom.dcmread(path)
    raw = np.random.default_rng(0).integers(0, 1 << 16, (ds.Rows, ds.Columns), dtype=np.uint16)
    ds.PixelRepresentation, ds.BitsStored, ds.HighBit = signed, bits_stored, bits_stored - 1
    ds.PixelData = raw.tobytes()  # high bits set at random: pydicom masks or sign-extends them
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=True)
    pixels = direct_read(path)
    assert pixels is not None
    expected = pydicom.dcmread(path).pixel_array
    assert pixels.dtype == expected.dtype and np.array_equal(pixels, expected)


def test_an_element_after_the_pixels_is_no_obstacle(tmp_path: Path) -> None:
    path = one_file(tmp_path)
    ds = pydicom.dcmread(path)
    ds.add_new(0xFFFCFFFC, "OB", b"\0" * 8)  # Data Set Trailing Padding, as GE scanners write
    ds.save_as(path, enforce_file_format=True)
    pixels = direct_read(path)
    assert pixels is not None and np.array_equal(pixels, ds.pixel_array)
    assert np.array_equal(load_volume(path).array[0], ds.pixel_array.astype(np.int64) - 1024)


def test_a_file_changed_since_its_header_was_read_goes_to_pydicom(tmp_path: Path) -> None:
    path = one_file(tmp_path)
    frame = frame_of(path)
    ds = pydicom.dcmread(path)
    ds.ImageComments = "a longer header moves the pixel data"
    ds.save_as(path, enforce_file_format=True)
    assert native_pixels(str(path), frame) is None


def test_compressed_pixels_have_no_native_layout(tmp_path: Path) -> None:
    path = one_file(tmp_path, RLELossless)
    (frame,) = frames_of(read_header(str(path)), str(path))
    assert frame.native is None and native_pixels(str(path), frame) is None


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/dicom is absent")
def test_real_files_read_from_the_tail_match_pydicom() -> None:
    """Every uncompressed 16-bit single-frame file of the shared real data (GE files among them,
    with trailing padding after the pixels)."""
    taken = 0
    for path in sorted(SHARED.rglob("*")):
        if not path.is_file():
            continue
        try:
            frames = frames_of(read_header(str(path)), str(path))
        except Exception:
            continue  # not DICOM, or a header the reader sets aside
        if len(frames) != 1 or frames[0].native is None:
            continue
        pixels = native_pixels(str(path), frames[0])
        assert pixels is not None, path
        assert np.array_equal(pixels, pydicom.dcmread(path).pixel_array), path
        taken += 1
    assert taken > 0
