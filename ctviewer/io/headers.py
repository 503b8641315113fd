"""DICOM headers without pixels: read one file's header and list the image frames it holds.

A `Frame` is one 2D image: a single-frame file, or one frame of an enhanced multi-frame file
(whose geometry and rescale live in the per-frame / shared functional groups).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom import config
from pydicom.dataset import Dataset
from pydicom.uid import MediaStorageDirectoryStorage

from ctviewer.errors import InputError

# pydicom's read warnings quote element values (patient names, IDs): keep them out of logs and
# consoles. We read leniently anyway; what matters to the user is reported in our own warnings.
config.settings.reading_validation_mode = config.IGNORE
logging.getLogger("pydicom").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom\.")

Vec3 = tuple[float, float, float]


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


def read_header(path: str) -> Dataset:
    """The header of a DICOM file, pixel data not read; InputError (naming the file) otherwise."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
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


def frames_of(ds: Dataset, path: str) -> list[Frame]:
    """Every image frame of a DICOM header; [] when it holds no image."""
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if not rows or not cols:
        return []
    instance = int(as_float(ds.get("InstanceNumber"), 0))
    n_frames = int(as_float(ds.get("NumberOfFrames"), 1))
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
