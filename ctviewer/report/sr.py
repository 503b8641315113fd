"""The reading as a DICOM Structured Report: TID 1500 Measurement Report (highdicom), stored as
Comprehensive 3D SR beside the SEG and the key images.

One measurement group (TID 1410, planar ROI) per finding: its box on the slice where it peaks
(an image region on that source image), its volume or area, peak and mean anomaly score, the model
as the algorithm, and the reviewer's decision as a qualitative evaluation; the group's tracking
UID is the SEG segment's, so SR and SEG name the same region. One group per user measurement:
length (mm), or an ellipse/rectangle ROI with mean, SD, min, max (HU) and area (mm²). The SR
references every source image and the SEG as evidence. A series that was not assessed has no
finding groups (nothing was found, or looked for); its SR, if any, holds the measurements only.

Scores and decisions have no standard code, so they use a private coding scheme (`99CTVIEWER`);
reviewer names are not written (the decision is; the PDF names who made it).
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ctviewer import __version__
from ctviewer.feedback.store import Decision
from ctviewer.measurement import Measurement
from ctviewer.report.deidentify import mark_deidentified
from ctviewer.report.keyimages import peak_slice
from ctviewer.volume import Finding, Result

SR_SERIES_NUMBER = 9003
SCHEME = "99CTVIEWER"
PEAK_SCORE = hd.sr.CodedConcept("CTV0001", SCHEME, "Peak anomaly score")
MEAN_SCORE = hd.sr.CodedConcept("CTV0002", SCHEME, "Mean anomaly score")
REVIEW = hd.sr.CodedConcept("CTV0010", SCHEME, "Reviewer decision")
DECISIONS = {
    "accept": hd.sr.CodedConcept("CTV0011", SCHEME, "Accepted by the reviewer"),
    "reject": hd.sr.CodedConcept("CTV0012", SCHEME, "Rejected by the reviewer"),
    None: hd.sr.CodedConcept("CTV0013", SCHEME, "Not reviewed"),
}
FINDING_ID_PREFIX = "ctviewer finding"
MEASUREMENT_ID_PREFIX = "ctviewer measurement"
ROI_STATISTICS = (  # Measurement.values key → derivation of the attenuation coefficient
    ("mean", codes.SCT.Mean),
    ("sd", codes.DCM.StandardDeviation),
    ("min", codes.SCT.Minimum),
    ("max", codes.SCT.Maximum),
)


def _source(ds: Dataset) -> hd.sr.SourceImageForRegion:
    return hd.sr.SourceImageForRegion(
        referenced_sop_class_uid=ds.SOPClassUID, referenced_sop_instance_uid=ds.SOPInstanceUID
    )


def _number(name, value: float, unit, derivation=None) -> hd.sr.Measurement:  # noqa: ANN001
    return hd.sr.Measurement(name=name, value=float(value), unit=unit, derivation=derivation)


def _algorithm(result: Result) -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(
        name=result.model.name,
        version=result.model.version or "unknown",
        parameters=[f"threshold={result.threshold:.6g}"],
    )


def _rectangle(bbox: tuple[int, ...]) -> np.ndarray:
    """The in-plane box of a finding as a closed polyline (column, row) on pixel edges."""
    _, y0, x0, _, y1, x1 = bbox
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)


def finding_group(
    finding: Finding,
    result: Result,
    sources: list[Dataset],
    tracking_uid: str,
    decision: Decision | None,
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """TID 1410 for one finding (see the module docstring)."""
    z = peak_slice(result, finding.id)
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=_rectangle(finding.bbox),
        source_image=_source(sources[z]),
    )
    measurements = []
    if finding.size_mm3 is not None:
        measurements.append(_number(codes.SCT.Volume, finding.size_mm3, codes.UCUM.CubicMillimeter))
    elif finding.area_mm2 is not None:
        measurements.append(_number(codes.SCT.Area, finding.area_mm2, codes.UCUM.SquareMillimeter))
    measurements += [
        _number(PEAK_SCORE, finding.peak, codes.UCUM.NoUnits),
        _number(MEAN_SCORE, finding.mean, codes.UCUM.NoUnits),
    ]
    kind = decision.decision if decision is not None else None
    evaluation = hd.sr.QualitativeEvaluation(REVIEW, DECISIONS.get(kind, DECISIONS[None]))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=tracking_uid, identifier=f"{FINDING_ID_PREFIX} {finding.id}"
        ),
        referenced_region=region,
        finding_type=codes.DCM.AbnormalRegion,
        finding_category=codes.SCT.MorphologicallyAbnormalStructure,
        algorithm_id=_algorithm(result),
        measurements=measurements,
        qualitative_evaluations=[evaluation],
    )


def _outline(m: Measurement) -> tuple[hd.sr.GraphicTypeValues, np.ndarray]:
    """The drawn shape in SCOORD image coordinates (column, row; a pixel's centre at +0.5)."""
    (y0, x0), (y1, x1) = ((y + 0.5, x + 0.5) for y, x in m.points_yx)
    if m.kind == "length":
        return hd.sr.GraphicTypeValues.POLYLINE, np.array([[x0, y0], [x1, y1]])
    if m.kind == "ellipse":  # major axis end points, then minor axis end points
        cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, abs(y1 - y0) / 2, abs(x1 - x0) / 2
        horizontal = [[cx - rx, cy], [cx + rx, cy]]
        vertical = [[cx, cy - ry], [cx, cy + ry]]
        axes = horizontal + vertical if rx >= ry else vertical + horizontal
        return hd.sr.GraphicTypeValues.ELLIPSE, np.array(axes)
    corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return hd.sr.GraphicTypeValues.POLYLINE, np.array(corners)


def measurement_group(
    m: Measurement, sources: list[Dataset], deidentify: bool
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """TID 1410 for one user measurement: Length, or the ROI's HU statistics and area."""
    graphic_type, data = _outline(m)
    values = {k: v for k, v in m.values.items() if np.isfinite(v)}
    if m.kind == "length":
        numbers = [_number(codes.SCT.Length, values["length"], codes.UCUM.Millimeter)]
    else:
        numbers = [
            _number(codes.DCM.AttenuationCoefficient, values[key], codes.UCUM.HounsfieldUnit, how)
            for key, how in ROI_STATISTICS
            if key in values
        ]
        if "area" in values:
            numbers.append(_number(codes.SCT.Area, values["area"], codes.UCUM.SquareMillimeter))
    label = "" if deidentify else m.label  # free text a user typed may name someone
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(),
            identifier=f"{MEASUREMENT_ID_PREFIX} {m.id} {m.kind} {label}".strip(),
        ),
        referenced_region=hd.sr.ImageRegion(
            graphic_type=graphic_type,
            graphic_data=data,
            source_image=_source(sources[m.slice_index]),
        ),
        measurements=numbers,
    )


def segment_tracking_uids(seg: Dataset | None) -> list[str]:
    """The SEG's segment tracking UIDs, in segment order (finding k of the list is segment k+1)."""
    return [str(item.TrackingUID) for item in (seg.SegmentSequence if seg is not None else [])]


def make_sr(
    sources: list[Dataset],
    result: Result,
    decisions: dict[int | None, Decision],
    measurements: list[Measurement],
    seg: Dataset | None,
    deidentify: bool,
) -> hd.sr.Comprehensive3DSR:
    """The Measurement Report (see the module docstring); `seg` None: no finding groups."""
    groups = []
    if result.assessed and seg is not None:
        uids = segment_tracking_uids(seg)
        groups += [
            finding_group(f, result, sources, uid, decisions.get(f.id))
            for f, uid in zip(result.findings, uids, strict=True)
        ]
    groups += [
        measurement_group(m, sources, deidentify)
        for m in measurements
        if 0 <= m.slice_index < len(sources) and m.values
    ]
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="ctviewer", model_name=f"ctviewer {__version__}"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*sources, *([seg] if seg is not None else [])],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="ctviewer",
        is_complete=True,
        is_final=False,  # decision support: no one has verified it as a final report
        series_description="ctviewer findings and measurements",
    )
    if deidentify:
        mark_deidentified(sr)
    return sr
