"""Bad input is refused with a one-line error naming the file, never read as an image."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

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
