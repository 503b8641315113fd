"""Model versions learned from feedback: registry, active version, promotion and rollback.

The registry lives in the feedback database (tables `model_versions` and `promotions`), not in a
JSON manifest: registering a version, promoting it and the decisions it was learned from then
share one transactional, multi-process-safe store, so a viewer and a CLI running at once never see
a half-updated manifest. Each checkpoint also carries its lineage in its own metadata, so a model
file copied elsewhere still says where it came from.

The active model is the latest promotion not rolled back; with none, the bundled default model.
`rollback()` undoes the latest promotion, so repeated rollbacks walk back to the default.
A version is promoted only if its file loads as a model; an active version whose file has gone
is an error that says what to do, never a silent switch to another model.

Detection must not need the database: after every change of the active version (and whenever
it finds the record stale) the active version is also written to a small JSON pointer file
beside the database (`<db>.active-model.json`). When the database cannot be read (damaged,
locked too long), the model named there is used, with a one-line warning; without a pointer,
the bundled default, with a warning saying the active learned version could not be read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctviewer import paths
from ctviewer.errors import CTViewerError, ModelError
from ctviewer.feedback.store import RESTORE_HINT, FeedbackStore
from ctviewer.sqlite_file import now_utc

log = logging.getLogger(__name__)


@dataclass
class ModelVersion:
    """One registered model version."""

    version: str
    path: str
    parent: str | None
    created_utc: str
    lineage: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    eligible: bool = False  # passed the promotion guard when it was made
    reason: str = ""  # why it was (not) promoted
    active: bool = False
    file_missing: bool = False  # its checkpoint is not there any more

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class ActiveModel:
    """The model detection uses when none is given, and why."""

    path: Path
    version: str | None  # None: the bundled default model
    note: str = ""  # one line, when the feedback database could not be read


def _store(store: FeedbackStore | None) -> FeedbackStore:
    return store if store is not None else FeedbackStore()


@contextmanager
def _opened(store: FeedbackStore | None) -> Iterator[FeedbackStore]:
    """The given store, or the default one opened for this block and closed after it."""
    if store is not None:
        yield store
        return
    with FeedbackStore() as opened:
        yield opened


def next_version_name(store: FeedbackStore | None = None) -> str:
    """A fresh version name: `fb1`, `fb2`, …"""
    rows = _store(store).query("SELECT version FROM model_versions")
    numbers = [int(r[0][2:]) for r in rows if r[0].startswith("fb") and r[0][2:].isdigit()]
    return f"fb{max(numbers, default=0) + 1}"


def register_version(
    path: str | Path,
    parent: str | None,
    lineage: dict[str, Any],
    metrics: dict[str, Any],
    promoted: bool,
    reason: str = "",
    version: str | None = None,
    store: FeedbackStore | None = None,
) -> ModelVersion:
    """Add a model file to the registry; with `promoted=True` it also becomes the active model."""
    store = _store(store)
    model_path = Path(path).resolve()
    if not model_path.is_file():
        raise CTViewerError("model file not found", model_path)
    name = version or next_version_name(store)
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM model_versions WHERE version = ?", [name]).fetchone():
            raise CTViewerError(f"model version {name!r} already exists")
        conn.execute(
            "INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                str(model_path),
                parent,
                now_utc(),
                json.dumps(lineage, default=str),
                json.dumps(metrics, default=str),
                int(promoted),
                reason,
            ],
        )
        if promoted:
            conn.execute(
                "INSERT INTO promotions (version, time_utc) VALUES (?, ?)", [name, now_utc()]
            )
    if promoted:
        write_pointer(store)
    return get_version(name, store)


def _active_name(store: FeedbackStore) -> str | None:
    rows = store.query(
        "SELECT version FROM promotions WHERE rolled_back = 0 ORDER BY id DESC LIMIT 1"
    )
    return rows[0][0] if rows else None


def list_versions(store: FeedbackStore | None = None) -> list[ModelVersion]:
    """Every registered version, oldest first, with `active` set on the active one."""
    store = _store(store)
    active = _active_name(store)
    rows = store.query("SELECT * FROM model_versions ORDER BY created_utc, rowid")
    return [
        ModelVersion(
            version=r["version"],
            path=r["path"],
            parent=r["parent"],
            created_utc=r["created_utc"],
            lineage=json.loads(r["lineage"]),
            metrics=json.loads(r["metrics"]),
            eligible=bool(r["eligible"]),
            reason=r["reason"],
            active=r["version"] == active,
            file_missing=not Path(r["path"]).is_file(),
        )
        for r in rows
    ]


def get_version(version: str, store: FeedbackStore | None = None) -> ModelVersion:
    for candidate in list_versions(store):
        if candidate.version == version:
            return candidate
    raise CTViewerError(f"no model version {version!r} (see `ctviewer models list`)")


def active_version(store: FeedbackStore | None = None) -> ModelVersion | None:
    """The active learned version, or None when the bundled default is in use."""
    return next((v for v in list_versions(store) if v.active), None)


def active_model_path(store: FeedbackStore | None = None) -> Path:
    """The active promoted version's checkpoint, else the bundled default model.

    Raises ModelError when the active version's file is missing. When the feedback database
    cannot be read, logs a one-line warning and uses the pointer file (see the module docstring).
    """
    active = resolve_active_model(store)
    if active.note:
        log.warning("%s", active.note)
    return active.path


def resolve_active_model(store: FeedbackStore | None = None) -> ActiveModel:
    """The active model from the database, else from the pointer file beside it."""
    db_path = store.path if store is not None else paths.feedback_db_path()
    try:
        with _opened(store) as opened:
            version = active_version(opened)
            write_pointer(opened)
    except CTViewerError as error:
        return _from_pointer(db_path, error)
    if version is None:
        return ActiveModel(paths.default_model_path(), None)
    _require_file(version.version, Path(version.path))
    return ActiveModel(Path(version.path), version.version)


def _require_file(version: str, path: Path, why: str = "") -> None:
    if not path.is_file():
        raise ModelError(
            f"the file of the active model version {version}{why} is missing; run `ctviewer"
            " models rollback` to go back to the previous version, or `ctviewer models promote"
            " V` to choose another (or give --model)",
            path,
        )


def pointer_path(db_path: Path) -> Path:
    """The JSON file beside the database that names the active version."""
    return db_path.with_name(f"{db_path.stem}.active-model.json")


def write_pointer(store: FeedbackStore) -> None:
    """Record `store`'s active version in the pointer file, when it differs. Never fatal: the
    pointer only serves when the database cannot be read."""
    version = active_version(store)
    record = {"version": version.version, "path": version.path} if version else {"version": None}
    target = pointer_path(store.path)
    try:
        if target.is_file() and json.loads(target.read_text()) == record:
            return
    except (OSError, ValueError):
        pass  # unreadable: rewrite it
    partial = target.with_suffix(".partial")
    try:
        partial.write_text(json.dumps(record))
        os.replace(partial, target)
    except OSError as error:
        log.warning("cannot record the active model version in %s: %s", target, error)


def _from_pointer(db_path: Path, error: CTViewerError) -> ActiveModel:
    """The active model when the database cannot be read: the pointer's, else the default."""
    pointer = pointer_path(db_path)
    try:
        record = json.loads(pointer.read_text())
        name, path = record["version"], record.get("path")
        if name is not None and not (isinstance(name, str) and isinstance(path, str)):
            raise ValueError("not a pointer record")
    except (OSError, ValueError, KeyError, TypeError):
        note = f"{error}; the active learned version could not be read: using the bundled model"
        return ActiveModel(paths.default_model_path(), None, note)
    if name is None:
        note = f"{error}; using the bundled model, the active one when {pointer.name} was written"
        return ActiveModel(paths.default_model_path(), None, note)
    why = f" (named in {pointer}; the feedback database cannot be read: {RESTORE_HINT} first)"
    _require_file(name, Path(path), why)
    note = f"{error}; using the active version {name} named in {pointer}"
    return ActiveModel(Path(path), name, note)


def check_loadable(path: str | Path) -> None:
    """Raise a one-line ModelError unless `path` loads as a ctviewer model."""
    from ctviewer.model.checkpoint import load_model

    try:
        load_model(path, device="cpu")
    except ModelError:
        raise
    except Exception as error:  # whatever stops it loading stops its promotion
        reason = f"{type(error).__name__}: {error}"
        raise ModelError(f"does not load as a model ({reason})", path) from None


def promote(version: str, store: FeedbackStore | None = None) -> ModelVersion:
    """Make `version` the active model (even one the guard did not promote: the user decides)."""
    store = _store(store)
    target = get_version(version, store)
    try:
        check_loadable(target.path)
    except ModelError as error:
        raise ModelError(f"{version} not promoted: {error}") from None
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO promotions (version, time_utc) VALUES (?, ?)", [version, now_utc()]
        )
    write_pointer(store)
    return get_version(version, store)


def rollback(store: FeedbackStore | None = None) -> ModelVersion | None:
    """Undo the latest promotion; returns the version now active (None: the bundled default)."""
    store = _store(store)
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT id FROM promotions WHERE rolled_back = 0 ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise CTViewerError("nothing to roll back: the bundled default model is active")
        conn.execute("UPDATE promotions SET rolled_back = 1 WHERE id = ?", [row[0]])
    write_pointer(store)
    return active_version(store)
