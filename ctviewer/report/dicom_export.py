"""DICOM exports with highdicom: the findings as a binary Segmentation, the key images as
Secondary Capture with the overlay burned in (not for findings the reviewer rejected), and the
reading as a Structured Report (`sr.py`: findings, decisions, user measurements). All join the
source study (same Study UID, new Series UIDs) and reference the source images; with
`deidentify`, all join a de-identified copy of the study instead (see `deidentify.py`).
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ctviewer import __version__
from ctviewer.errors import CTViewerError
from ctviewer.feedback.store import Decision
from ctviewer.measurement import Measurement
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.render import orientation_letters
from ctviewer.report.deidentify import mark_deidentified
from ctviewer.report.keyimages import key_findings, key_image, peak_slice
from ctviewer.report.sources import require_dicom, source_datasets
from ctviewer.report.sr import make_sr
from ctviewer.volume import Result, Volume

MANUFACTURER = "ctviewer"
SEG_SERIES_NUMBER = 9001
SC_SERIES_NUMBER = 9002
# A finding is a region the model flags as unusual, not a diagnosis: an "abnormal region".
SEGMENT_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
SEGMENT_TYPE = codes.DCM.AbnormalRegion


@dataclass
class DicomExport:
    """The files one export wrote."""

    segmentation: Path | None  # None when there is no finding to segment
    key_images: list[Path] = field(default_factory=list)
    note: str = ""  # one line on what was not written, and why
    structured_report: Path | None = None  # None when there was neither finding nor measurement

    def summary(self, folder: str | Path) -> str:
        """One line for the status bar and the CLI: what was written where, and what was not."""
        written = [p.name for p in (self.segmentation, self.structured_report) if p is not None]
        if self.key_images:
            n = len(self.key_images)
            written.append(f"{n} key image{'s' if n != 1 else ''}")
        head = f"DICOM export to {folder}: {', '.join(written)}" if written else "DICOM export"
        return f"{head} — {self.note}" if self.note else head


def nothing_to_export(result: Result) -> str:
    """Why an export of `result` writes no SEG or key image ("" when it writes them)."""
    if not result.assessed:
        return (
            f"not assessed ({result.not_assessed_reason}): nothing was segmented, so no SEG "
            "or key image was written"
        )
    if not result.findings:
        return "no finding, so no SEG or key image was written"
    return ""


def rejected_note(result: Result, decisions: dict[int | None, Decision]) -> str:
    """`2 findings rejected by the reviewer got no key image` ("" when none was rejected)."""
    n = sum(
        1 for f in result.findings if f.id in decisions and decisions[f.id].decision == "reject"
    )
    if not n:
        return ""
    return f"{n} finding{'s' if n != 1 else ''} rejected by the reviewer got no key image"


def _segment_descriptions(result: Result) -> list[hd.seg.SegmentDescription]:
    algorithm = hd.AlgorithmIdentificationSequence(
        name=result.model.name,
        family=codes.DCM.ArtificialIntelligence,
        version=result.model.version,
        source=MANUFACTURER,
        parameters={"threshold": f"{result.threshold:.6g}"},
    )
    return [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"finding {finding.id}",
            segmented_property_category=SEGMENT_CATEGORY,
            segmented_property_type=SEGMENT_TYPE,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=generate_uid(),
            tracking_id=f"ctviewer finding {finding.id}",
        )
        for number, finding in enumerate(result.findings, start=1)
    ]


def segment_labels(result: Result) -> np.ndarray:
    """`Result.labels` renumbered so that finding k of the list is segment k+1 (uint16)."""
    lut = np.zeros(int(result.labels.max(initial=0)) + 1, dtype=np.uint16)
    for number, finding in enumerate(result.findings, start=1):
        lut[finding.id] = number
    return lut[np.clip(result.labels, 0, None)]


def make_segmentation(sources: list[Dataset], result: Result, deidentify: bool) -> Dataset:
    """One binary segment per finding (there must be one), on the source images' frames."""
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=segment_labels(result),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=_segment_descriptions(result),
        series_instance_uid=generate_uid(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=f"{MANUFACTURER} anomaly detection",
        software_versions=__version__,
        device_serial_number="0",
        series_description="ctviewer anomaly findings",
        content_label="FINDINGS",
        content_description="Regions flagged by the anomaly model (decision support)",
    )
    if deidentify:
        mark_deidentified(seg)
    return seg


def write_key_images(
    sources: list[Dataset],
    volume: Volume,
    result: Result,
    window: tuple[float, float] | None,
    out_dir: Path,
    deidentify: bool,
    cancel: CancelFlag | None = None,
    decisions: dict[int | None, Decision] | None = None,
) -> list[Path]:
    """One RGB Secondary Capture per key finding (`key_findings`: none for a finding the reviewer
    rejected): its peak slice with overlay and outlines."""
    letters = orientation_letters(volume, "axial")
    series_uid = generate_uid()
    paths = []
    for number, finding in enumerate(key_findings(result, decisions), start=1):
        check_cancel(cancel)
        z = peak_slice(result, finding.id)
        pixels = key_image(volume, result, z, window, selected=finding.id)
        ref = sources[z]
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=ref,
            pixel_array=pixels,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            series_instance_uid=series_uid,
            series_number=SC_SERIES_NUMBER,
            sop_instance_uid=generate_uid(),
            instance_number=number,
            manufacturer=MANUFACTURER,
            patient_orientation=(letters["right"], letters["bottom"]),
            series_description="ctviewer key images",
        )
        source_item = Dataset()
        source_item.ReferencedSOPClassUID = ref.SOPClassUID
        source_item.ReferencedSOPInstanceUID = ref.SOPInstanceUID
        sc.SourceImageSequence = [source_item]
        sc.DerivationDescription = (
            f"finding {finding.id}, slice {z + 1}: anomaly overlay and outline burned in"
        )
        sc.BurnedInAnnotation = "NO"  # only orientation letters and a scale bar, no identity
        if deidentify:
            mark_deidentified(sc)
        path = out_dir / f"keyimage_{number:03d}.dcm"
        sc.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def export_dicom(
    volume: Volume,
    result: Result,
    out_dir: str | Path,
    window: tuple[float, float] | None = None,
    deidentify: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    decisions: dict[int | None, Decision] | None = None,
    measurements: list[Measurement] | None = None,
) -> DicomExport:
    """Write `seg.dcm`, `keyimage_NNN.dcm` and `sr.dcm` into `out_dir`; on error or cancel nothing
    is left (files are written to a temporary folder inside `out_dir` and moved in at the end).

    `decisions` (finding id → the reviewer's latest) leave rejected findings out of the key images
    and go into the SR; `measurements` (the user's, on this series) become SR groups. A result
    with nothing to segment writes no SEG or key image, and an SR only for measurements; the note
    says what was not written and why (`DicomExport.note`)."""
    out_dir = Path(out_dir)
    decisions = decisions or {}
    measurements = measurements or []
    require_dicom(volume)
    note = nothing_to_export(result)
    if note and not measurements:
        note += ", nor an SR (no finding and no measurement to report)"
        report(progress, 1.0, note)
        return DicomExport(None, [], note)
    report(progress, 0.0, "reading source DICOM headers")
    sources = source_datasets(volume, deidentify)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".ctviewer-", dir=out_dir) as tmp:
            staging = Path(tmp)
            seg, keys, sr = _write_all(
                staging, sources, volume, result, window, deidentify, decisions, measurements,
                progress, cancel,
            )  # fmt: skip
            seg = seg.replace(out_dir / seg.name) if seg is not None else None
            keys = [key.replace(out_dir / key.name) for key in keys]
            sr = sr.replace(out_dir / sr.name)
    except OSError as error:
        raise CTViewerError(
            f"cannot write DICOM export ({error.strerror or error})", out_dir
        ) from None
    notes = [note or rejected_note(result, decisions)]
    if note and measurements:
        notes.append(f"the SR holds the {len(measurements)} measurement(s) only, no finding")
    report(progress, 1.0, "DICOM export written")
    return DicomExport(seg, keys, "; ".join(n for n in notes if n), sr)


def _write_all(
    staging: Path,
    sources: list[Dataset],
    volume: Volume,
    result: Result,
    window: tuple[float, float] | None,
    deidentify: bool,
    decisions: dict[int | None, Decision],
    measurements: list[Measurement],
    progress: ProgressFn | None,
    cancel: CancelFlag | None,
) -> tuple[Path | None, list[Path], Path]:
    """SEG and key images when there are findings, and the SR, into `staging`."""
    seg_path, seg, keys = None, None, []
    with warnings.catch_warnings():
        # highdicom warns about one-component patient names, common in anonymised data
        warnings.filterwarnings("ignore", message=".*intended person name")
        if not nothing_to_export(result):
            report(progress, 0.2, "writing DICOM segmentation")
            seg = make_segmentation(sources, result, deidentify)
            seg_path = staging / "seg.dcm"
            seg.save_as(seg_path, enforce_file_format=True)
            report(progress, 0.5, "writing DICOM key images")
            keys = write_key_images(
                sources, volume, result, window, staging, deidentify, cancel, decisions
            )
        check_cancel(cancel)
        report(progress, 0.85, "writing DICOM structured report")
        sr_path = staging / "sr.dcm"
        make_sr(sources, result, decisions, measurements, seg, deidentify).save_as(
            sr_path, enforce_file_format=True
        )
    return seg_path, keys, sr_path
