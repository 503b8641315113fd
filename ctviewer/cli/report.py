"""`ctviewer report`: annotated PDF report, optionally DICOM SEG, key images (SC) and SR."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ctviewer.cli.common import ProgressLine, print_json
from ctviewer.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `report`."""
    p = subparsers.add_parser(
        "report", help="analyse a series and write an annotated PDF (and DICOM SEG/SC/SR)"
    )
    p.add_argument("path", metavar="PATH", help="a DICOM folder/file, NIfTI, or PNG/JPG")
    p.add_argument("--out", required=True, type=Path, metavar="FILE.pdf")
    p.add_argument("--model", type=Path, default=None, help="default: the active model")
    p.add_argument("--deidentify", action="store_true", help="no patient identity in any export")
    p.add_argument(
        "--dicom",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write DICOM SEG, Secondary Capture key images and a structured report here",
    )
    p.add_argument(
        "--reviewer-db",
        type=Path,
        default=None,
        metavar="DB",
        help="feedback database with the reviewer's decisions (default: the user's)",
    )
    p.add_argument(
        "--window",
        default=None,
        metavar="C,W",
        help="key-image window: CENTER,WIDTH (--window=-600,1500 for a negative center) or a "
        "preset name such as lung (default: the file's window)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=cmd_report)


def parse_window(text: str | None) -> tuple[float, float] | None:
    """`40,400` → (40.0, 400.0); a preset name → its window; None → None."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) == 2:
        try:
            center, width = (float(v) for v in parts)
        except ValueError:
            center, width = 0.0, 0.0
        if width > 0:
            return (center, width)
        raise InputError(f"--window {text!r}: expected CENTER,WIDTH with a positive width")
    from ctviewer.presets import get_preset

    return get_preset(text).window


def cmd_report(args: argparse.Namespace) -> int:
    from ctviewer.report.export import report_from_path

    start = time.perf_counter()
    progress = ProgressLine()
    try:
        outputs = report_from_path(
            args.path,
            args.out,
            model_path=args.model,
            db_path=args.reviewer_db,
            window=parse_window(args.window),
            deidentify=args.deidentify,
            dicom_dir=args.dicom,
            device=args.device,
            progress=progress,
        )
    finally:
        progress.close()
    written = {
        "pdf": str(outputs.pdf),
        "verdict": outputs.verdict,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if outputs.dicom is not None:
        seg = outputs.dicom.segmentation
        written["dicom_seg"] = str(seg) if seg else None
        written["dicom_key_images"] = [str(p) for p in outputs.dicom.key_images]
        sr = outputs.dicom.structured_report
        written["dicom_sr"] = str(sr) if sr else None
        if outputs.dicom.note:
            written["dicom_note"] = outputs.dicom.note
    if args.json:
        print_json(written)
        return 0
    for key, value in written.items():
        if key != "dicom_note":
            print(f"{key}: {value}")
    if outputs.dicom is not None and outputs.dicom.note:
        print(f"dicom: {outputs.dicom.note}")
    return 0
