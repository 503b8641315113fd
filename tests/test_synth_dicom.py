"""Phantoms written as DICOM read back through ctviewer.io unchanged; the demo study."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from ctviewer import paths
from ctviewer.io import load_volume
from ctviewer.synth.demo import DEMO_LESIONS, DEMO_SHAPE, ensure_demo_study
from ctviewer.synth.jpeg_lossless import encode_jpeg_lossless
from ctviewer.synth.phantom import Lesion, make_phantom, read_ground_truth, write_dicom_series


def test_round_trip_through_the_reader(tmp_path: Path) -> None:
    phantom = make_phantom((12, 64, 80), (3.0, 1.5, 2.0), [Lesion("nodule", 6.0)], seed=5)
    files = write_dicom_series(phantom, tmp_path, patient_id="P-42", series_description="rt")
    assert len(files) == 12

    header = pydicom.dcmread(files[0])
    assert header.SOPClassUID == CTImageStorage and header.Modality == "CT"
    assert header.RescaleIntercept == -1024 and header.RescaleSlope == 1
    assert header.pixel_array.dtype == np.int16
    assert (header.Rows, header.Columns) == (64, 80)
    assert header.PatientName == "PHANTOM^DEMO" and header.PatientID == "P-42"
    assert header.SeriesInstanceUID == phantom.volume.series_uid
    assert header.FrameOfReferenceUID == phantom.volume.meta["FrameOfReferenceUID"]
    assert len({pydicom.dcmread(f).SOPInstanceUID for f in files}) == 12

    # Shuffled file names must not matter: the reader sorts by position.
    for i, f in enumerate(files):
        f.rename(tmp_path / f"x{(i * 7) % 12:02d}_{i}.dcm")
    volume = load_volume(tmp_path)
    original = phantom.volume
    assert np.abs(volume.array - original.array).max() <= 1
    assert volume.spacing == pytest.approx(original.spacing)
    assert volume.origin == pytest.approx(original.origin)
    np.testing.assert_allclose(volume.direction, original.direction, atol=1e-6)
    assert volume.series_uid == original.series_uid
    assert volume.meta["SeriesDescription"] == "rt"


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless, JPEGLosslessSV1])
def test_compressed_series_decode_bit_exact(tmp_path: Path, syntax: str) -> None:
    phantom = make_phantom((3, 48, 48), seed=1)
    files = write_dicom_series(phantom, tmp_path, transfer_syntax=syntax)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(load_volume(tmp_path).array, phantom.volume.array)


def test_jpeg_lossless_encoder_is_exact_over_the_full_int16_range(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(-32768, 32768, (19, 23)).astype(np.int16)
    image[0, :4] = [-32768, 0, -32768, 32767]  # differences of ±2^15: the special category 16
    phantom = make_phantom((1, 19, 23), seed=0)
    path = write_dicom_series(phantom, tmp_path, transfer_syntax=JPEGLosslessSV1)[0]
    ds = pydicom.dcmread(path)
    ds.PixelData = encapsulate([encode_jpeg_lossless(image.view(np.uint16))])
    np.testing.assert_array_equal(ds.pixel_array, image)


def test_demo_study_is_made_once(tmp_path: Path) -> None:
    series = ensure_demo_study()
    assert series.parent == paths.demo_study_dir()
    files = sorted(series.glob("*.dcm"))
    assert len(files) == DEMO_SHAPE[0]
    stamp = files[0].stat().st_mtime_ns
    assert ensure_demo_study() == series
    assert files[0].stat().st_mtime_ns == stamp  # not regenerated

    labels, lesions = read_ground_truth(series.parent / "ground_truth")
    assert labels.shape == DEMO_SHAPE
    assert sorted(lesion.kind for lesion in lesions) == sorted(d.kind for d in DEMO_LESIONS)
    assert sorted(np.unique(labels)) == list(range(len(DEMO_LESIONS) + 1))
    info = json.loads((series.parent / "study.json").read_text())
    assert info["series_uid"] == pydicom.dcmread(files[0]).SeriesInstanceUID
    # Only the DICOM series lives in the folder the viewer opens.
    assert {p.suffix for p in series.iterdir()} == {".dcm"}
