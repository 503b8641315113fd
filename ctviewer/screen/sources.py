"""The series to screen under each SOURCE: a folder tree, a DICOMDIR or a file (`io.discover`,
headers only). `pacs://` sources need the PACS support, which this version does not have yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ctviewer.errors import InputError
from ctviewer.io import discover, nothing_to_show, series_source
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report, subrange
from ctviewer.volume import SeriesInfo


@dataclass
class Found:
    """Every series found (with its source: the file or folder its Volume will name), how many
    files were set aside, and one line per SOURCE that held nothing to screen."""

    series: list[tuple[SeriesInfo, str]] = field(default_factory=list)
    set_aside: int = 0
    notes: list[str] = field(default_factory=list)


def find_series(
    sources: list[str], progress: ProgressFn | None = None, cancel: CancelFlag | None = None
) -> Found:
    """Discover every SOURCE; an InputError when none holds anything to screen."""
    found = Found()
    for i, source in enumerate(sources):
        check_cancel(cancel)
        if source.startswith("pacs://"):
            raise InputError("PACS sources are not supported by this version yet", source)
        step = subrange(progress, i / len(sources), (i + 1) / len(sources))
        index = discover(Path(source).resolve(), step, cancel)
        found.set_aside += len(index.set_aside)
        series = index.all_series()
        if not series:
            found.notes.append(str(nothing_to_show(index)))
        found.series += [(info, series_source(info)) for info in series]
        report(progress, (i + 1) / len(sources), f"found {len(found.series)} series")
    if not found.series:
        raise InputError("nothing to screen: " + "; ".join(found.notes))
    return found
