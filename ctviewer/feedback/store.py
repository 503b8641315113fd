"""The feedback store: radiologists' decisions on findings, in SQLite in the user data dir.

One row per click, never updated: a changed decision is a new row that supersedes the earlier one
for the same finding (`decisions()` gives the latest per finding, `history()` every row). A finding
is identified by (series UID, or source when there is none; model version; finding id) because
finding ids are only stable within one analysis.

Decisions:
- "accept": the finding is a real anomaly (with `finding=None`: the image is abnormal although the
  model found nothing — a missed anomaly);
- "reject": the finding is normal anatomy the model wrongly flagged;
- "normal": the whole image/series is normal (`finding=None`).

Durability: WAL journal, `synchronous=FULL`, one committed transaction per `record()`, so a kill -9
loses no decision already recorded; several windows and processes may use the database at once
(writers wait up to `BUSY_TIMEOUT_S` for each other). The schema version is kept in
`PRAGMA user_version`. The same database holds the model versions registry (`versions.py`).

Damage: a file SQLite cannot read (overwritten, truncated, its disk failing) raises `StoreDamaged`,
which says what to do; `backups` keeps rotating copies (one a day when the store is opened, one
before each learn) and `recovery.restore_store` puts the last good one back, together with every
row still readable from the damaged file. Detection never needs this file (`versions`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctviewer import paths
from ctviewer.errors import CTViewerError
from ctviewer.feedback import backups
from ctviewer.measurement import Measurement
from ctviewer.sqlite_file import connect, make_durable, now_utc, write_schema
from ctviewer.volume import Finding, Result

SCHEMA_VERSION = 2  # 2: measurements
BUSY_TIMEOUT_S = 10.0
DECISIONS = ("accept", "reject", "normal")
RESTORE_HINT = "`ctviewer store restore` (or the viewer at start) brings back the last good backup"
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_key TEXT NOT NULL,            -- series UID, or source when there is none
    series_uid TEXT,
    source TEXT NOT NULL,
    finding_id INTEGER,                -- NULL: a decision on the whole image/series
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'normal')),
    reviewer TEXT NOT NULL,
    time_utc TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    slice_start INTEGER,
    slice_end INTEGER,
    bbox TEXT,                         -- JSON [z0, y0, x0, z1, y1, x1], end exclusive
    centroid_mm TEXT,                  -- JSON [x, y, z] patient LPS
    peak REAL,
    score REAL NOT NULL,               -- the image/series score of the analysis decided on
    threshold REAL NOT NULL,
    n_findings INTEGER NOT NULL,       -- findings in that analysis
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS decisions_item ON decisions (item_key, model_version, finding_id);
CREATE INDEX IF NOT EXISTS decisions_source ON decisions (source);
CREATE TABLE IF NOT EXISTS model_versions (
    version TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    parent TEXT,
    created_utc TEXT NOT NULL,
    lineage TEXT NOT NULL,             -- JSON
    metrics TEXT NOT NULL,             -- JSON
    eligible INTEGER NOT NULL,         -- passed the promotion guard
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS measurements (
    id TEXT PRIMARY KEY,               -- Measurement.id
    item_key TEXT NOT NULL,            -- the series it was drawn on (Volume.item_key)
    data TEXT NOT NULL,                -- JSON of Measurement.to_json()
    time_utc TEXT NOT NULL             -- last change
);
CREATE INDEX IF NOT EXISTS measurements_item ON measurements (item_key);
CREATE TABLE IF NOT EXISTS promotions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL REFERENCES model_versions (version),
    time_utc TEXT NOT NULL,
    rolled_back INTEGER NOT NULL DEFAULT 0
);
"""


DECISION_WORDS = {"accept": "accepted", "reject": "rejected", "normal": "marked normal"}


@dataclass
class Decision:
    """One recorded decision (a row of the store)."""

    id: int
    series_uid: str | None
    source: str
    finding_id: int | None  # None: the whole image/series
    decision: str  # "accept" | "reject" | "normal"
    reviewer: str
    time_utc: str  # ISO 8601, UTC
    model_version: str
    slice_start: int | None
    slice_end: int | None  # inclusive
    bbox: tuple[int, int, int, int, int, int] | None  # z0, y0, x0, z1, y1, x1 (end exclusive)
    peak: float | None
    comment: str = ""
    model_name: str = ""
    centroid_mm: tuple[float, float, float] | None = None
    score: float = 0.0  # image/series score of the analysis decided on
    threshold: float = 0.0
    n_findings: int = 0

    @property
    def item_key(self) -> str:
        """What identifies the image/series: its UID, or its source when it has none."""
        return self.series_uid or self.source

    def describe(self, with_time: bool = True) -> str:
        """`accepted by Dr X, 2026-01-01 12:00 UTC` (the viewer and the report show this)."""
        text = f"{DECISION_WORDS.get(self.decision, self.decision)} by {self.reviewer}"
        return f"{text}, {self.time_utc.replace('T', ' ')[:16]} UTC" if with_time else text

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class StoreDamaged(CTViewerError):
    """The feedback database file is damaged: SQLite cannot read (all of) it."""

    def __init__(self, reason: str, path: str | Path) -> None:
        super().__init__(
            f"the feedback database is damaged ({reason}); {RESTORE_HINT}"
            " and keeps every decision still readable",
            path,
        )


def is_damage(error: sqlite3.Error) -> bool:
    """Whether SQLite's `error` means a damaged file (rather than a lock or a full disk)."""
    reason = str(error)
    return "malformed" in reason or "not a database" in reason


class FeedbackStore:
    """Decisions (and model versions) in one SQLite file; safe to share across threads/processes."""

    def __init__(self, path: str | Path | None = None, busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.path = Path(path) if path is not None else paths.feedback_db_path()
        self._lock = threading.RLock()
        self._checked = False  # the file passed `quick_check` in this session
        self._conn = connect(self.path, "feedback database", busy_timeout_s)
        try:
            with self._errors():
                make_durable(self._conn)
                self._conn.execute("PRAGMA foreign_keys=ON")
                self._migrate()
        except CTViewerError:
            self._conn.close()
            raise
        self._back_up_if_due()

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLite failures (corrupt file, lock held too long, read-only) into one line."""
        try:
            yield
        except sqlite3.Error as error:
            reason = str(error)
            if is_damage(error):
                raise StoreDamaged(reason, self.path) from None
            if "locked" in reason or "busy" in reason:
                reason = f"the feedback database is busy (locked by another program): {reason}"
            raise CTViewerError(f"feedback database error: {reason}", self.path) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One immediate write transaction, committed (durably) on exit, rolled back on error.

        The first write of a session checks the file first: SQLite reads some damage (a file
        cut short) as empty rows without complaint, and writing into it would spread it."""
        with self._lock, self._errors():
            if not self._checked:
                health = backups.quick_check(self._conn)
                if health != "ok":
                    raise StoreDamaged(" ".join(health.split())[:200], self.path)
                self._checked = True
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._lock, self._errors():
            return self._conn.execute(sql, params).fetchall()

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CTViewerError(
                f"feedback database schema {version} is newer than this ctviewer"
                f" ({SCHEMA_VERSION}); update ctviewer",
                self.path,
            )
        if version < SCHEMA_VERSION:
            with self.transaction() as conn:
                write_schema(conn, _SCHEMA, SCHEMA_VERSION)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- backups ----------------------------------------------------------------------------

    def backup(self, reason: str) -> Path:
        """A verified copy of the store in the rotation (`backups`); refused when it is damaged."""
        with self._lock:
            health = backups.quick_check(self._conn)
            if health != "ok":
                raise StoreDamaged(f"not backed up: {health}", self.path)
            try:
                return backups.make_backup(self._conn, self.path, reason)
            except (OSError, sqlite3.Error) as error:
                folder = backups.backup_dir(self.path)
                raise CTViewerError(f"cannot write a backup ({error})", folder) from None

    def _back_up_if_due(self) -> None:
        """The daily backup, made by whoever opens the store first that day. Never fatal: a
        store that cannot be backed up is still used (and a damaged one is said so here)."""
        if not backups.backup_is_due(self.path):
            return
        try:
            if (
                self.query("SELECT EXISTS (SELECT 1 FROM decisions)")[0][0]
                or self.query("SELECT EXISTS (SELECT 1 FROM model_versions)")[0][0]
            ):
                self.backup("daily")
        except (CTViewerError, OSError) as error:
            log.warning("no daily backup of the feedback database: %s", error)

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- decisions --------------------------------------------------------------------------

    def record(
        self,
        result: Result,
        finding: Finding | None,
        decision: str,
        reviewer: str,
        comment: str = "",
    ) -> Decision:
        """Record one decision, committed before returning. See the module docstring."""
        if decision not in DECISIONS:
            raise CTViewerError(f"unknown decision {decision!r} (use accept, reject or normal)")
        if decision == "reject" and finding is None:
            raise CTViewerError("a reject decision needs a finding")
        if decision == "normal" and finding is not None:
            raise CTViewerError("'normal' is a decision on the whole image; give no finding")
        if not reviewer.strip():
            raise CTViewerError("a decision needs a reviewer name")
        row: dict[str, Any] = {
            "item_key": result.item_key,
            "series_uid": result.series_uid,
            "source": result.source,
            "finding_id": finding.id if finding else None,
            "decision": decision,
            "reviewer": reviewer.strip(),
            "time_utc": now_utc(),
            "model_name": result.model.name,
            "model_version": result.model.version,
            "slice_start": finding.slice_start if finding else None,
            "slice_end": finding.slice_end if finding else None,
            "bbox": json.dumps([int(v) for v in finding.bbox]) if finding else None,
            "centroid_mm": json.dumps([float(v) for v in finding.centroid_mm]) if finding else None,
            "peak": float(finding.peak) if finding else None,
            "score": float(result.score),
            "threshold": float(result.threshold),
            "n_findings": len(result.findings),
            "comment": comment,
        }
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction() as conn:
            cursor = conn.execute(
                f"INSERT INTO decisions ({columns}) VALUES ({marks})", list(row.values())
            )
            row["id"] = cursor.lastrowid
        return _to_decision(row)

    def history(self, source_or_uid: str | None = None) -> list[Decision]:
        """Every decision ever recorded (oldest first), for one series/source or all."""
        where, params = _match(source_or_uid)
        rows = self.query(f"SELECT * FROM decisions {where} ORDER BY id", params)
        return [_to_decision(dict(r)) for r in rows]

    def decisions(
        self, source_or_uid: str | None = None, model_version: str | None = None
    ) -> list[Decision]:
        """The latest decision per finding (and per whole-image verdict), oldest first."""
        where, params = _match(source_or_uid)
        if model_version is not None:
            where = f"{where} AND model_version = ?" if where else "WHERE model_version = ?"
            params = [*params, model_version]
        rows = self.query(
            f"""SELECT * FROM decisions WHERE id IN (
                    SELECT MAX(id) FROM decisions {where}
                    GROUP BY item_key, model_version, IFNULL(finding_id, -1))
                ORDER BY id""",
            params,
        )
        return [_to_decision(dict(r)) for r in rows]

    # -- measurements -----------------------------------------------------------------------

    def save_measurement(self, item_key: str, measurement: Measurement) -> None:
        """Store (or replace, after an edit) one measurement of the series `item_key`."""
        data = json.dumps(measurement.to_json())
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO measurements (id, item_key, data, time_utc) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE"
                " SET data = excluded.data, time_utc = excluded.time_utc",
                (measurement.id, item_key, data, now_utc()),
            )

    def measurements(self, item_key: str) -> list[Measurement]:
        """The measurements kept for one series, in the order they were first drawn."""
        rows = self.query(
            "SELECT data FROM measurements WHERE item_key = ? ORDER BY rowid", [item_key]
        )
        return [Measurement.from_json(json.loads(r["data"])) for r in rows]

    def delete_measurement(self, measurement_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM measurements WHERE id = ?", (measurement_id,))


def _match(source_or_uid: str | None) -> tuple[str, list[str]]:
    if source_or_uid is None:
        return "", []
    return "WHERE (series_uid = ? OR source = ?)", [source_or_uid, source_or_uid]


def _to_decision(row: dict[str, Any]) -> Decision:
    bbox = json.loads(row["bbox"]) if row.get("bbox") else None
    centroid = json.loads(row["centroid_mm"]) if row.get("centroid_mm") else None
    return Decision(
        id=int(row["id"]),
        series_uid=row["series_uid"],
        source=row["source"],
        finding_id=row["finding_id"],
        decision=row["decision"],
        reviewer=row["reviewer"],
        time_utc=row["time_utc"],
        model_version=row["model_version"],
        slice_start=row["slice_start"],
        slice_end=row["slice_end"],
        bbox=tuple(bbox) if bbox else None,  # type: ignore[arg-type]
        peak=row["peak"],
        comment=row["comment"],
        model_name=row["model_name"],
        centroid_mm=tuple(centroid) if centroid else None,  # type: ignore[arg-type]
        score=row["score"],
        threshold=row["threshold"],
        n_findings=row["n_findings"],
    )
