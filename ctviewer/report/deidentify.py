"""De-identification for every export: the PDF header and the DICOM headers we write.

DICOM follows the Basic Application Level Confidentiality Profile (PS3.15 E.1) for the attributes
our exports carry: identifying attributes are removed or emptied (`PHI_KEYWORDS`), the patient is
named `ANONYMOUS` with a fresh random ID, and every instance UID (study, series, SOP instance,
frame of reference) is replaced by a new random UID through one `UidMap` per export, so the SEG
and the SC images of one export still reference each other and their (de-identified) source
consistently, but no longer the original study in the PACS. The map is never written anywhere.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from ctviewer.volume import Volume

ANONYMOUS = "ANONYMOUS^"  # trailing caret: a one-component person name
DEIDENTIFIED = "de-identified"
METHOD = "ctviewer: DICOM PS3.15 E.1 basic profile, new UIDs"

# Attributes removed (or emptied where the module needs them, see _EMPTIED): patient identity,
# dates/times that could identify, people, places and devices (basic profile actions X/Z/D).
PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientComments",
    "EthnicGroup",
    "MilitaryRank",
    "IssuerOfPatientID",
    "MedicalRecordLocator",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "ContentDate",
    "ContentTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "OperatorsName",
    "PhysiciansOfRecord",
    "RequestingPhysician",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "RequestAttributesSequence",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence",
    "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepDescription",
    "ImageComments",
    "AdditionalPatientHistory",
)
# Type 2 attributes of the modules we write: kept present but empty.
_EMPTIED = (
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)
UID_KEYWORDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "MediaStorageSOPInstanceUID",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameOfReferenceUID",
)


@dataclass
class ReportHeader:
    """What identifies the study in a report; all de-identified values when `deidentified`."""

    patient_name: str
    patient_id: str
    birth_date: str
    study_date: str
    series_description: str
    deidentified: bool = False


def _text(value: object) -> str:
    return str(value).strip() if value not in (None, "") else ""


def _date(value: object) -> str:
    """DICOM DA `YYYYMMDD` → `YYYY-MM-DD`; anything else as it is."""
    text = _text(value)
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def report_header(volume: Volume, deidentify: bool) -> ReportHeader:
    """The PDF header from `volume.meta` (DICOM keywords); PHI replaced when `deidentify`."""
    meta = volume.meta
    if deidentify:
        # descriptions are free text (basic profile action X): they go too
        return ReportHeader(*[DEIDENTIFIED] * 5, deidentified=True)
    name = _text(meta.get("PatientName")).replace("^", " ").strip()
    return ReportHeader(
        patient_name=name or "—",
        patient_id=_text(meta.get("PatientID")) or "—",
        birth_date=_date(meta.get("PatientBirthDate")) or "—",
        study_date=_date(meta.get("StudyDate")) or "—",
        series_description=_text(meta.get("SeriesDescription")),
    )


@dataclass
class UidMap:
    """Original UID → new random UID, consistent within one export."""

    mapping: dict[str, str] = field(default_factory=dict)
    patient_id: str = field(default_factory=lambda: "ANON-" + generate_uid(prefix=None)[-10:])

    def __call__(self, uid: str) -> str:
        if uid not in self.mapping:
            self.mapping[uid] = generate_uid()
        return self.mapping[uid]


def deidentify_dataset(dataset: Dataset, uids: UidMap) -> Dataset:
    """A de-identified copy of `dataset` (headers only matter; pixel data is left untouched)."""
    out = copy.deepcopy(dataset)
    _scrub(out, uids)
    if hasattr(out, "file_meta") and "MediaStorageSOPInstanceUID" in out.file_meta:
        out.file_meta.MediaStorageSOPInstanceUID = uids(out.file_meta.MediaStorageSOPInstanceUID)
    out.PatientName = ANONYMOUS
    out.PatientID = uids.patient_id
    for keyword in _EMPTIED:
        setattr(out, keyword, "")
    mark_deidentified(out)
    return out


def mark_deidentified(dataset: Dataset) -> None:
    """Patient Identity Removed = YES and the method (PS3.3 C.7.1.1)."""
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    dataset.DeidentificationMethodCodeSequence = Sequence([code])


def _scrub(dataset: Dataset, uids: UidMap) -> None:
    """Remove PHI, drop private tags, remap instance UIDs — recursively through sequences."""
    dataset.remove_private_tags()
    for keyword in PHI_KEYWORDS:
        if keyword in dataset:
            delattr(dataset, keyword)
    for keyword in UID_KEYWORDS:
        if keyword in dataset and dataset[keyword].value:
            setattr(dataset, keyword, uids(str(dataset[keyword].value)))
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                _scrub(item, uids)
