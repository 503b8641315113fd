"""Rotating backups of the feedback store, made with SQLite's online backup API.

A backup is a complete, self-contained SQLite file (rollback journal, no `-wal` beside it) in the
`backups/` folder beside the store, named `<store>-<UTC time>-<reason>.sqlite` so that names sort
by time. Only a store that passes `PRAGMA quick_check` is backed up: a damaged store must never
push the last good backup out of the rotation. The newest `KEEP` backups are kept.

When: once a day when a store is opened (`DAILY`), and before each `learn` (which writes a new
model version and may promote it). `ctviewer store backup` makes one by hand.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

KEEP = 5
DAILY = timedelta(days=1)
_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


@dataclass
class BackupInfo:
    """One backup file."""

    path: Path
    time_utc: datetime
    reason: str

    def describe(self) -> str:
        return f"{self.path.name}  {self.time_utc:%Y-%m-%d %H:%M:%S} UTC  {self.reason}"


def backup_dir(db_path: Path) -> Path:
    return db_path.parent / "backups"


def list_backups(db_path: Path) -> list[BackupInfo]:
    """The backups of the store at `db_path`, newest first."""
    found = []
    for path in backup_dir(db_path).glob(f"{db_path.stem}-*.sqlite"):
        stamp, _, reason = path.stem[len(db_path.stem) + 1 :].partition("-")
        try:
            time = datetime.strptime(stamp, _TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            continue  # not one of ours
        found.append(BackupInfo(path, time, reason))
    return sorted(found, key=lambda b: b.time_utc, reverse=True)


def quick_check(conn: sqlite3.Connection) -> str:
    """'ok', or SQLite's first complaint about the database behind `conn` (one line)."""
    try:
        row = conn.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as error:
        return str(error)
    return str(row[0]) if row else "no answer from PRAGMA quick_check"


def make_backup(conn: sqlite3.Connection, db_path: Path, reason: str, keep: int = KEEP) -> Path:
    """Copy the database behind `conn` into a new backup file; drop all but the newest `keep`.

    Raises sqlite3.DatabaseError when the database fails its quick check (nothing is written).
    """
    health = quick_check(conn)
    if health != "ok":
        raise sqlite3.DatabaseError(f"not backed up: the database is damaged ({health})")
    folder = backup_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime(_TIME_FORMAT)
    target = folder / f"{db_path.stem}-{stamp}-{reason}.sqlite"
    partial = target.with_suffix(".partial")
    copy = sqlite3.connect(partial)
    try:
        conn.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, readable on its own
    finally:
        copy.close()
    partial.replace(target)  # a backup cut short by a crash never looks like a backup
    for old in list_backups(db_path)[keep:]:
        old.path.unlink(missing_ok=True)
    return target


def backup_is_due(db_path: Path, max_age: timedelta = DAILY) -> bool:
    newest = next(iter(list_backups(db_path)), None)
    return newest is None or datetime.now(UTC) - newest.time_utc >= max_age
