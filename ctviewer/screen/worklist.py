"""The worklist database: one row per series to screen, in SQLite, written by one process.

A row is added `pending` when discovery finds its series, `running` while one screening run has
claimed it (`claimed_by` names the run), and `done` (assessed or not assessed) or `failed` (the
series could not be read) once its outcome is committed, each row in its own transaction with
`synchronous=FULL`, so a kill -9 loses at most the series in flight and never half a row. A re-run
hands back claims of runs that are gone and screens only what is not final; `results_written`
counts the outcomes written per row (1 for every final row, which the tests check).

The anomaly map of an assessed series lives beside the database (`WL.maps/<name>.npz`: the map
as float16 for display, the finding labels exactly), so that the viewer shows the stored result
without analysing again. Rows come out by priority: score over threshold, highest first; rows
without a verdict (not assessed, failed, still pending) last.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ctviewer.errors import CTViewerError, InputError
from ctviewer.screen.outcome import Outcome, decode_maps
from ctviewer.sqlite_file import connect, make_durable, now_utc, write_schema
from ctviewer.volume import Finding, ModelInfo, Result, SeriesInfo

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
VERDICTS = ("flagged", "listed", "clear")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    key TEXT PRIMARY KEY,              -- SeriesInfo.key: the series UID (#stack), or the file
    source TEXT NOT NULL,              -- the series' file or folder (Volume.source)
    series_uid TEXT,
    info TEXT NOT NULL,                -- SeriesInfo as JSON: what a worker reads
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    claimed_by TEXT,                   -- host:pid:run of the run screening it
    added_utc TEXT NOT NULL,
    finished_utc TEXT,
    assessed INTEGER,
    not_assessed_reason TEXT NOT NULL DEFAULT '',
    score REAL,
    threshold REAL,
    abnormal INTEGER,
    priority REAL,                     -- score / threshold, NULL without a verdict
    findings TEXT NOT NULL DEFAULT '[]',
    n_findings INTEGER NOT NULL DEFAULT 0,
    model_name TEXT NOT NULL DEFAULT '',
    model_version TEXT NOT NULL DEFAULT '',
    model_body_part TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    slices INTEGER,
    seconds REAL,                      -- read + analyse, in the worker
    worker TEXT NOT NULL DEFAULT '',
    worker_peak_rss_mb REAL,
    map TEXT,                          -- file name in WL.maps/, NULL when none was kept
    error TEXT NOT NULL DEFAULT '',
    results_written INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS series_status ON series (status);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started_utc TEXT NOT NULL,
    finished_utc TEXT,
    runner TEXT NOT NULL,
    workers INTEGER NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'running'
);
"""


def priority_of(score: float, threshold: float) -> float:
    """How far above its threshold a score is: score / threshold (score − threshold when the
    threshold is not positive)."""
    return score / threshold if threshold > 0 else score - threshold


@dataclass
class WorklistRow:
    """One series of the worklist, as stored."""

    key: str
    source: str
    series_uid: str | None
    status: str
    info: SeriesInfo
    assessed: bool
    not_assessed_reason: str
    score: float | None
    threshold: float | None
    abnormal: bool
    priority: float | None
    findings: list[Finding]
    model: ModelInfo | None
    slices: int | None
    seconds: float | None
    finished_utc: str | None
    error: str
    map: str | None
    results_written: int
    worker: str  # host:pid of the process that analysed it
    worker_peak_rss_mb: float | None

    @property
    def item_key(self) -> str:
        """Its identity in the decision store (as `Result.item_key`)."""
        return self.series_uid or self.source

    @property
    def state(self) -> str:
        """flagged, listed, clear (as `Result.state`), not_assessed, failed or pending."""
        if self.status == "failed":
            return "failed"
        if self.status != "done":
            return "pending"
        if not self.assessed:
            return "not_assessed"
        if self.abnormal:
            return "flagged"
        return "listed" if self.findings else "clear"

    def to_json(self) -> dict[str, Any]:
        """A `ctviewer worklist --json` row (see the architecture doc)."""
        return {
            "source": self.source,
            "series_uid": self.series_uid,
            "score": self.score,
            "threshold": self.threshold,
            "abnormal": self.abnormal,
            "assessed": self.assessed,
            "not_assessed_reason": self.not_assessed_reason,
            "findings": [f.to_json() for f in self.findings],
            "status": self.status,
            "error": self.error,
            "model": self.model.to_json() if self.model else None,
            "finished_utc": self.finished_utc,
        }


class Worklist:
    """The worklist database at `path` (created on first use); maps in `path.maps/`."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise InputError("no such worklist", self.path)
        self._conn = connect(self.path, "worklist", BUSY_TIMEOUT_S)
        try:
            with self._errors():
                make_durable(self._conn)
                self._migrate()
        except CTViewerError:
            self._conn.close()
            raise

    @property
    def maps_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".maps")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Worklist:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            reason = str(error)
            if "not a database" in reason or "malformed" in reason:
                reason = f"not a worklist database or damaged ({reason})"
            raise CTViewerError(f"worklist error: {reason}", self.path) from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CTViewerError(f"worklist schema {version} is newer than this ctviewer", self.path)
        if version < SCHEMA_VERSION:
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master")}
            if tables - {"series", "runs"} - {t for t in tables if t.startswith("sqlite_")}:
                raise CTViewerError("not a worklist database (it holds other tables)", self.path)
            with self._transaction() as conn:
                write_schema(conn, _SCHEMA, SCHEMA_VERSION)

    # -- screening (the one writer) ---------------------------------------------------------

    def add(self, series: Iterable[tuple[SeriesInfo, str]]) -> int:
        """Add (series, source) pairs not listed yet as pending; how many were new."""
        rows = [
            (info.key, source, info.series_uid, json.dumps(_stored(info)), now_utc())
            for info, source in series
        ]
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO series (key, source, series_uid, info, status, added_utc)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                rows,
            )
            return conn.total_changes - before

    def start_run(self, runner: str, workers: int) -> str:
        """Register this run; hand back the claims of runs on this host whose process is gone."""
        run = f"{socket.gethostname()}:{os.getpid()}:{now_utc()}:{uuid.uuid4().hex[:8]}"
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO runs (id, started_utc, runner, workers) VALUES (?, ?, ?, ?)",
                (run, now_utc(), runner, workers),
            )
            owners = conn.execute(
                "SELECT DISTINCT claimed_by FROM series WHERE status = 'running'"
                " UNION SELECT id FROM runs WHERE outcome = 'running' AND id != ?",
                (run,),
            ).fetchall()
            for (owner,) in owners:
                if not run_is_alive(owner):
                    conn.execute(
                        "UPDATE series SET status = 'pending', claimed_by = NULL"
                        " WHERE status = 'running' AND claimed_by = ?",
                        (owner,),
                    )
                    conn.execute(
                        "UPDATE runs SET outcome = 'died' WHERE id = ? AND outcome = 'running'",
                        (owner,),
                    )
        return run

    def end_run(self, run: str, outcome: str) -> None:
        """Release what `run` still claims (interrupted work goes back to pending)."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE series SET status = 'pending', claimed_by = NULL"
                " WHERE status = 'running' AND claimed_by = ?",
                (run,),
            )
            conn.execute(
                "UPDATE runs SET finished_utc = ?, outcome = ? WHERE id = ?",
                (now_utc(), outcome, run),
            )

    def pending(self) -> list[SeriesInfo]:
        """The series still to screen, in the order they were added."""
        rows = self._query("SELECT info FROM series WHERE status = 'pending' ORDER BY rowid")
        return [series_info(json.loads(r["info"])) for r in rows]

    def final_series_uids(self) -> set[str]:
        """Series UIDs whose every row (stack) is done or failed."""
        rows = self._query(
            "SELECT series_uid FROM series WHERE series_uid IS NOT NULL GROUP BY series_uid"
            " HAVING SUM(status NOT IN ('done', 'failed')) = 0"
        )
        return {r["series_uid"] for r in rows}

    def claim(self, key: str, run: str) -> bool:
        """Mark `key` running for `run`; False when another run holds it or it is final."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE series SET status = 'running', claimed_by = ?"
                " WHERE key = ? AND status = 'pending'",
                (run, key),
            )
            return cursor.rowcount == 1

    def record(self, outcome: Outcome, run: str) -> bool:
        """Commit one series' outcome (its map file first); False when the row was not ours
        to write (already final, or claimed by another run)."""
        map_name = None
        if outcome.maps is not None:
            map_name = f"{map_stem(outcome.key)}.npz"
            self.maps_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.maps_dir / f"{map_name}.tmp"
            tmp.write_bytes(outcome.maps)
            os.replace(tmp, self.maps_dir / map_name)
        model = outcome.model or {}
        priority = None
        if outcome.assessed and outcome.score is not None and outcome.threshold is not None:
            priority = priority_of(outcome.score, outcome.threshold)
        values = {
            "status": outcome.status,
            "finished_utc": now_utc(),
            "assessed": int(outcome.assessed),
            "not_assessed_reason": outcome.not_assessed_reason,
            "score": outcome.score,
            "threshold": outcome.threshold,
            "abnormal": int(outcome.abnormal),
            "priority": priority,
            "findings": json.dumps(outcome.findings),
            "n_findings": len(outcome.findings),
            "model_name": model.get("name", ""),
            "model_version": model.get("version", ""),
            "model_body_part": model.get("body_part", ""),
            "device": model.get("device", ""),
            "slices": outcome.slices,
            "seconds": outcome.seconds,
            "worker": outcome.worker,
            "worker_peak_rss_mb": outcome.worker_peak_rss_mb,
            "map": map_name,
            "error": outcome.error,
        }
        if outcome.source:
            values["source"] = outcome.source
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._transaction() as conn:
            cursor = conn.execute(
                f"UPDATE series SET {assignments}, claimed_by = NULL,"
                " results_written = results_written + 1"
                " WHERE key = ? AND status = 'running' AND claimed_by = ?",
                [*values.values(), outcome.key, run],
            )
            return cursor.rowcount == 1

    # -- reading ----------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._errors():
            return self._conn.execute(sql, params).fetchall()

    def counts(self) -> dict[str, int]:
        """Rows per state: flagged, listed, clear, not_assessed, failed, pending (and total)."""
        counts = dict.fromkeys(("flagged", "listed", "clear", "not_assessed", "failed"), 0)
        counts["pending"] = 0
        for row in self.rows():
            counts[row.state] += 1
        counts["total"] = sum(counts.values())
        return counts

    def rows(self) -> list[WorklistRow]:
        """Every row, highest priority first; rows without a verdict last."""
        rows = [_to_row(r) for r in self._query("SELECT * FROM series")]
        return sorted(rows, key=priority_key)

    def runs(self) -> list[dict[str, Any]]:
        """Every screening run, oldest first, with its outcome (running, finished, interrupted,
        failed, or died: killed before it could say)."""
        return [dict(r) for r in self._query("SELECT * FROM runs ORDER BY rowid")]

    def row(self, key: str) -> WorklistRow:
        found = self._query("SELECT * FROM series WHERE key = ?", (key,))
        if not found:
            raise InputError(f"no series {key!r} in this worklist", self.path)
        return _to_row(found[0])

    def result(self, row: WorklistRow) -> Result:
        """The stored Result of a done row: its verdict, findings and (when kept) its map."""
        if row.status != "done":
            raise CTViewerError(f"series {row.key} has no stored result ({row.status})")
        shape = (row.slices or row.info.n_images, row.info.rows, row.info.cols)
        amap = np.zeros(shape, dtype=np.float32)
        labels = np.zeros(shape, dtype=np.int32)
        scores = np.zeros(0, dtype=np.float32)
        if row.map and (self.maps_dir / row.map).is_file():
            amap, labels, scores = decode_maps(self.maps_dir / row.map)
        model = row.model or ModelInfo(name="none", version="", threshold=float("nan"))
        threshold = row.threshold if row.threshold is not None else float("nan")
        return Result(
            source=row.source,
            series_uid=row.series_uid,
            model=model,
            score=row.score if row.score is not None else float("nan"),
            threshold=threshold,
            abnormal=row.abnormal,
            slice_scores=scores,
            anomaly_map=amap,
            labels=labels,
            findings=row.findings,
            assessed=row.assessed,
            not_assessed_reason=row.not_assessed_reason,
        )


def priority_key(row: WorklistRow) -> tuple:
    """Sort key: verdicts by priority (highest first), then not assessed, failed, pending."""
    if row.state in VERDICTS and row.priority is not None:
        return (0, -row.priority, row.key)
    rank = {"not_assessed": 1, "failed": 2}.get(row.state, 3)
    return (rank, 0.0, row.key)


def map_stem(key: str) -> str:
    """The map's file name for a series key: a stable digest (keys are UIDs or paths)."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def run_is_alive(run: str | None) -> bool:
    """Whether the run that claimed a row may still be screening it: its process exists. The
    one writer of a worklist runs on one host; a claim made on another host is left alone."""
    if not run:
        return False
    host, _, rest = run.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _stored(info: SeriesInfo) -> dict:
    """A series as its worklist row keeps it: without the headers discovery read (a later run
    reads them afresh, the files may have changed since)."""
    return asdict(replace(info, scan=None))


def series_info(data: dict) -> SeriesInfo:
    data = dict(data)
    data.pop("scan", None)
    if data.get("spacing") is not None:
        data["spacing"] = tuple(data["spacing"])
    return SeriesInfo(**data)


def _to_row(r: sqlite3.Row) -> WorklistRow:
    model = None
    if r["model_name"]:
        model = ModelInfo(
            name=r["model_name"],
            version=r["model_version"],
            threshold=r["threshold"] if r["threshold"] is not None else float("nan"),
            device=r["device"] or "cpu",
            body_part=r["model_body_part"],
        )
    findings = [_finding(f) for f in json.loads(r["findings"] or "[]")]
    return WorklistRow(
        key=r["key"],
        source=r["source"],
        series_uid=r["series_uid"],
        status=r["status"],
        info=series_info(json.loads(r["info"])),
        assessed=bool(r["assessed"]),
        not_assessed_reason=r["not_assessed_reason"],
        score=r["score"],
        threshold=r["threshold"],
        abnormal=bool(r["abnormal"]),
        priority=r["priority"],
        findings=findings,
        model=model,
        slices=r["slices"],
        seconds=r["seconds"],
        finished_utc=r["finished_utc"],
        error=r["error"],
        map=r["map"],
        results_written=r["results_written"],
        worker=r["worker"],
        worker_peak_rss_mb=r["worker_peak_rss_mb"],
    )


def _finding(data: dict) -> Finding:
    data = dict(data)
    data["bbox"] = tuple(data["bbox"])
    data["centroid_mm"] = tuple(data["centroid_mm"])
    return Finding(**data)
