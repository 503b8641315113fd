"""Check the feedback store, and restore it from a backup without losing what is still readable.

`restore_store()`:
1. reads every row still whole in the current (damaged) file and its `-wal`, page by page
   (`salvage`), without writing to them;
2. starts a new store from the chosen backup (default: the newest one that passes its check;
   with none, an empty store);
3. merges the salvaged rows in without duplicates: a decision is the same decision when every
   field but its id matches (ids are kept where free, so "latest per finding" stays right);
   a model version by its name; a promotion by (version, time), a rollback seen in either
   copy winning (rollbacks only ever go one way);
4. keeps the old file (and its `-wal`) beside the store as `<name>.before-restore-<time>.sqlite`,
   never deleting it, and puts the new store in its place.

Close the viewer (and other ctviewer commands) first: they would keep writing to the old file.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctviewer import paths
from ctviewer.errors import CTViewerError
from ctviewer.feedback import backups, salvage, versions
from ctviewer.feedback.store import _SCHEMA, SCHEMA_VERSION, FeedbackStore

_SIDE_FILES = ("-wal", "-shm")
# the order rows are merged in (foreign keys first)
TABLES = ("model_versions", "decisions", "promotions", "measurements")
_SEQUENCE_COLUMNS = [  # SQLite's own table of AUTOINCREMENT counters, typed for salvage
    salvage.Column("name", "TEXT", True, False),
    salvage.Column("seq", "INTEGER", True, False),
]


@dataclass
class StoreHealth:
    """What `check_store` found."""

    path: Path
    problem: str  # "" when the store is healthy
    backups: list[backups.BackupInfo] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem

    def describe(self) -> str:
        newest = self.backups[0].describe() if self.backups else "none yet"
        state = "ok" if self.ok else f"DAMAGED ({self.problem})"
        return f"{self.path}: {state}; {len(self.backups)} backups, newest: {newest}"


@dataclass
class RestoreOutcome:
    """What `restore_store` did."""

    path: Path
    backup: Path | None  # None: no usable backup, rebuilt from the damaged file alone
    kept_aside: Path | None  # the old file, kept
    from_backup: dict[str, int]  # rows per table in the backup
    salvaged: dict[str, int]  # rows added from the old file
    lost_decision_ids: list[int]  # ids below the highest one seen that neither copy held

    def summary(self) -> str:
        source = self.backup.name if self.backup else "no usable backup (empty store)"
        lines = [
            f"restored {self.path} from {source}",
            f"  from the backup: {self.from_backup['decisions']} decisions,"
            f" {self.from_backup['model_versions']} model versions",
            f"  recovered from the damaged file: {self.salvaged['decisions']} more decisions,"
            f" {self.salvaged['model_versions']} more model versions,"
            f" {self.salvaged['promotions']} promotions",
        ]
        if self.lost_decision_ids:
            lines.append(
                f"  not readable anywhere: {len(self.lost_decision_ids)} decisions"
                f" (ids {_id_ranges(self.lost_decision_ids)})"
            )
        if self.kept_aside is not None:
            lines.append(f"  the damaged file is kept at {self.kept_aside}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("path", "backup", "kept_aside"):
            data[name] = str(data[name]) if data[name] is not None else None
        return data


# -- check ----------------------------------------------------------------------------------


def check_store(path: str | Path | None = None, thorough: bool = False) -> StoreHealth:
    """Whether the store can be read whole (`PRAGMA quick_check`, or `integrity_check` when
    `thorough`), checked on a copy so that the file itself is never touched."""
    path = Path(path) if path is not None else paths.feedback_db_path()
    health = StoreHealth(path, "", backups.list_backups(path))
    if not path.exists():
        return health
    with _copy_of(path) as copy, closing(sqlite3.connect(copy)) as conn:
        pragma = "integrity_check(1)" if thorough else "quick_check(1)"
        try:
            answer = str(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
            conn.execute("SELECT COUNT(*) FROM decisions").fetchone()
        except sqlite3.DatabaseError as error:
            answer = str(error)
    health.problem = "" if answer == "ok" else " ".join(answer.split())
    return health


@contextmanager
def _copy_of(path: Path) -> Iterator[Path]:
    """A throw-away copy of the database file and its `-wal` (SQLite may write to what it opens)."""
    with tempfile.TemporaryDirectory(prefix="ctviewer-store-") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        wal = path.with_name(path.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        yield copy


# -- restore --------------------------------------------------------------------------------


def restore_store(
    backup: str | Path | None = None, path: str | Path | None = None
) -> RestoreOutcome:
    """Put a backup back in place of the store at `path`, merged with every row still readable
    from the current file, which is kept aside. See the module docstring."""
    path = Path(path) if path is not None else paths.feedback_db_path()
    chosen = _chosen_backup(path, backup)
    columns = {**salvage.schema_columns(_SCHEMA), "sqlite_sequence": _SEQUENCE_COLUMNS}
    found = salvage.salvage_rows(path, columns) if path.exists() else {t: [] for t in columns}
    building = path.with_name(f".{path.stem}-restoring{path.suffix}")
    building.unlink(missing_ok=True)
    with closing(sqlite3.connect(building, isolation_level=None)) as conn:
        _start_from(conn, chosen)
        from_backup = {t: _count(conn, t) for t in TABLES}
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN IMMEDIATE")
        salvaged = {t: _merge(conn, t, found.get(t, []), columns[t]) for t in TABLES}
        _keep_counters(conn, found["sqlite_sequence"])
        conn.execute("COMMIT")
        lost = _lost_ids(conn)
    kept = _keep_aside(path)
    building.replace(path)
    with FeedbackStore(path) as store:  # migrates an older backup; then the pointer follows
        versions.write_pointer(store)
        store.backup("after-restore")
    return RestoreOutcome(path, chosen, kept, from_backup, salvaged, lost)


def _chosen_backup(path: Path, given: str | Path | None) -> Path | None:
    """The given backup (a path, or a name in the backups folder), checked; else the newest
    backup that passes its check; None when there is none."""
    if given is None:
        return next((b.path for b in backups.list_backups(path) if _readable(b.path)), None)
    candidate = Path(given)
    if not candidate.is_file():
        candidate = backups.backup_dir(path) / Path(given).name
    if not candidate.is_file():
        raise CTViewerError("no such backup (see `ctviewer store backups`)", given)
    if not _readable(candidate):
        raise CTViewerError("this backup is damaged too; choose another", candidate)
    return candidate


def _readable(backup: Path) -> bool:
    try:
        with closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as conn:
            return backups.quick_check(conn) == "ok"
    except sqlite3.Error:
        return False


def _start_from(conn: sqlite3.Connection, backup: Path | None) -> None:
    if backup is None:
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return
    with closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as source:
        source.backup(conn)
    conn.executescript(_SCHEMA)  # a backup of an older schema gains the tables it lacks


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _merge(
    conn: sqlite3.Connection, table: str, rows: list[dict], columns: list[salvage.Column]
) -> int:
    """Add the salvaged `rows` the store lacks; returns how many were added."""
    names = [c.name for c in columns]
    id_column = next((c.name for c in columns if c.rowid_alias), None)
    key = _MERGE_KEYS.get(table) or [n for n in names if n != id_column]
    have = {tuple(r) for r in conn.execute(f"SELECT {', '.join(key)} FROM {table}")}
    added = 0
    for row in sorted(rows, key=lambda r: (r.get(id_column) or 0) if id_column else 0):
        identity = tuple(row[k] for k in key)
        if identity in have:
            continue
        values = dict(row)
        if (
            id_column
            and conn.execute(
                f"SELECT 1 FROM {table} WHERE {id_column} = ?", [row[id_column]]
            ).fetchone()
        ):
            del values[id_column]  # that id holds another row: this one gets a new id
        try:
            conn.execute(
                f"INSERT INTO {table} ({', '.join(values)}) VALUES"
                f" ({', '.join('?' for _ in values)})",
                list(values.values()),
            )
        except sqlite3.IntegrityError:
            continue  # fails the schema's constraints: not a row ctviewer wrote
        have.add(identity)
        added += 1
    if table == "promotions":
        for row in rows:
            if row["rolled_back"]:
                conn.execute(
                    "UPDATE promotions SET rolled_back = 1 WHERE version = ? AND time_utc = ?",
                    [row["version"], row["time_utc"]],
                )
    return added


_MERGE_KEYS = {
    "model_versions": ["version"],
    "promotions": ["version", "time_utc"],
    "measurements": ["id"],  # the backup's copy of an edited measurement stays; never twice
}


def _keep_counters(conn: sqlite3.Connection, counters: list[dict]) -> None:
    """AUTOINCREMENT counters never go back: an id the damaged file handed out (to a decision
    that may be lost, or named in a model's lineage) is never handed out again."""
    for counter in counters:
        if counter["name"] not in TABLES:
            continue
        updated = conn.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?",
            [counter["seq"], counter["name"]],
        )
        if not updated.rowcount:
            conn.execute(
                "INSERT INTO sqlite_sequence VALUES (?, ?)", [counter["name"], counter["seq"]]
            )


def _lost_ids(conn: sqlite3.Connection) -> list[int]:
    """Decision ids ever handed out that no copy held whole (decisions are never deleted and
    AUTOINCREMENT never reuses an id, so each gap is a lost decision)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'").fetchone()
    lost: list[int] = []
    expected = 1
    for (found,) in conn.execute("SELECT id FROM decisions ORDER BY id"):
        lost.extend(range(expected, found))
        expected = found + 1
    return lost + list(range(expected, (row[0] if row else 0) + 1))


def _keep_aside(path: Path) -> Path | None:
    """Move the old store (and its -wal/-shm) to a new name beside it; never delete it."""
    if not path.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.stem}.before-restore-{stamp}{path.suffix}")
    path.replace(aside)
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(aside.with_name(aside.name + suffix))
    return aside


def _id_ranges(ids: list[int]) -> str:
    """[1, 2, 3, 7] → '1-3, 7'."""
    ranges: list[list[int]] = []
    for i in ids:
        if ranges and i == ranges[-1][1] + 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)
