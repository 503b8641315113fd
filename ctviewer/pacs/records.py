"""What a PACS query asks and answers, the same for DICOMweb and DIMSE.

Both protocols hand back pydicom Datasets (QIDO-RS JSON goes through `Dataset.from_json`), so
one function reads a study record and one a series record from either.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from ctviewer.pacs.nodes import PacsError

_DATE_RANGE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")


@dataclass(frozen=True)
class StudyQuery:
    """Study search keys; empty means any. A name without `*`/`?` matches as a prefix."""

    patient_id: str = ""
    patient_name: str = ""
    accession: str = ""
    study_date: str = ""  # YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD
    modality: str = ""

    def __post_init__(self) -> None:
        match = _DATE_RANGE.match(self.study_date)
        if self.study_date and (match is None or not (match.group(1) or match.group(3))):
            raise PacsError(
                f"study date {self.study_date!r}: expected YYYYMMDD or YYYYMMDD-YYYYMMDD"
            )

    def keys(self) -> dict[str, str]:
        """DICOM keyword → matching value, for the keys given."""
        name = self.patient_name
        if name and not any(c in name for c in "*?"):
            name += "*"
        keys = {
            "PatientID": self.patient_id,
            "PatientName": name,
            "AccessionNumber": self.accession,
            "StudyDate": self.study_date,
            "ModalitiesInStudy": self.modality,
        }
        return {k: v for k, v in keys.items() if v}


STUDY_FIELDS = (
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "StudyDate",
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
    "AccessionNumber",
)
SERIES_FIELDS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)


@dataclass(frozen=True)
class StudyRecord:
    StudyInstanceUID: str
    PatientID: str = ""
    PatientName: str = ""
    StudyDate: str = ""
    StudyDescription: str = ""
    ModalitiesInStudy: list[str] = field(default_factory=list)
    NumberOfStudyRelatedInstances: int | None = None
    AccessionNumber: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SeriesRecord:
    SeriesInstanceUID: str
    Modality: str = ""
    SeriesNumber: int | None = None
    SeriesDescription: str = ""
    NumberOfSeriesRelatedInstances: int | None = None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value)


def _number(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def study_record(ds: Dataset) -> StudyRecord:
    modalities = ds.get("ModalitiesInStudy")
    if modalities is None:
        modalities = []
    elif isinstance(modalities, str):
        modalities = [m for m in modalities.split("\\") if m]
    return StudyRecord(
        StudyInstanceUID=_text(ds, "StudyInstanceUID"),
        PatientID=_text(ds, "PatientID"),
        PatientName=_text(ds, "PatientName"),
        StudyDate=_text(ds, "StudyDate"),
        StudyDescription=_text(ds, "StudyDescription"),
        ModalitiesInStudy=sorted(str(m) for m in modalities),
        NumberOfStudyRelatedInstances=_number(ds, "NumberOfStudyRelatedInstances"),
        AccessionNumber=_text(ds, "AccessionNumber"),
    )


def series_record(ds: Dataset) -> SeriesRecord:
    return SeriesRecord(
        SeriesInstanceUID=_text(ds, "SeriesInstanceUID"),
        Modality=_text(ds, "Modality"),
        SeriesNumber=_number(ds, "SeriesNumber"),
        SeriesDescription=_text(ds, "SeriesDescription"),
        NumberOfSeriesRelatedInstances=_number(ds, "NumberOfSeriesRelatedInstances"),
    )


def sort_series(series: list[SeriesRecord]) -> list[SeriesRecord]:
    """By series number (unnumbered last), as a PACS viewer lists them."""
    return sorted(series, key=lambda s: (s.SeriesNumber is None, s.SeriesNumber or 0))
