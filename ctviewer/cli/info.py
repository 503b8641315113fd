"""`ctviewer info PATH [--json]`: the patients, studies and series found, and files set aside."""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

from ctviewer.cli.common import ProgressLine, print_json
from ctviewer.volume import SeriesInfo, StudyIndex


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `info`."""
    p = subparsers.add_parser(
        "info",
        help="list patients / studies / series under PATH (headers only) and files set aside",
    )
    p.add_argument("path", help="DICOM file, folder tree, DICOMDIR, NIfTI/NRRD/MHA or PNG/JPEG")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=info)


def info(args: argparse.Namespace) -> int:
    from ctviewer.io import discover

    progress = ProgressLine()
    try:
        index = discover(args.path, progress=progress)
    finally:
        progress.close()
    if args.json:
        print_json(index_to_json(index))
    else:
        print(format_index(index))
    return 0


def series_to_json(series: SeriesInfo) -> dict[str, Any]:
    return {
        "key": series.key,
        "series_uid": series.series_uid,
        "kind": series.kind,
        "modality": series.modality,
        "description": series.description,
        "images": series.n_images,
        "files": len(series.files),
        "matrix": [series.rows, series.cols],
        "spacing": [round(v, 4) for v in series.spacing] if series.spacing else None,
        "warnings": series.warnings,
    }


def index_to_json(index: StudyIndex) -> dict[str, Any]:
    return {
        "root": index.root,
        "patients": [
            {
                "patient_id": patient.patient_id,
                "name": patient.name,
                "studies": [
                    {
                        "study_uid": study.study_uid,
                        "date": study.date,
                        "description": study.description,
                        "series": [series_to_json(s) for s in study.series],
                    }
                    for study in patient.studies
                ],
            }
            for patient in index.patients
        ],
        "set_aside": [{"path": item.path, "reason": item.reason} for item in index.set_aside],
    }


def format_index(index: StudyIndex) -> str:
    """A human-readable tree; files set aside are grouped by reason."""
    lines = [f"{index.root}: {len(index.all_series())} series, {len(index.set_aside)} set aside"]
    for patient in index.patients:
        lines.append(f"patient {patient.patient_id or '(none)'}  {patient.name}".rstrip())
        for study in patient.studies:
            lines.append(f"  study {study.date or '-'}  {study.description}".rstrip())
            for s in study.series:
                spacing = "x".join(f"{v:.3g}" for v in s.spacing) if s.spacing else "?"
                lines.append(
                    f"    {s.modality or '?':<3} {s.n_images:>5} img  {s.rows}x{s.cols}  "
                    f"{spacing} mm  {s.description}  [{s.key}]"
                )
                lines.extend(f"        ! {warning}" for warning in s.warnings)
    reasons: dict[str, list[str]] = defaultdict(list)
    for item in index.set_aside:
        reasons[item.reason].append(item.path)
    if reasons:
        lines.append("set aside:")
    for reason, paths in sorted(reasons.items()):
        example = paths[0] if len(paths) == 1 else f"{len(paths)} files, e.g. {paths[0]}"
        lines.append(f"  {reason}: {example}")
    return "\n".join(lines)
