"""DICOM headers without pixels: read one file's header and list the image frames it holds.

A `Frame` is one 2D image: a single-frame file, or one frame of an enhanced multi-frame file
(whose geometry and rescale live in the per-frame / shared functional groups).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom import config
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)

from ctviewer.errors import InputError

# pydicom's read warnings quote element values (patient names, IDs): keep them out of logs and
# consoles. We read leniently anyway; what matters to the user is reported in our own warnings.
config.settings.reading_validation_mode = config.IGNORE
logging.getLogger("pydicom").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom\.")

Vec3 = tuple[float, float, float]

# Far beyond what any CT codec reaches (lossless ~3:1, lossy J2K ~20:1, RLE of a blank frame ~60:1):
# a header declaring more pixels than this ratio allows is lying, and trusting it costs gigabytes.
MAX_COMPRESSION_RATIO = 10_000
MIN_MATRIX = 8  # rows/columns below this are no image to read (test trees use 16 × 16)
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little-endian


@dataclass(frozen=True)
class NativeLayout:
    """How a single-frame file holds its pixels uncompressed, 16 bits little-endian, one sample:
    enough to read them straight from the file, where its PixelData element starts."""

    dtype: str  # "<i2" (PixelRepresentation 1) or "<u2"
    bits_stored: int
    explicit_vr: bool
    offset: int  # of the PixelData element (its tag) in the file


@dataclass
class Frame:
    """One 2D image of a DICOM file, with what is needed to place and scale it."""

    path: str
    index: int | None  # frame number in a multi-frame file; None for a single-frame file
    rows: int
    cols: int
    position: Vec3 | None  # ImagePositionPatient, LPS mm
    orientation: tuple[float, ...] | None  # ImageOrientationPatient: row then column cosines
    pixel_spacing: tuple[float, float] | None  # (row spacing = y, column spacing = x) mm
    slope: float = 1.0
    intercept: float = 0.0
    instance: int = 0  # InstanceNumber (or frame number) as a tie-breaker when positions lack
    native: NativeLayout | None = None  # single-frame files stored uncompressed (see dicom.py)


@dataclass
class ScannedHeaders:
    """What discovery read of one stack's DICOM headers, so that reading it does not parse them
    again; trusted only while every file keeps the size and modification time it had then."""

    frames: list[Frame]
    compressed: dict[str, bool]  # per file: pixel data in a compressed transfer syntax
    thickness: dict[str, float | None]  # per file: SliceThickness
    stamps: dict[str, tuple[int, int]]  # per file: (modification time in ns, size)


def file_stamp(path: str) -> tuple[int, int]:
    """(modification time in ns, size) of a file: what tells that it changed since it was read."""
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def compressed_pixels(ds: Dataset) -> bool:
    """Whether a header's pixel data is in a compressed transfer syntax."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return bool(uid is not None and uid.is_compressed)


def read_header(path: str) -> Dataset:
    """The header of a DICOM file, pixel data not read; InputError (naming the file) otherwise.
    Its `pixel_data_offset` is where the top-level PixelData element starts (pydicom stops its
    read there), or None when the file has none."""
    try:
        with open(path, "rb") as file:
            ds = pydicom.dcmread(file, stop_before_pixels=True)
            at_pixels = file.read(4) == PIXEL_DATA_TAG
            ds.pixel_data_offset = file.seek(-4, os.SEEK_CUR) if at_pixels else None
        return ds
    except pydicom.errors.InvalidDicomError as error:
        raise InputError("not a DICOM file", path) from error
    except Exception as error:  # truncated or garbled files raise all kinds of errors
        reason = f"unreadable DICOM header ({type(error).__name__}: {error})"
        raise InputError(reason, path) from error


def is_dicomdir(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return meta is not None and meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage


def _floats(value: object, n: int) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return values if len(values) == n and np.all(np.isfinite(values)) else None


def _item(ds: Dataset, keyword: str) -> Dataset | None:
    seq = ds.get(keyword)
    return seq[0] if seq else None


def _group_value(groups: list[Dataset], sequence: str, keyword: str) -> object:
    """First value of `keyword` inside `sequence` of the first functional group that has it."""
    for group in groups:
        item = _item(group, sequence)
        if item is not None and keyword in item:
            return item.get(keyword)
    return None


def as_float(value: object, default: float) -> float:
    """A header value as a float, or `default` when absent or malformed."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def as_int(value: object, default: int) -> int:
    """A header value as an int, or `default` when absent, malformed or not finite."""
    number = as_float(value, default)
    return int(number) if math.isfinite(number) else default


def slice_thickness(ds: Dataset) -> float | None:
    """The nominal slice step the header states, used when positions cannot give one."""
    value = as_float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness"), 0.0)
    return value if value > 0 else None


def window_of(ds: Dataset) -> tuple[float, float] | None:
    """(center, width) of the first VOI window the file suggests, if any."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        shared = _item(ds, "SharedFunctionalGroupsSequence")
        per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
        groups = [g for g in (shared, per_frame[0] if per_frame else None) if g is not None]
        center = _group_value(groups, "FrameVOILUTSequence", "WindowCenter")
        width = _group_value(groups, "FrameVOILUTSequence", "WindowWidth")
    if center is None or width is None:
        return None
    first = [v[0] if isinstance(v, pydicom.multival.MultiValue) else v for v in (center, width)]
    c, w = as_float(first[0], np.nan), as_float(first[1], np.nan)
    return (c, w) if np.isfinite(c) and np.isfinite(w) and w > 0 else None


def _size_text(n_bytes: float) -> str:
    if n_bytes < 1000:
        return f"{n_bytes:.0f} bytes"
    for unit in ("kB", "MB"):
        n_bytes /= 1000
        if n_bytes < 1000:
            return f"{n_bytes:.1f} {unit}"
    return f"{n_bytes / 1000:.1f} GB"


def check_declared_size(ds: Dataset, path: str, rows: int, cols: int, n_frames: int) -> None:
    """InputError when the header declares more pixel bytes than the file can hold, before anyone
    allocates them (a NumberOfFrames of 100000 in a 30 kB file would ask for gigabytes)."""
    bits = as_int(ds.get("BitsAllocated"), 16) or 16
    samples = as_int(ds.get("SamplesPerPixel"), 1) or 1
    declared = math.ceil(rows * cols * n_frames * samples * bits / 8)
    try:
        present = os.path.getsize(path)
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror})", path) from error
    if declared <= present * (MAX_COMPRESSION_RATIO if compressed_pixels(ds) else 1):
        return
    shape = f"{n_frames} × {rows} × {cols} × {bits} bits" if n_frames > 1 else f"{rows} × {cols}"
    raise InputError(
        f"header declares {shape} of pixels ({_size_text(declared)}) but the file holds "
        f"{_size_text(present)}: truncated or a wrong Rows / Columns / NumberOfFrames",
        path,
    )


def finite_rescale(frame: Frame) -> bool:
    return math.isfinite(frame.slope) and math.isfinite(frame.intercept)


def rescale_problem(frames: list[Frame]) -> str | None:
    """Why the rescale of these frames cannot give Hounsfield units (NaN or infinite), or None."""
    bad = [frame for frame in frames if not finite_rescale(frame)]
    if not bad:
        return None
    what = f"{len(bad)} of {len(frames)} frames have" if len(frames) > 1 else "has"
    return f"{what} a RescaleSlope / RescaleIntercept that is not a finite number"


def geometry_problem(frames: list[Frame]) -> str | None:
    """Why these frames cannot be placed or measured (a matrix too small to be a slice, a pixel
    spacing that is not positive), or None."""
    first = frames[0]
    if min(first.rows, first.cols) < MIN_MATRIX:
        return f"image of {first.cols} × {first.rows} pixels is too small to be a CT slice"
    spacings = {frame.pixel_spacing for frame in frames if frame.pixel_spacing is not None}
    bad = sorted(s for s in spacings if min(s) <= 0)
    if bad:
        return f"PixelSpacing {bad[0][0]:g} \\ {bad[0][1]:g} mm is not a positive size"
    return None


def native_layout(ds: Dataset) -> NativeLayout | None:
    """The layout of a header's uncompressed 16-bit greyscale pixels (a header from
    `read_header`), or None for any other encoding (compressed, big-endian, deflated, 8 or 32
    bits, colour, float pixels)."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    bits_stored = as_int(ds.get("BitsStored"), 0)
    if (
        syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
        or as_int(ds.get("BitsAllocated"), 0) != 16
        or not 1 <= bits_stored <= 16
        or as_int(ds.get("SamplesPerPixel"), 1) != 1
        or as_int(ds.get("PixelRepresentation"), -1) not in (0, 1)
    ):
        return None
    offset = getattr(ds, "pixel_data_offset", None)
    if offset is None:
        return None
    signed = as_int(ds.get("PixelRepresentation"), 0) == 1
    dtype = "<i2" if signed else "<u2"
    return NativeLayout(dtype, bits_stored, syntax == ExplicitVRLittleEndian, offset)


def frames_of(ds: Dataset, path: str) -> list[Frame]:
    """Every image frame of a DICOM header; [] when it holds no image. InputError when the header
    declares more pixels than the file holds."""
    rows, cols = as_int(ds.get("Rows"), 0), as_int(ds.get("Columns"), 0)
    if rows <= 0 or cols <= 0:
        return []
    instance = as_int(ds.get("InstanceNumber"), 0)
    n_frames = as_int(ds.get("NumberOfFrames"), 1)
    check_declared_size(ds, path, rows, cols, max(n_frames, 1))
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if n_frames <= 1 and not per_frame:
        return [
            Frame(
                path=path,
                index=None,
                rows=rows,
                cols=cols,
                position=_floats(ds.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
                orientation=_floats(ds.get("ImageOrientationPatient"), 6),
                pixel_spacing=_floats(ds.get("PixelSpacing"), 2),  # type: ignore[arg-type]
                slope=as_float(ds.get("RescaleSlope"), 1.0),
                intercept=as_float(ds.get("RescaleIntercept"), 0.0),
                instance=instance,
                native=native_layout(ds),
            )
        ]
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    frames = []
    for i in range(n_frames):
        own = per_frame[i] if per_frame and i < len(per_frame) else None
        groups = [g for g in (own, shared) if g is not None]
        position = _group_value(groups, "PlanePositionSequence", "ImagePositionPatient")
        orientation = _group_value(groups, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _group_value(groups, "PixelMeasuresSequence", "PixelSpacing")
        slope = _group_value(groups, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _group_value(groups, "PixelValueTransformationSequence", "RescaleIntercept")
        frames.append(
            Frame(
                path=path,
                index=i,
                rows=rows,
                cols=cols,
                position=_floats(position, 3),  # type: ignore[arg-type]
                orientation=_floats(orientation, 6),
                pixel_spacing=_floats(spacing, 2),  # type: ignore[arg-type]
                slope=as_float(slope if slope is not None else ds.get("RescaleSlope"), 1.0),
                intercept=as_float(
                    intercept if intercept is not None else ds.get("RescaleIntercept"), 0.0
                ),
                instance=i + 1,
            )
        )
    return frames
