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
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ctviewer import __version__
from ctviewer.errors import CTViewerError, InputError
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.render import orientation_letters
from ctviewer.report.deidentify import UidMap, deidentify_dataset, mark_deidentified
from ctviewer.report.keyimages import key_findings, key_image, peak_slice
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
    """The headers of the source images in slice order (de-identified copies if asked)."""
    require_dicom(volume)
    datasets = []
    for path in volume.files:
        try:
            datasets.append(pydicom.dcmread(path, stop_before_pixels=True))
        except (OSError, pydicom.errors.InvalidDicomError) as error:
            raise InputError(f"cannot read the source DICOM file ({error})", path) from None
    rows, cols = volume.array.shape[1:]
    if any((ds.Rows, ds.Columns) != (rows, cols) for ds in datasets):
        raise InputError("source DICOM matrix differs from the analysed volume", volume.source)
    _ensure_frame_of_reference(datasets)
    if deidentify:
        uids = uids or UidMap()
        datasets = [deidentify_dataset(ds, uids) for ds in datasets]
    return datasets


def _ensure_frame_of_reference(datasets: list[Dataset]) -> None:
    """SEG needs a Frame of Reference UID; some anonymised series (CQ500) lack it. Give them one
    derived from the series UID, so that repeated exports of a series agree."""
    if all("FrameOfReferenceUID" in ds for ds in datasets):
        return
    uid = generate_uid(
        entropy_srcs=["ctviewer-frame-of-reference", str(datasets[0].SeriesInstanceUID)]
    )
    for ds in datasets:
        ds.FrameOfReferenceUID = ds.get("FrameOfReferenceUID") or uid


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


def write_segmentation(
    sources: list[Dataset], result: Result, out: Path, deidentify: bool
) -> Path | None:
    """One binary segment per finding, on the source images' frames; None without findings."""
    if not result.findings:
        return None
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
            f"finding {finding.id}, slice {z}: anomaly overlay and outline burned in"
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
    (files are written to a temporary folder inside `out_dir` and moved in at the end)."""
    out_dir = Path(out_dir)
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
                seg and seg.replace(out_dir / seg.name),
                [key.replace(out_dir / key.name) for key in keys],
            )
    except OSError as error:
        raise CTViewerError(
            f"cannot write DICOM export ({error.strerror or error})", out_dir
        ) from None
    report(progress, 1.0, "DICOM export written")
    return written
