"""One entry for every export of an analysed series: the PDF, and optionally the DICOM SEG, key
images (SC) and structured report (SR).

The viewer calls `export_report` with the Volume and Result it holds; `ctviewer report` calls
`report_from_path`, which reads the series and runs the detection first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctviewer import paths
from ctviewer.feedback.carry import carry_decisions
from ctviewer.feedback.store import Decision, FeedbackStore
from ctviewer.io import load_volume
from ctviewer.measurement import Measurement
from ctviewer.presets import default_window
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report, subrange
from ctviewer.report.deidentify import report_header
from ctviewer.report.dicom_export import DicomExport, export_dicom
from ctviewer.report.pdf import ReportContent, write_pdf
from ctviewer.report.sources import require_dicom
from ctviewer.report.verdict import report_verdict
from ctviewer.volume import Result, Volume


@dataclass
class ReportOutputs:
    pdf: Path
    dicom: DicomExport | None = None
    verdict: str = ""  # the report's headline (`report_verdict`)


def reviewer_decisions(
    result: Result, db_path: str | Path | None = None
) -> dict[int | None, Decision]:
    """The reviewer's latest decisions for this series, keyed by finding id (None: whole series).

    Decisions made on an earlier analysis (another model version) count where they are at the same
    place (`feedback.carry`). A database that does not exist yet means no decisions (and is not
    created)."""
    store_path = Path(db_path) if db_path is not None else paths.feedback_db_path()
    if not store_path.exists():
        return {}
    with FeedbackStore(store_path) as store:
        decisions = store.decisions(result.item_key)
    return carry_decisions(decisions, result)


def stored_measurements(volume: Volume, db_path: str | Path | None = None) -> list[Measurement]:
    """The user's measurements on this series from the store ([] without a store)."""
    store_path = Path(db_path) if db_path is not None else paths.feedback_db_path()
    if not store_path.exists():
        return []
    with FeedbackStore(store_path) as store:
        return store.measurements(volume.item_key)


def export_report(
    volume: Volume,
    result: Result,
    out: str | Path,
    decisions: dict[int | None, Decision] | None = None,
    window: tuple[float, float] | None = None,
    deidentify: bool = False,
    dicom_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    measurements: list[Measurement] | None = None,
) -> ReportOutputs:
    """Write the PDF report (and the DICOM exports when `dicom_dir` is given); `measurements`
    are the user's on this series (a PDF section and SR groups)."""
    if dicom_dir is not None:
        require_dicom(volume)  # fail before writing anything
    window = window or default_window(volume)
    content = ReportContent(
        report_header(volume, deidentify),
        volume,
        result,
        decisions or {},
        window,
        list(measurements or []),
        dicom=dicom_dir is not None,
    )
    pdf = write_pdf(content, out, subrange(progress, 0.0, 0.7), cancel)
    dicom = None
    if dicom_dir is not None:
        check_cancel(cancel)
        dicom = export_dicom(
            volume,
            result,
            dicom_dir,
            window,
            deidentify,
            subrange(progress, 0.7, 1.0),
            cancel,
            content.decisions,
            content.measurements,
        )
    report(progress, 1.0, "exports written")
    return ReportOutputs(pdf, dicom, report_verdict(result, content.decisions).headline)


def report_from_path(
    path: str | Path,
    out: str | Path,
    model_path: str | Path | None = None,
    db_path: str | Path | None = None,
    window: tuple[float, float] | None = None,
    deidentify: bool = False,
    dicom_dir: str | Path | None = None,
    device: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> ReportOutputs:
    """Read a series (file or folder), analyse it with the model and write the exports.

    `model_path` None: the installed model that fits the series (`pipeline.analyse`)."""
    from ctviewer.pipeline import analyse

    report(progress, 0.0, "reading the series")
    volume = load_volume(path, progress=subrange(progress, 0.0, 0.3), cancel=cancel)
    if dicom_dir is not None:
        require_dicom(volume)
    analysis = subrange(progress, 0.3, 0.7)
    result = analyse(volume, model_path, device=device, progress=analysis, cancel=cancel)
    decisions = reviewer_decisions(result, db_path)
    return export_report(
        volume,
        result,
        out,
        decisions,
        window,
        deidentify,
        dicom_dir,
        subrange(progress, 0.7, 1.0),
        cancel,
        stored_measurements(volume, db_path),
    )
