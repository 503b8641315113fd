"""Write a phantom as a real DICOM series: CT Image Storage, one file per slice, int16 with
RescaleIntercept −1024, full geometry and a synthetic patient.

Compressed transfer syntaxes: RLE, JPEG-LS and JPEG 2000 lossless through pydicom's encoders (which
need pyjpegls / pylibjpeg-openjpeg), JPEG Lossless SV1 through our own small encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEGLosslessSV1,
    generate_uid,
)
from pydicom.valuerep import DS

from ctviewer.errors import InputError
from ctviewer.synth.jpeg_lossless import encode_jpeg_lossless

if TYPE_CHECKING:
    from ctviewer.synth.phantom import Phantom
    from ctviewer.volume import Volume

RESCALE_INTERCEPT = -1024


def write_dicom_series(
    phantom: Phantom,
    out_dir: str | Path,
    patient_name: str = "PHANTOM^DEMO",
    patient_id: str | None = None,
    series_description: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Path]:
    """Write `phantom.volume` as `out_dir/CT0001.dcm …` (slice order = volume order) and return
    the paths. HU are stored exactly (the phantom holds whole HU in [−1024, 3071])."""
    volume = phantom.volume
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(volume.meta)
    meta["PatientName"] = patient_name
    if patient_id is not None:
        meta["PatientID"] = patient_id
    if series_description is not None:
        meta["SeriesDescription"] = series_description
    stored = np.rint(np.subtract(volume.array, RESCALE_INTERCEPT, dtype=np.float32))
    if stored.min() < -32768 or stored.max() > 32767:
        raise InputError("HU values do not fit int16 with intercept -1024", out)
    stored = stored.astype(np.int16)
    direction = np.asarray(volume.direction, dtype=float)
    orientation = [*direction[:, 0], *direction[:, 1]]
    series_uid = str(meta["SeriesInstanceUID"])
    paths = []
    for k in range(volume.n_slices):
        ds = _slice_dataset(meta, volume, orientation)
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[series_uid, str(k)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        position = volume.index_to_mm(k, 0, 0)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [DS(v, auto_format=True) for v in position]
        ds.SliceLocation = DS(position[2], auto_format=True)
        ds.PixelData = stored[k].tobytes()
        _encode(ds, stored[k], UID(transfer_syntax))
        path = out / f"CT{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _encode(ds: Dataset, pixels: np.ndarray, syntax: UID) -> None:
    """Compress the slice's pixel data into `syntax` (uncompressed stays as it is)."""
    if syntax == ExplicitVRLittleEndian:
        return
    if syntax == JPEGLosslessSV1:  # pydicom has no encoder for it; ours is small and exact
        ds.PixelData = encapsulate([encode_jpeg_lossless(pixels.view(np.uint16))])
        ds.file_meta.TransferSyntaxUID = syntax
        return
    ds.compress(syntax, pixels)


def _slice_dataset(meta: dict[str, object], volume: Volume, orientation: list[float]) -> Dataset:
    """The attributes every slice of the series shares."""
    spacing = volume.spacing
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = CTImageStorage
    for keyword, value in meta.items():
        setattr(ds, keyword, value)
    ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = meta["StudyDate"]
    ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = meta["StudyTime"]
    ds.ReferringPhysicianName = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.KVP = "120"
    ds.ImageOrientationPatient = [DS(v, auto_format=True) for v in orientation]
    ds.PixelSpacing = [DS(spacing[1], auto_format=True), DS(spacing[2], auto_format=True)]
    ds.SliceThickness = DS(spacing[0], auto_format=True)
    ds.SpacingBetweenSlices = DS(spacing[0], auto_format=True)
    ds.Rows, ds.Columns = volume.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = RESCALE_INTERCEPT
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    center, width = volume.window or (40.0, 400.0)
    ds.WindowCenter = [DS(center, auto_format=True), DS(-600)]
    ds.WindowWidth = [DS(width, auto_format=True), DS(1500)]
    ds.WindowCenterWidthExplanation = ["MEDIASTINUM", "LUNG"]
    return ds
