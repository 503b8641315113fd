"""DICOM exports with highdicom: the findings as a binary Segmentation, the key images as
Secondary Capture with the overlay burned in. Both join the source study (same Study UID, new
Series UIDs) and reference the source images; with `deidentify`, both join a de-identified copy
of the study instead (see `deidentify.py`).
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
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.render import orientation_letters
from ctviewer.report.deidentify import mark_deidentified
from ctviewer.report.keyimages import key_findings, key_image, peak_slice
from ctviewer.report.sources import require_dicom, source_datasets
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
    note: str = ""  # one line saying why nothing was written, when nothing was


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


def write_segmentation(sources: list[Dataset], result: Result, out: Path, deidentify: bool) -> Path:
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
    seg.save_as(out, enforce_file_format=True)
    return out


def write_key_images(
    sources: list[Dataset],
    volume: Volume,
    result: Result,
    window: tuple[float, float] | None,
    out_dir: Path,
    deidentify: bool,
    cancel: CancelFlag | None = None,
) -> list[Path]:
    """One RGB Secondary Capture per key finding: its peak slice with overlay and outlines."""
    letters = orientation_letters(volume, "axial")
    series_uid = generate_uid()
    paths = []
    for number, finding in enumerate(key_findings(result), start=1):
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
) -> DicomExport:
    """Write `seg.dcm` and `keyimage_NNN.dcm` into `out_dir`; on error or cancel nothing is left
    (files are written to a temporary folder inside `out_dir` and moved in at the end). A result
    with nothing to segment writes nothing and says why (`DicomExport.note`)."""
    out_dir = Path(out_dir)
    require_dicom(volume)
    note = nothing_to_export(result)
    if note:
        report(progress, 1.0, note)
        return DicomExport(None, [], note)
    report(progress, 0.0, "reading source DICOM headers")
    sources = source_datasets(volume, deidentify)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".ctviewer-", dir=out_dir) as tmp:
            staging = Path(tmp)
            with warnings.catch_warnings():
                # highdicom warns about one-component patient names, common in anonymised data
                warnings.filterwarnings("ignore", message=".*intended person name")
                report(progress, 0.2, "writing DICOM segmentation")
                seg = write_segmentation(sources, result, staging / "seg.dcm", deidentify)
                report(progress, 0.6, "writing DICOM key images")
                keys = write_key_images(
                    sources, volume, result, window, staging, deidentify, cancel
                )
            written = DicomExport(
                seg.replace(out_dir / seg.name),
                [key.replace(out_dir / key.name) for key in keys],
            )
    except OSError as error:
        raise CTViewerError(
            f"cannot write DICOM export ({error.strerror or error})", out_dir
        ) from None
    report(progress, 1.0, "DICOM export written")
    return written
