"""The local PACS cache: retrieved studies in the user data folder, size-limited, least recently
used first out. It lives in its own folder (`paths.pacs_cache_dir()`), apart from the user's.

Each study is a folder named by a hash of (node URL, Study UID), so no name or identifier of the
patient appears in a path; `.complete` marks a whole retrieve, and its time is the last use.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ctviewer.paths import pacs_cache_dir

COMPLETE = ".complete"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class StudyCache:
    """Studies retrieved from PACS nodes; `limit_bytes` bounds the whole cache."""

    def __init__(self, limit_bytes: int, root: Path | None = None) -> None:
        self.root = root or pacs_cache_dir()
        self.limit_bytes = limit_bytes

    def study_dir(self, node_url: str, study_uid: str) -> Path:
        digest = hashlib.sha256(f"{node_url}\n{study_uid}".encode()).hexdigest()[:24]
        return self.root / digest

    def is_complete(self, study_dir: Path) -> bool:
        return (study_dir / COMPLETE).is_file()

    def mark_complete(self, study_dir: Path) -> None:
        (study_dir / COMPLETE).touch()

    def touch(self, study_dir: Path) -> None:
        """Record a use (opening a cached study counts as one)."""
        (study_dir / COMPLETE).touch()

    def _last_used(self, study_dir: Path) -> float:
        marker = study_dir / COMPLETE
        return (marker if marker.is_file() else study_dir).stat().st_mtime

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Remove least recently used studies until the cache fits; `keep` is never removed."""
        studies = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and p != keep), key=self._last_used
        )
        sizes = {p: folder_size(p) for p in studies}
        total = sum(sizes.values()) + (folder_size(keep) if keep and keep.is_dir() else 0)
        removed = []
        for study in studies:
            if total <= self.limit_bytes:
                break
            shutil.rmtree(study, ignore_errors=True)
            total -= sizes[study]
            removed.append(study)
        return removed
