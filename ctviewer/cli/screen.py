"""`screen` (archive screening into a worklist) and `worklist` (its rows by priority)."""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict
from pathlib import Path

from ctviewer.cli.common import ProgressLine, print_json
from ctviewer.errors import CTViewerError
from ctviewer.screen.worklist import VERDICTS

CSV_COLUMNS = (
    "source", "series_uid", "score", "threshold", "abnormal", "assessed", "findings", "status",
    "not_assessed_reason", "error", "model", "model_version", "finished_utc",
)  # fmt: skip
STATE_WORDS = {
    "flagged": "FLAGGED",
    "listed": "regions listed",
    "clear": "below threshold",
    "not_assessed": "NOT ASSESSED",
    "failed": "FAILED",
    "pending": "pending",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add screen and worklist."""
    p = subparsers.add_parser(
        "screen", help="analyse every series under SOURCE... into a worklist (resumable)"
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="folder tree, DICOMDIR, file, or a PACS query: 'pacs://NODE?modality=CT&"
        "study-date=YYYYMMDD[-YYYYMMDD]' (also patient-id, patient-name, accession)",
    )
    p.add_argument("--out", required=True, type=Path, metavar="WORKLIST.sqlite")
    p.add_argument(
        "--workers", type=int, default=None, help="worker processes (default 1; Ray: 1 per CPU)"
    )
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="'local', or a cluster to join")
    p.add_argument(
        "--model", type=Path, default=None, help="one model for all (default: the one that fits)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_screen)

    p = subparsers.add_parser("worklist", help="a screening worklist's rows, by priority")
    p.add_argument("worklist", type=Path, metavar="WORKLIST.sqlite")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", type=Path, default=None, metavar="FILE", help="write the rows as CSV")
    p.set_defaults(func=cmd_worklist)


def cmd_screen(args: argparse.Namespace) -> int:
    from ctviewer.screen import screen

    progress = ProgressLine()
    try:
        summary = screen(
            args.sources, args.out, args.workers, args.ray, args.model, args.device,
            args.threads, progress,
        )  # fmt: skip
    finally:
        progress.close()
    for note in summary.notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        print_json(asdict(summary))
    else:
        c = summary.counts
        print(
            f"{summary.worklist}: {c['total']} series — {c['flagged']} flagged, "
            f"{c['listed'] + c['clear']} below threshold, {c['not_assessed']} not assessed, "
            f"{c['failed']} failed, {c['pending']} pending"
        )
        print(
            f"this run: {summary.screened} screened ({summary.added} new) with {summary.workers} "
            f"{summary.runner} worker(s) in {summary.seconds:.1f} s, "
            f"{summary.series_per_hour:.0f} series/h"
        )
    if summary.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def cmd_worklist(args: argparse.Namespace) -> int:
    from ctviewer.screen import Worklist

    with Worklist(args.worklist, create=False) as worklist:
        rows = worklist.rows()
    if args.csv is not None:
        write_csv(rows, args.csv)
    if args.json:
        print_json([row.to_json() for row in rows])
    elif args.csv is None:
        for rank, row in enumerate(rows, start=1):
            print(row_line(rank, row))
    else:
        print(f"wrote {args.csv} ({len(rows)} rows)")
    return 0


def row_line(rank: int, row) -> str:
    """`3. FLAGGED score 0.31 / 0.26 (1.19×), 2 findings: SOURCE`."""
    word = STATE_WORDS[row.state]
    if row.state in VERDICTS:
        detail = (
            f"score {row.score:.4g} / {row.threshold:.4g} ({row.priority:.2f}×), "
            f"{len(row.findings)} finding{'s' if len(row.findings) != 1 else ''}"
        )
    else:
        detail = row.not_assessed_reason or row.error or row.status
    return f"{rank}. {word} {detail}: {row.source}"


def write_csv(rows, path: Path) -> None:
    try:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for row in rows:
                item = row.to_json()
                model = item.pop("model") or {}
                item.update(
                    findings=len(row.findings),
                    model=model.get("name", ""),
                    model_version=model.get("version", ""),
                )
                writer.writerow(["" if item[c] is None else item[c] for c in CSV_COLUMNS])
    except OSError as error:
        raise CTViewerError(f"cannot write the CSV ({error.strerror})", path) from None
