"""Reading real DICOM series into HU volumes: every transfer syntax, tilt, gaps, multi-frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from ctviewer.errors import Cancelled
from ctviewer.io import dicom as dicom_module
from ctviewer.io import discover, load_series, load_volume
from ctviewer.io.dicom import read_series
from ctviewer.progress import new_cancel_flag
from ctviewer.volume import SeriesInfo

pytestmark = pytest.mark.shared_data


def series_of(files: list[Path]) -> SeriesInfo:
    return SeriesInfo(
        key="test",
        series_uid=None,
        modality="CT",
        description="",
        files=[str(f) for f in files],
        n_images=len(files),
        rows=0,
        cols=0,
        spacing=None,
    )


def pydicom_hu(path: Path) -> np.ndarray:
    """Independent reference: pydicom's pixels with the file's rescale."""
    ds = pydicom.dcmread(path)
    return ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))


@pytest.fixture(scope="module")
def wg04(shared_data: Path) -> Path:
    return shared_data / "dicom/wg04_transfer_syntaxes/data/WG04"


@pytest.mark.parametrize("case", ["CT1", "CT2"])
@pytest.mark.parametrize(
    ("folder", "raw_tolerance"),
    # J2KI: "~400 raw units"; pydicom's own openjpeg decode differs from REF by up to 402 too
    [("JPLL", 0), ("JLSL", 0), ("J2KR", 0), ("RLE", 0), ("JLSN", 4), ("J2KI", 410)],
)
def test_wg04_transfer_syntaxes(wg04: Path, case: str, folder: str, raw_tolerance: int) -> None:
    reference_file = wg04 / "REF" / f"{case}_UNC"
    reference = pydicom_hu(reference_file)
    slope = float(pydicom.dcmread(reference_file, stop_before_pixels=True).RescaleSlope)
    (path,) = (wg04 / folder).glob(f"{case}_*")
    volume = read_series(series_of([path]))
    assert volume.array.dtype in (np.int16, np.float32)  # int16: whole HU (test_io_whole)
    assert volume.shape == (1, *reference.shape)
    error = np.abs(volume.array[0] - reference).max()
    if raw_tolerance == 0:
        assert np.array_equal(volume.array[0], reference.astype(np.float32)), f"max diff {error}"
    else:
        assert error <= raw_tolerance * slope
        assert error > 0  # a lossy file that decodes identical would mean we read the wrong data


@pytest.fixture(scope="module")
def cq500(shared_data: Path):
    index = discover(shared_data / "dicom/cq500_head_jpegls_tilt")
    return index, load_series(max(index.all_series(), key=lambda s: s.n_images))


def test_cq500_two_series_missing_slice_and_tilt(cq500) -> None:
    index, _ = cq500
    series = sorted(index.all_series(), key=lambda s: s.n_images)
    assert [s.n_images for s in series] == [1, 238]
    assert series[0].patient_id != series[1].patient_id
    warnings = " ".join(series[1].warnings)
    assert "missing slice" in warnings and "instances 236 and 238" in warnings
    assert "gantry tilt 8.5°" in warnings


def test_cq500_volume_sorted_by_position_in_hu(cq500) -> None:
    _, volume = cq500
    assert volume.shape == (238, 512, 512)
    assert volume.is_hu and volume.meta["PatientID"] == "CQ500-CT-0"
    assert volume.window is not None
    assert any("gantry tilt 8.5°" in w for w in volume.warnings)
    positions = np.array(volume.meta["slice_positions"])
    assert np.all(np.diff(positions[:, 2]) > 0)  # sorted along the normal, ascending z
    assert volume.spacing[0] == pytest.approx(0.625, abs=0.002)
    # index → mm is exact (sheared z axis) up to the missing slice
    for k in (0, 100, 235):
        assert np.allclose(volume.index_to_mm(k, 0, 0), positions[k], atol=0.01)
    for k in (0, 120, 237):  # pixels match pydicom's own decoding of the same file
        assert np.array_equal(volume.array[k], pydicom_hu(Path(volume.files[k])))
    files = [pydicom.dcmread(f, stop_before_pixels=True) for f in volume.files]
    assert [float(ds.ImagePositionPatient[2]) for ds in files] == sorted(
        float(ds.ImagePositionPatient[2]) for ds in files
    )


def test_ge_tilt_non_uniform(shared_data: Path) -> None:
    volume = load_volume(shared_data / "dicom/dcm_qa_ct_ge_tilt")
    assert volume.shape == (28, 512, 512)
    text = " ".join(volume.warnings)
    assert "gantry tilt 18.5°" in text and "non-uniform slice spacing" in text
    for k in (0, 14, 27):  # uncompressed files go through pydicom: same HU
        assert np.array_equal(volume.array[k], pydicom_hu(Path(volume.files[k])))


def test_totalsegmentator_dicom_geometry_matches_simpleitk(shared_data: Path) -> None:
    folder = shared_data / "dicom/totalsegmentator_example/example_ct_dicom"
    volume = load_volume(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reference = reader.Execute()
    assert volume.shape == tuple(reversed(reference.GetSize()))
    assert np.allclose(volume.spacing, reference.GetSpacing()[::-1])
    assert np.allclose(volume.origin, reference.GetOrigin())
    assert np.allclose(volume.direction, np.array(reference.GetDirection()).reshape(3, 3))
    assert np.array_equal(volume.array, sitk.GetArrayFromImage(reference).astype(np.float32))


def test_enhanced_ct_multiframe_per_frame_rescale(shared_data: Path) -> None:
    path = shared_data / "dicom/pydicom_ct/pydicom_data/eCT_Supplemental.dcm"
    volume = load_volume(path)
    ds = pydicom.dcmread(path)
    raw = ds.pixel_array
    frames = ds.PerFrameFunctionalGroupsSequence
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in frames]
    normal_z = -1.0  # ImageOrientationPatient (-1,0,0, 0,1,0): the normal points to -z
    order = np.argsort(np.array(z) * normal_z)
    shared = ds.SharedFunctionalGroupsSequence[0]
    for k, i in enumerate(order):
        group = frames[i] if "PixelValueTransformationSequence" in frames[i] else shared
        transform = group.PixelValueTransformationSequence[0]
        expected = raw[i] * float(transform.RescaleSlope) + float(transform.RescaleIntercept)
        assert np.array_equal(volume.array[k], expected)
    assert volume.shape == (2, 512, 512)
    assert volume.spacing[0] == pytest.approx(abs(z[1] - z[0]))
    assert volume.window == (49.0, 102.0)


@pytest.mark.parametrize(
    "name",
    [
        "pydicom_test_files/J2K_pixelrep_mismatch.dcm",
        "pydicom_test_files/CT_small.dcm",
        "pydicom_data/explicit_VR-UN.dcm",
        "pydicom_data/693_J2KR.dcm",
    ],
)
def test_pydicom_odd_files_decode_like_pydicom(shared_data: Path, name: str) -> None:
    path = shared_data / "dicom/pydicom_ct" / name
    volume = load_volume(path)
    assert np.array_equal(volume.array[0], pydicom_hu(path).astype(np.float32))


def test_meta_fields(shared_data: Path) -> None:
    volume = load_volume(shared_data / "dicom/dcm_qa_ct_philips_exam")
    assert volume.shape == (28, 512, 512)
    for key in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "Manufacturer"):
        assert volume.meta[key]
    assert volume.series_uid == volume.meta["SeriesInstanceUID"]
    assert len(volume.files) == 28
    assert any("series found" in w for w in volume.warnings) is False  # one series, no note


def test_mixed_sizes_keep_the_majority(shared_data: Path) -> None:
    tiny = sorted(
        (shared_data / "dicom/pydicom_ct/pydicom_test_files/dicomdirtests").glob("77654033/CT2/*")
    )
    odd = shared_data / "dicom/pydicom_ct/pydicom_test_files/CT_small.dcm"
    volume = read_series(series_of([*tiny, odd]))
    assert volume.shape == (len(tiny), 16, 16)
    assert any("mixed image sizes" in w and "128×128" in w for w in volume.warnings)
    assert str(odd) not in volume.files


def test_progress_and_cancel(shared_data: Path) -> None:
    files = sorted((shared_data / "dicom/dcm_qa_ct_philips_exam/S2010").glob("I*"))
    seen: list[float] = []
    read_series(series_of(files), progress=lambda fraction, _: seen.append(fraction))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    flag = new_cancel_flag()
    flag.set()
    with pytest.raises(Cancelled):
        read_series(series_of(files), cancel=flag)
    with pytest.raises(Cancelled):
        discover(shared_data / "dicom", cancel=flag)


def test_truncated_compressed_slice_is_skipped(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One broken file inside a GDCM chunk costs that slice only."""
    monkeypatch.setattr(dicom_module, "workers", lambda: 1)  # chunks of 3 slices for 12 files
    files = sorted((shared_data / "dicom/cq500_head_jpegls_tilt").glob("CT*.dcm"))[1:13]
    for path in files:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    broken = tmp_path / files[2].name
    broken.write_bytes(broken.read_bytes()[:-20000])
    volume = read_series(series_of(sorted(tmp_path.iterdir())))
    assert volume.n_slices == 11 and str(broken) not in volume.files
    assert any(broken.name in w for w in volume.warnings)
    for k, path in enumerate(volume.files):
        assert np.array_equal(volume.array[k], pydicom_hu(Path(path)))
