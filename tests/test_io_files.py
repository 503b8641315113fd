"""NIfTI/NRRD/MHA through SimpleITK in LPS, and PNG/JPEG slices as [0, 1] one-slice volumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from ctviewer.errors import InputError
from ctviewer.io import discover, load_volume, read_file


def assert_same_world(volume, image: sitk.Image, samples: int = 50) -> None:
    """Every sampled voxel of `volume` holds the value `image` has at the same LPS point."""
    rng = np.random.default_rng(0)
    for z, y, x in zip(*(rng.integers(0, n, samples) for n in volume.shape), strict=True):
        point = volume.index_to_mm(float(z), float(y), float(x))
        index = image.TransformPhysicalPointToIndex(point)
        assert volume.array[z, y, x] == image[index]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_volume_files_reoriented_to_lps(tmp_path: Path, suffix: str) -> None:
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 100
    image = sitk.GetImageFromArray(data)
    image.SetSpacing((0.5, 0.8, 2.0))
    image.SetOrigin((10.0, -20.0, 30.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))  # RAS-like storage, as NIfTI often has
    path = tmp_path / f"vol{suffix}"
    sitk.WriteImage(image, str(path))
    volume = read_file(path)
    assert volume.is_hu and volume.array.dtype == np.float32
    assert np.allclose(volume.direction, np.eye(3))  # x → left, y → posterior, z → superior
    assert volume.spacing == pytest.approx((2.0, 0.8, 0.5))
    assert_same_world(volume, sitk.ReadImage(str(path)))
    (series,) = discover(path).all_series()
    assert (series.kind, series.n_images, series.rows, series.cols) == ("nifti", 4, 5, 6)


@pytest.mark.shared_data
def test_totalsegmentator_nifti_agrees_with_dicom(shared_data: Path) -> None:
    folder = shared_data / "dicom/totalsegmentator_example"
    nifti = read_file(folder / "example_ct.nii.gz")
    dicom = load_volume(folder / "example_ct_dicom")
    # same axis convention: both index axes run along L, P, S
    assert np.allclose(nifti.direction, dicom.direction)
    assert np.allclose(nifti.direction, np.eye(3))
    assert_same_world(nifti, sitk.ReadImage(str(folder / "example_ct.nii.gz")))
    # the stored NIfTI runs right-to-left; after reorientation its origin is its LPS corner
    assert nifti.origin[0] == pytest.approx(177.956 - 3.0 * 121, abs=1e-3)
    # anatomy sanity: air outside the body at the corners, tissue in the middle, as in DICOM
    for volume in (nifti, dicom):
        middle = volume.array[volume.n_slices // 2]
        assert middle[:5, :5].mean() < -900
        h, w = middle.shape
        assert middle[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5].mean() > -200


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("L", ".png"), ("RGB", ".png"), ("RGBA", ".png"), ("L", ".jpg"), ("RGB", ".jpeg")],
)
def test_pictures_become_one_slice_in_unit_range(tmp_path: Path, mode: str, suffix: str) -> None:
    gray = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (20, 1))  # 20 × 32 ramp
    channels = {"L": gray, "RGB": np.dstack([gray] * 3), "RGBA": np.dstack([gray] * 3 + [gray])}
    path = tmp_path / f"slice{suffix}"
    Image.fromarray(channels[mode], mode).save(path)
    volume = read_file(path)
    assert volume.shape == (1, 20, 32)
    assert not volume.is_hu and volume.spacing == (1.0, 1.0, 1.0)
    assert volume.array.min() >= 0.0 and volume.array.max() <= 1.0
    expected = gray / 255.0 * (gray / 255.0 if mode == "RGBA" else 1.0)  # alpha over black
    assert np.abs(volume.array[0] - expected).max() < 0.05  # JPEG is lossy
    (series,) = discover(path).all_series()
    assert (series.kind, series.rows, series.cols) == ("image", 20, 32)


def test_unreadable_picture_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError) as caught:
        read_file(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert discover(path).set_aside[0].path == str(path)


def test_2d_volume_file_is_one_slice_and_4d_is_refused(tmp_path: Path) -> None:
    flat = sitk.GetImageFromArray(np.arange(12, dtype=np.float32).reshape(3, 4))
    sitk.WriteImage(flat, str(tmp_path / "flat.mha"))
    volume = read_file(tmp_path / "flat.mha")
    assert volume.shape == (1, 3, 4)
    (series,) = discover(tmp_path / "flat.mha").all_series()
    assert (series.n_images, series.rows, series.cols) == (1, 3, 4)
    sitk.WriteImage(sitk.Image([2, 2, 2, 2], sitk.sitkInt16), str(tmp_path / "time.nii"))
    with pytest.raises(InputError, match="2D or 3D"):
        read_file(tmp_path / "time.nii")
    assert "2D or 3D" in discover(tmp_path / "time.nii").set_aside[0].reason
