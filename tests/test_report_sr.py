"""The DICOM SR (TID 1500) of a reading, and the PDF's measurements, on the phantom series."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from highdicom.sr.utils import find_content_items
from pydicom.sr.codedict import codes
from pypdf import PdfReader
from test_report_dicom import header_text, phantom_series, source_uids, study  # noqa: F401

from ctviewer.feedback.store import FeedbackStore
from ctviewer.measurement import Measurement, measure
from ctviewer.report.export import export_report, reviewer_decisions
from ctviewer.report.keyimages import peak_slice
from ctviewer.volume import Result, Volume


def drawn(volume: Volume) -> list[Measurement]:
    """A 30-pixel horizontal length and an ellipse ROI, measured on the volume."""
    return [
        measure(volume, Measurement("length", 5, ((10, 10), (10, 40)), label="Dr Who's line")),
        measure(volume, Measurement("ellipse", 12, ((30, 30), (50, 60)))),
    ]


def reviewed_export(study, tmp_path: Path, deidentify: bool = False, result: Result | None = None):  # noqa: ANN001, ANN201, F811
    volume, analysed, _ = study
    result = result or analysed
    if result.findings:
        with FeedbackStore() as store:
            store.record(result, result.findings[0], "accept", "Dr Ada")
            store.record(result, result.findings[1], "reject", "Dr Bob")
    measurements = drawn(volume)
    outputs = export_report(
        volume,
        result,
        tmp_path / "report.pdf",
        reviewer_decisions(result),
        deidentify=deidentify,
        dicom_dir=tmp_path / "dicom",
        measurements=measurements,
    )
    return outputs, measurements


def groups_of(path: Path) -> list:
    return hd.sr.srread(path).content.get_planar_roi_measurement_groups()


def values(group) -> dict[str, float]:  # noqa: ANN001
    """Measurement values by name (derivation appended for ROI statistics)."""
    out = {}
    for m in group.get_measurements():
        how = m.derivation.meaning if m.derivation is not None else ""
        out[f"{m.name.meaning} {how}".strip()] = m.value
    return out


def test_sr_has_one_group_per_finding_and_per_measurement(study, tmp_path: Path) -> None:  # noqa: F811
    volume, result, _ = study
    outputs, measurements = reviewed_export(study, tmp_path)
    sr_path, seg_path = outputs.dicom.structured_report, outputs.dicom.segmentation
    groups = groups_of(sr_path)
    assert len(groups) == len(result.findings) + len(measurements) == 4
    seg = pydicom.dcmread(seg_path)
    sources = source_uids(volume)
    decided = {"Accepted by the reviewer", "Rejected by the reviewer"}
    seen = set()
    for finding, group, segment in zip(result.findings, groups, seg.SegmentSequence, strict=False):
        assert group.tracking_uid == segment.TrackingUID  # SR group and SEG segment: one region
        assert group.tracking_identifier == f"ctviewer finding {finding.id}"
        z = peak_slice(result, finding.id)
        image = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
        assert image.ReferencedSOPInstanceUID == sources[z].SOPInstanceUID
        _, y0, x0, _, y1, x1 = finding.bbox
        corners = np.reshape(group.roi.GraphicData, (-1, 2))
        assert corners.min(axis=0).tolist() == [x0, y0] and corners.max(axis=0).tolist() == [x1, y1]
        numbers = values(group)
        assert numbers["Volume"] == pytest.approx(finding.size_mm3)
        assert numbers["Peak anomaly score"] == pytest.approx(finding.peak)
        (decision,) = [
            q.value.meaning
            for q in group.get_qualitative_evaluations()
            if q.name.meaning == "Reviewer decision"
        ]
        seen.add(decision)
        (algorithm,) = find_content_items(group[0], name=codes.DCM.AlgorithmName, recursive=True)
        assert algorithm.TextValue == result.model.name
    assert seen == decided
    length, ellipse = groups[2:]
    assert values(length) == {"Length": pytest.approx(30 * volume.spacing[2])}
    assert values(ellipse)["Attenuation Coefficient Mean"] == pytest.approx(
        measurements[1].values["mean"]
    )
    assert values(ellipse)["Area"] == pytest.approx(measurements[1].values["area"])
    assert ellipse.roi.GraphicType == "ELLIPSE"
    evidence = {uid for *_, uid, _ in hd.sr.srread(sr_path).get_evidence()}
    assert seg.SOPInstanceUID in evidence and {s.SOPInstanceUID for s in sources} <= evidence


def test_deidentified_sr_carries_no_identity(study, tmp_path: Path) -> None:  # noqa: F811
    volume, _, phi = study
    outputs, _ = reviewed_export(study, tmp_path, deidentify=True)
    sr = pydicom.dcmread(outputs.dicom.structured_report)
    text = header_text(sr)
    assert not [s for s in phi if s in text]
    assert "Dr Who" not in text and "Dr Ada" not in text  # no typed label, no reviewer name
    assert sr.PatientIdentityRemoved == "YES"
    assert sr.StudyInstanceUID != source_uids(volume)[0].StudyInstanceUID
    assert len(groups_of(outputs.dicom.structured_report)) == 4


def test_not_assessed_sr_holds_the_measurements_and_no_finding(study, tmp_path: Path) -> None:  # noqa: F811
    volume, _, _ = study
    nothing = Result.not_assessed(volume, "no installed model fits this series")
    outputs, measurements = reviewed_export(study, tmp_path, result=nothing)
    dicom = outputs.dicom
    assert dicom.segmentation is None and dicom.key_images == []
    groups = groups_of(dicom.structured_report)
    assert [g.tracking_identifier.split()[1] for g in groups] == ["measurement"] * 2
    assert "not assessed" in dicom.note and "2 measurement(s) only, no finding" in dicom.note


def test_pdf_lists_the_measurements(study, tmp_path: Path) -> None:  # noqa: F811
    outputs, measurements = reviewed_export(study, tmp_path)
    text = " ".join(page.extract_text() for page in PdfReader(outputs.pdf).pages)
    assert "Measurements" in text
    assert measurements[0].summary() in text and "Dr Who's line" in text
    assert f"mean {measurements[1].values['mean']:.1f}" in text
    plain = export_report(study[0], study[1], tmp_path / "plain.pdf").pdf
    plain_text = " ".join(page.extract_text() for page in PdfReader(plain).pages)
    assert "Measurements" not in plain_text  # no section without measurements
