"""`ctviewer store check|backups|backup|restore`: the feedback database's health and backups."""

from __future__ import annotations

import argparse

from ctviewer.cli.common import print_json
from ctviewer.errors import CTViewerError
from ctviewer.feedback import recovery
from ctviewer.feedback.store import FeedbackStore


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `store`."""
    p = subparsers.add_parser(
        "store",
        help="check the feedback database, list or make backups, restore one",
        description="The feedback database (decisions and model versions) and its rotating"
        " backups. `restore` puts a backup back (default: the newest good one) and adds every"
        " row still readable from the current file, which is kept aside, never deleted."
        " Close the viewer first.",
    )
    p.add_argument("action", choices=["check", "backups", "backup", "restore"])
    p.add_argument("backup", nargs="?", help="for restore: a backup file or its name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_store)


def run_store(args: argparse.Namespace) -> int:
    if args.backup and args.action != "restore":
        raise CTViewerError(f"`store {args.action}` takes no backup name")
    if args.action == "restore":
        outcome = recovery.restore_store(args.backup)
        print_json(outcome.to_json()) if args.json else print(outcome.summary())
        return 0
    if args.action == "backup":
        with FeedbackStore() as store:
            made = store.backup("by-hand")
        print_json({"backup": str(made)}) if args.json else print(f"wrote {made}")
        return 0
    health = recovery.check_store(thorough=args.action == "check")
    if args.json:
        listed = [
            {"path": str(b.path), "time_utc": b.time_utc.isoformat(), "reason": b.reason}
            for b in health.backups
        ]
        print_json(
            {
                "path": str(health.path),
                "ok": health.ok,
                "problem": health.problem,
                "backups": listed,
            }
        )
    elif args.action == "backups":
        print("\n".join(b.describe() for b in health.backups) or "no backups yet")
    else:
        print(health.describe())
    return 0 if health.ok else 1
