"""Model versions learned from feedback: registry, active version, promotion and rollback.

The registry lives in the feedback database (tables `model_versions` and `promotions`), not in a
JSON manifest: registering a version, promoting it and the decisions it was learned from then
share one transactional, multi-process-safe store, so a viewer and a CLI running at once never see
a half-updated manifest. Each checkpoint also carries its lineage in its own metadata, so a model
file copied elsewhere still says where it came from.

The active model is the latest promotion not rolled back; with none, the bundled default model.
`rollback()` undoes the latest promotion, so repeated rollbacks walk back to the default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctviewer import paths
from ctviewer.errors import CTViewerError
from ctviewer.feedback.store import FeedbackStore, now_utc


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

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _store(store: FeedbackStore | None) -> FeedbackStore:
    return store if store is not None else FeedbackStore()


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

    A promoted file that has gone missing falls back to the default rather than failing.
    """
    version = active_version(store)
    if version is not None and Path(version.path).is_file():
        return Path(version.path)
    return paths.default_model_path()


def promote(version: str, store: FeedbackStore | None = None) -> ModelVersion:
    """Make `version` the active model (even one the guard did not promote: the user decides)."""
    store = _store(store)
    target = get_version(version, store)
    if not Path(target.path).is_file():
        raise CTViewerError("model file of this version is missing", target.path)
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO promotions (version, time_utc) VALUES (?, ?)", [version, now_utc()]
        )
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
    return active_version(store)
