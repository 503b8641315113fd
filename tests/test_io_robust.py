"""Bad input is refused with a one-line error naming the file, never read as an image."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from ctviewer.cli.main import main
from ctviewer.errors import InputError
from ctviewer.io import discover, load_inputs, load_volume

pytestmark = pytest.mark.shared_data


def copy_series(
    shared_data: Path, tmp_path: Path, slope: str | None = None, only: int = 99
) -> Path:
    source = sorted((shared_data / "dicom/totalsegmentator_example/example_ct_dicom").iterdir())
    folder = tmp_path / "series"
    folder.mkdir()
    for k, path in enumerate(source):
        if slope is not None and k < only:
            ds = pydicom.dcmread(path)
            ds.RescaleSlope = slope
            ds.save_as(folder / path.name)
        else:
            shutil.copy(path, folder / path.name)
    return folder


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_nan_slope_is_refused_not_scored(shared_data: Path, tmp_path: Path) -> None:
    folder = copy_series(shared_data, tmp_path, "NaN")
    with pytest.raises(InputError) as caught:
        list(load_inputs([folder]))
    assert str(folder) in str(caught.value) and "finite" in str(caught.value)
    assert main(["detect", str(folder), "--out", str(tmp_path / "out")]) != 0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_some_nan_slices_are_set_aside_with_a_warning(shared_data: Path, tmp_path: Path) -> None:
    folder = copy_series(shared_data, tmp_path, "NaN", only=2)
    volume = load_volume(folder)
    assert volume.n_slices == 18 and np.isfinite(volume.array).all()
    reasons = [item.reason for item in discover(folder).set_aside]
    assert len(reasons) == 2 and all("finite" in reason for reason in reasons)


def test_truncated_nifti_is_an_error(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "dicom/totalsegmentator_example/example_ct.nii.gz").read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(data[:5000])
    with pytest.raises(InputError, match="truncated") as caught:
        load_volume(cut)
    assert str(cut) in str(caught.value)
    assert "truncated" in discover(cut).set_aside[0].reason


def test_huge_frame_count_refused_before_allocating(shared_data: Path, tmp_path: Path) -> None:
    ds = pydicom.dcmread(shared_data / "dicom/pydicom_ct/pydicom_test_files/CT_small.dcm")
    ds.NumberOfFrames = 100000
    path = tmp_path / "big.dcm"
    ds.save_as(path)
    with pytest.raises(InputError) as caught:
        load_volume(path)
    assert str(path) in str(caught.value) and "declares" in str(caught.value)


def test_philips_dicomdir_finds_its_series(shared_data: Path) -> None:
    exam = shared_data / "dicom/dcm_qa_ct_philips_exam"
    index = discover(exam / "S2010/DIRFILE")
    assert [s.n_images for s in index.all_series()] == [28]


def test_one_dicom_file_opens_its_whole_series(shared_data: Path) -> None:
    folder = shared_data / "dicom/cq500_head_jpegls_tilt"
    one = sorted(folder.glob("CT*.dcm"))[5]
    index = discover(one)
    assert len(index.all_series()) == 1 and str(one) in index.all_series()[0].files
    assert index.all_series()[0].n_images > 200


# -- found by benchmarks/bad_input_probe.py ------------------------------------------------------


def small_nifti(shared_data: Path, tmp_path: Path, array_edit=None) -> Path:
    """The small TotalSegmentator NIfTI written again as float32, its voxels edited."""
    image = sitk.ReadImage(str(shared_data / "dicom/totalsegmentator_example/example_ct_sm.nii.gz"))
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    edited = sitk.GetImageFromArray(array_edit(array) if array_edit else array)
    edited.CopyInformation(image)
    path = tmp_path / "edited.nii.gz"
    sitk.WriteImage(edited, str(path))
    return path


def test_nan_voxels_in_a_nifti_are_refused_not_zeroed(shared_data: Path, tmp_path: Path) -> None:
    def blank(array: np.ndarray) -> np.ndarray:
        array[:, :40] = np.nan  # ITK's reader would hand these back as 0 HU
        return array

    path = small_nifti(shared_data, tmp_path, blank)
    with pytest.raises(InputError, match="NaN or infinite") as caught:
        load_volume(path)
    assert str(path) in str(caught.value)
    assert main(["detect", str(path), "--out", str(tmp_path / "out")]) == 1


def test_nan_affine_in_a_nifti_is_refused(shared_data: Path, tmp_path: Path) -> None:
    path = small_nifti(shared_data, tmp_path)
    header = bytearray(gzip.decompress(path.read_bytes()))
    header[280:328] = np.full(12, np.nan, dtype="<f4").tobytes()  # srow_x, srow_y, srow_z
    header[256:280] = np.full(6, np.nan, dtype="<f4").tobytes()  # quaternion and offset
    path.write_bytes(gzip.compress(bytes(header)))
    with pytest.raises(InputError, match="affine") as caught:
        load_volume(path)
    assert str(path) in str(caught.value)
    assert "affine" in discover(path).set_aside[0].reason


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_non_positive_pixel_spacing_is_an_error_not_a_traceback(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    for path in sorted((shared_data / "dicom/totalsegmentator_example/example_ct_dicom").iterdir()):
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = [-0.8, -0.8]
        ds.save_as(folder / path.name)
    with pytest.raises(InputError, match="PixelSpacing") as caught:
        load_volume(folder)
    assert str(folder) in str(caught.value)
    assert main(["detect", str(folder), "--out", str(tmp_path / "out")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ctviewer: error:") and "not a positive size" in line


def test_a_one_pixel_image_is_not_read_as_a_slice(shared_data: Path, tmp_path: Path) -> None:
    ds = pydicom.dcmread(shared_data / "dicom/pydicom_ct/pydicom_test_files/CT_small.dcm")
    ds.Rows = ds.Columns = 1
    ds.PixelData = b"\x00\x00"
    path = tmp_path / "dot.dcm"
    ds.save_as(path)
    with pytest.raises(InputError, match="too small") as caught:
        load_volume(path)
    assert str(path) in str(caught.value)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_corrupt_jpeg2000_series_is_one_line_on_the_console(
    shared_data: Path, tmp_path: Path
) -> None:
    """OpenJPEG prints hundreds of lines from C about a broken stream; the user sees our one."""
    folder = tmp_path / "series"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for path in sorted((shared_data / "dicom/totalsegmentator_example/example_ct_dicom").iterdir()):
        ds = pydicom.dcmread(path)
        stream = bytearray(ds.PixelData)
        stream[200:-200] = rng.integers(0, 256, len(stream) - 400, dtype=np.uint8).tobytes()
        ds.PixelData = bytes(stream)
        ds.save_as(folder / path.name)
    run = subprocess.run(
        [sys.executable, "-m", "ctviewer", "detect", str(folder), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"ctviewer: error: {folder}")


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_slot_that_failed_to_decode_is_checked_without_a_numpy_warning() -> None:
    """A slice whose file failed to decode keeps whatever memory held (Inf and -Inf, say):
    checking it must not print numpy's 'invalid value encountered' above our one line."""
    from ctviewer.io.dicom import _slots_to_keep
    from ctviewer.io.headers import Frame

    frames = [Frame(f"f{k}.dcm", None, 2, 2, None, None, None) for k in range(3)]
    array = np.zeros((3, 2, 2), np.float32)
    array[1, 0] = [np.inf, -np.inf]  # the failed slot's leftover memory
    array[2, 0, 0] = np.nan  # a slice that is NaN after rescale
    keep, non_finite = _slots_to_keep(array, frames, [InputError("cannot decode", "f1.dcm")])
    assert keep == [0] and [e.path for e in non_finite] == ["f2.dcm"]
