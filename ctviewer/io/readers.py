"""The registry of file readers: each registers what it accepts (file name endings) and how it
describes (headers only) and reads a file. `discover`, `load_series`, `load_volume` and the
viewer's file dialog ask the registry instead of naming formats themselves.

DICOM is recognised by content, not by name (`discover`), so it is not a registered reader;
`DICOM_PATTERNS` only says which names a file dialog should offer for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ctviewer.volume import SeriesInfo, Volume

DICOM_PATTERNS = ("*.dcm", "DICOMDIR")


@dataclass(frozen=True)
class FileReader:
    """A reader of single files known by their name ending."""

    kind: str  # the SeriesInfo.kind its files get ("nifti", "image", ...)
    label: str  # for file dialogs, e.g. "NIfTI / NRRD / MetaImage"
    suffixes: tuple[str, ...]  # lower-case name endings it accepts, e.g. ".nii.gz"
    describe: Callable[[str], SeriesInfo]  # headers only; InputError if unreadable
    read: Callable[[str], Volume]  # the whole file; InputError if unreadable

    def accepts(self, path: str | Path) -> bool:
        return Path(path).name.lower().endswith(self.suffixes)


_READERS: dict[str, FileReader] = {}


def register(reader: FileReader) -> FileReader:
    """Add (or replace) the reader for `reader.kind`."""
    _READERS[reader.kind] = reader
    return reader


def readers() -> tuple[FileReader, ...]:
    return tuple(_READERS.values())


def reader_for(path: str | Path) -> FileReader | None:
    """The reader that accepts this file name, None when none does (then it may be DICOM)."""
    return next((r for r in _READERS.values() if r.accepts(path)), None)


def reader_of_kind(kind: str) -> FileReader | None:
    return _READERS.get(kind)


def file_dialog_filter() -> str:
    """A Qt file-dialog filter listing every accepted name: all images, then each reader."""
    patterns = [*DICOM_PATTERNS, *(f"*{s}" for r in _READERS.values() for s in r.suffixes)]
    each = [f"{r.label} ({' '.join('*' + s for s in r.suffixes)})" for r in _READERS.values()]
    return ";;".join([f"Images ({' '.join(patterns)})", *each, "All files (*)"])
