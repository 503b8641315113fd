"""The source images' headers for DICOM exports: read in slice order, completed where real data
leaves out what SEG/SC need, and de-identified when asked.

Real scanner and anonymised series often lack Type 2 patient/study attributes (birth date, sex,
accession number …) or carry empty Type 1 UIDs (the TotalSegmentator example has empty SOP
Class, SOP Instance, Study and Series UIDs). highdicom needs them all, so the copies we hand it
are completed: Type 2 attributes empty, UIDs from the file meta or derived from the series, so
that repeated exports of one series agree. The files themselves are never changed.
"""

from __future__ import annotations

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from ctviewer.errors import InputError
from ctviewer.report.deidentify import UidMap, deidentify_dataset
from ctviewer.volume import Volume

# Type 2 attributes of the Patient and General Study modules that highdicom reads directly
TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


def require_dicom(volume: Volume) -> None:
    """DICOM export references the source images: a one-line error for anything else."""
    if not volume.files:
        source = volume.source or "this input"
        raise InputError("DICOM export needs DICOM input (this is not a DICOM series)", source)
    if len(volume.files) != volume.n_slices:
        raise InputError(
            f"DICOM export needs one DICOM file per slice ({len(volume.files)} files for "
            f"{volume.n_slices} slices)",
            volume.source,
        )


def source_datasets(volume: Volume, deidentify: bool, uids: UidMap | None = None) -> list[Dataset]:
    """The headers of the source images in slice order, completed (see the module docstring);
    de-identified copies if asked."""
    require_dicom(volume)
    datasets = []
    for path in volume.files:
        try:
            datasets.append(pydicom.dcmread(path, stop_before_pixels=True))
        except (OSError, pydicom.errors.InvalidDicomError) as error:
            raise InputError(f"cannot read the source DICOM file ({error})", path) from None
    rows, cols = volume.array.shape[1:]
    if any((ds.get("Rows"), ds.get("Columns")) != (rows, cols) for ds in datasets):
        raise InputError("source DICOM matrix differs from the analysed volume", volume.source)
    complete_headers(datasets, volume.source)
    if deidentify:
        uids = uids or UidMap()
        datasets = [deidentify_dataset(ds, uids) for ds in datasets]
    return datasets


def complete_headers(datasets: list[Dataset], source: str) -> None:
    """Fill what SEG/SC need and the series lacks, in place (the in-memory copies only)."""
    for ds in datasets:
        meta = getattr(ds, "file_meta", Dataset())
        if not ds.get("SOPClassUID"):
            if not meta.get("MediaStorageSOPClassUID"):
                raise InputError("a source DICOM file has no SOP Class UID", source)
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
        if not ds.get("SOPInstanceUID") and meta.get("MediaStorageSOPInstanceUID"):
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        for keyword in TYPE2_PATIENT_STUDY:
            if keyword not in ds:
                setattr(ds, keyword, "")
    instances = [str(ds.get("SOPInstanceUID") or "") for ds in datasets]
    derived_series = _derived("series", *instances)
    for k, ds in enumerate(datasets):
        if not ds.get("SOPInstanceUID"):
            ds.SOPInstanceUID = _derived("instance", derived_series, str(k))
    _fill_shared(datasets, "SeriesInstanceUID", derived_series)
    series = str(datasets[0].SeriesInstanceUID)
    _fill_shared(datasets, "StudyInstanceUID", _derived("study", series))
    # SEG needs a Frame of Reference UID; some anonymised series (CQ500) lack it
    _fill_shared(datasets, "FrameOfReferenceUID", _derived("frame-of-reference", series))


def _derived(kind: str, *parts: str) -> str:
    """A UID that the same inputs always give (so repeated exports of a series agree)."""
    return generate_uid(entropy_srcs=[f"ctviewer-{kind}", *parts])


def _fill_shared(datasets: list[Dataset], keyword: str, uid: str) -> None:
    for ds in datasets:
        if not ds.get(keyword):
            setattr(ds, keyword, uid)
