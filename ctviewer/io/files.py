"""Non-DICOM inputs: NIfTI / NRRD / MetaImage through SimpleITK, and PNG / JPEG slices.

Volumes from SimpleITK are reoriented to LPS (`DICOMOrient`), so their (z, y, x) array runs like an
axial DICOM series: x towards the patient's left, y posterior, z superior — a NIfTI and the DICOM
it came from display the same way. PNG/JPEG become one-slice volumes in [0, 1], not HU.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ctviewer.errors import InputError
from ctviewer.io import readers
from ctviewer.io.integrity import check_complete, nifti_nonfinite_voxels
from ctviewer.io.quiet import native_output_muted
from ctviewer.volume import SeriesInfo, Volume

SITK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
UNSUPPORTED = "only single-channel 2D or 3D volumes are supported"


def _lps_axes(direction: np.ndarray) -> list[int]:
    """For each LPS axis, the image axis (x=0, y=1, z=2) that runs closest to it."""
    return [int(np.argmax(np.abs(direction[a, :]))) for a in range(3)]


def _describe_picture(path: str) -> SeriesInfo:
    try:
        with Image.open(path) as image:
            cols, rows = image.size
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"unreadable image ({error})", path) from error
    return _series_info(path, "image", rows, cols, 1, (1.0, 1.0, 1.0))


def _describe_volume(path: str) -> SeriesInfo:
    import SimpleITK as sitk  # here, not at import: ~100 MB of RSS a DICOM series never needs

    check_complete(path, quick=True)
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        with native_output_muted():
            reader.ReadImageInformation()
    except RuntimeError as error:
        raise InputError("unreadable volume file", path) from error
    dimension = reader.GetDimension()
    if reader.GetNumberOfComponents() != 1 or dimension not in (2, 3):
        raise InputError(UNSUPPORTED, path)
    check_geometry(reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection(), path)
    size = list(reader.GetSize()) + [1] * (3 - dimension)
    step = list(reader.GetSpacing()) + [1.0] * (3 - dimension)
    if dimension == 3:  # the axes as DICOMOrient(LPS) will order them in read_file
        axes = _lps_axes(np.array(reader.GetDirection()).reshape(3, 3))
        size, step = [size[a] for a in axes], [step[a] for a in axes]
    cols, rows, n = size[:3]
    return _series_info(
        path, "nifti", rows, cols, n, (float(step[2]), float(step[1]), float(step[0]))
    )


def _series_info(path: str, kind: str, rows: int, cols: int, n: int, spacing) -> SeriesInfo:
    if min(rows, cols, n) <= 0:
        raise InputError(f"empty image ({cols} × {rows} × {n} pixels)", path)
    return SeriesInfo(
        key=path,
        series_uid=None,
        modality="CT" if kind == "nifti" else "OT",
        description=Path(path).name,
        files=[path],
        n_images=int(n),
        rows=int(rows),
        cols=int(cols),
        spacing=spacing,
        kind=kind,
    )


def describe(path: str | Path) -> SeriesInfo:
    """Header-only SeriesInfo of a file a registered reader accepts; InputError if unreadable."""
    return _reader(path).describe(str(path))


def _reader(path: str | Path) -> readers.FileReader:
    reader = readers.reader_for(path)
    if reader is None:
        raise InputError("not a file format ctviewer reads by name", path)
    return reader


def read_file(path: str | Path) -> Volume:
    """A NIfTI/NRRD/MHA volume (LPS, HU as stored) or a PNG/JPEG slice ([0, 1], is_hu=False)."""
    return _reader(path).read(str(path))


def _read_volume(path: str) -> Volume:
    import SimpleITK as sitk

    check_complete(path)
    try:
        with native_output_muted():
            image = sitk.ReadImage(path)
    except RuntimeError as error:
        raise InputError("unreadable volume file", path) from error
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() not in (2, 3):
        raise InputError(UNSUPPORTED, path)
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    check_geometry(image.GetSpacing(), image.GetOrigin(), image.GetDirection(), path)
    with native_output_muted():
        image = sitk.DICOMOrient(image, "LPS")
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    check_values(array, path)
    if path.lower().endswith((".nii", ".nii.gz")):
        bad = nifti_nonfinite_voxels(path)
        if bad:
            raise InputError(f"{bad} of {array.size} voxels are NaN or infinite", path)
    return Volume(
        array=array,
        spacing=tuple(float(s) for s in image.GetSpacing()[::-1]),  # type: ignore[arg-type]
        origin=tuple(float(o) for o in image.GetOrigin()),  # type: ignore[arg-type]
        direction=np.array(image.GetDirection(), dtype=float).reshape(3, 3),
        is_hu=True,
        source=path,
        meta={"SeriesDescription": Path(path).name},
    )


def check_geometry(spacing, origin, direction, path: str) -> None:  # noqa: ANN001 (SimpleITK tuples)
    """InputError unless the voxel size is positive and the position and orientation finite:
    a NaN affine or a zero spacing would put every measurement and finding in the wrong place."""
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        text = " × ".join(f"{s:g}" for s in spacing)
        raise InputError(f"voxel size {text} mm is not a positive number", path)
    if not all(math.isfinite(v) for v in (*origin, *direction)):
        raise InputError("the header's position or orientation (affine) is not finite", path)
    if abs(np.linalg.det(np.array(direction, dtype=float).reshape(len(spacing), -1))) < 1e-6:
        raise InputError("the header's orientation (affine) is degenerate", path)


def check_values(array: np.ndarray, path: str) -> None:
    """InputError unless `array` has pixels and all of them are finite: NaN or Inf would reach
    the model as an image and come back as a confident verdict."""
    if array.size == 0:
        raise InputError(f"empty image ({' × '.join(map(str, array.shape[::-1]))} pixels)", path)
    with np.errstate(invalid="ignore"):  # Inf - Inf is one of the things we look for
        total = array.sum(dtype=np.float64)  # float64 sums of float32 never overflow
    if not np.isfinite(total):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise InputError(f"{bad} of {array.size} voxels are NaN or infinite", path)


def _read_picture(path: str) -> Volume:
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I"):
                gray = np.asarray(image, dtype=np.float32) / 65535.0
            else:
                if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                    image = image.convert("RGBA")
                    backdrop = Image.new("RGBA", image.size, (0, 0, 0, 255))
                    image = Image.alpha_composite(backdrop, image)
                gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise InputError(f"unreadable image ({error})", path) from error
    check_values(gray[None], path)
    return Volume(
        array=np.clip(gray, 0.0, 1.0)[None],
        spacing=(1.0, 1.0, 1.0),
        is_hu=False,
        source=path,
        meta={"SeriesDescription": Path(path).name},
        spacing_known=False,  # a picture has no physical pixel size: measure in pixels
    )


readers.register(
    readers.FileReader(
        "nifti", "NIfTI / NRRD / MetaImage", SITK_SUFFIXES, _describe_volume, _read_volume
    )
)
readers.register(
    readers.FileReader("image", "PNG / JPEG", IMAGE_SUFFIXES, _describe_picture, _read_picture)
)
