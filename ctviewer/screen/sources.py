"""The series to screen under each SOURCE: a folder tree, a DICOMDIR or a file (`io.discover`,
headers only), or a PACS query (`pacs://NODE?modality=CT&study-date=...`, see `pacs_source`):
its studies are retrieved into the PACS cache first, then discovered as folders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ctviewer.errors import InputError
from ctviewer.io import discover, nothing_to_show, series_source
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report, subrange
from ctviewer.screen import pacs_source
from ctviewer.volume import SeriesInfo


@dataclass
class Found:
    """Every series found (with its source: the file or folder its Volume will name), how many
    files were set aside, and one line per SOURCE that held nothing to screen."""

    series: list[tuple[SeriesInfo, str]] = field(default_factory=list)
    set_aside: int = 0
    notes: list[str] = field(default_factory=list)


def find_series(
    sources: list[str],
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    final: Callable[[str], bool] = lambda uid: False,
) -> Found:
    """Discover every SOURCE (`final(series_uid)`: the worklist holds that series done, so a PACS
    study of only such series is not fetched); an InputError when none holds anything to screen,
    unless a PACS query answered (no study today, or all done, is an answer: a note)."""
    parsed = [
        pacs_source.parse_source(s) if s.startswith(pacs_source.SCHEME) else s for s in sources
    ]
    found, answered = Found(), False
    for i, source in enumerate(parsed):
        check_cancel(cancel)
        step = subrange(progress, i / len(sources), (i + 1) / len(sources))
        if isinstance(source, pacs_source.PacsSource):
            fetched = pacs_source.fetch(source, final, None, subrange(step, 0.0, 0.9), cancel)
            answered = True
            if not fetched.folders:
                what = "all done already" if fetched.skipped else "no study found"
                found.notes.append(f"{source.text}: {what}")
            kept = [folder for folder in fetched.folders if folder.is_dir()]
            if len(kept) < len(fetched.folders):  # a later retrieve evicted them
                found.notes.append(
                    f"{source.text}: {len(fetched.folders) - len(kept)} studies did not fit in "
                    "the PACS cache and wait for the next run (a larger cache: `ctviewer pacs "
                    "local --cache-mb MB`)"
                )
            for folder in kept:
                _discover(folder, found, subrange(step, 0.9, 1.0), cancel)
        else:
            _discover(Path(source).resolve(), found, step, cancel)
        report(progress, (i + 1) / len(sources), f"found {len(found.series)} series")
    if not found.series and not answered:
        raise InputError("nothing to screen: " + "; ".join(found.notes))
    return found


def _discover(root: Path, found: Found, progress: ProgressFn | None, cancel) -> None:
    index = discover(root, progress, cancel)
    found.set_aside += len(index.set_aside)
    series = index.all_series()
    if not series:
        found.notes.append(str(nothing_to_show(index)))
    found.series += [(info, series_source(info)) for info in series]
