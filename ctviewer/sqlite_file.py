"""One SQLite file opened the same way wherever ctviewer keeps one (the decision store, the
screening worklist): autocommit (explicit `BEGIN IMMEDIATE` transactions), shared across
threads, rows by name, write-ahead log, durable commits."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from ctviewer.errors import CTViewerError


def now_utc() -> str:
    """The time stamp every row carries (ISO 8601, UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def connect(path: Path, what: str, timeout_s: float) -> sqlite3.Connection:
    """The connection to `path` (its folder made); a one-line CTViewerError naming `what` and
    the file when it cannot be opened. The PRAGMAs come after, in the caller's error handling
    (`make_durable`), since a damaged file fails only there."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as error:
        raise CTViewerError(f"cannot open the {what} ({error})", path) from None
    conn.row_factory = sqlite3.Row
    return conn


def make_durable(conn: sqlite3.Connection) -> None:
    """Write-ahead log with a full sync at each commit: nothing acknowledged is lost to a crash."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")


def write_schema(conn: sqlite3.Connection, schema: str, version: int) -> None:
    """Run the `CREATE ... IF NOT EXISTS` statements of `schema` and stamp `version` (inside the
    caller's transaction)."""
    for statement in schema.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version={version}")
