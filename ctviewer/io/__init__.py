"""Finding and reading images — no Qt, no torch.

`discover(path)` indexes a file, folder or DICOMDIR from headers only; `load_series(info)` reads one
indexed series; `load_volume(path_or_series)` does both for callers that just want a Volume (the
viewer's choice of series); `load_inputs(items)` yields every series found (detect, train).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from ctviewer.errors import InputError
from ctviewer.io.dicom import read_series, series_source
from ctviewer.io.discover import discover
from ctviewer.io.files import read_file
from ctviewer.io.readers import reader_for, reader_of_kind
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report, subrange
from ctviewer.volume import SeriesInfo, StudyIndex, Volume

__all__ = [
    "Input",
    "discover",
    "load_inputs",
    "load_series",
    "load_volume",
    "nothing_to_show",
    "pick_series",
    "read_file",
    "read_series",
    "series_source",
]

Input = Volume | str | Path  # a Volume, or a file/folder to read


def load_series(
    info: SeriesInfo, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
) -> Volume:
    """Read one series found by `discover`, whatever its kind."""
    reader = reader_of_kind(info.kind)
    if reader is None:  # DICOM: recognised by content, read as a series
        return read_series(info, progress, cancel)
    volume = reader.read(info.files[0])
    report(progress, 1.0, "loaded")
    return volume


def nothing_to_show(index: StudyIndex) -> InputError:
    """The error for an index without a series: what was set aside, and why."""
    reasons = sorted({item.reason for item in index.set_aside})
    detail = f" ({len(index.set_aside)} files set aside: {'; '.join(reasons[:3])})"
    return InputError("no image to show" + (detail if reasons else ""), index.root)


def pick_series(index: StudyIndex) -> SeriesInfo:
    """The series to open when the user gave a whole folder: the largest CT volume."""
    candidates = index.all_series()
    if not candidates:
        raise nothing_to_show(index)
    return max(candidates, key=lambda s: (s.modality == "CT", s.kind == "dicom", s.n_images))


def load_volume(
    path_or_series: str | Path | SeriesInfo,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> Volume:
    """A Volume from a file, a folder (its largest CT series, said in the warnings) or a series."""
    if isinstance(path_or_series, SeriesInfo):
        return load_series(path_or_series, progress, cancel)
    path = Path(path_or_series)
    reader = reader_for(path)
    if path.is_file() and reader is not None:
        return reader.read(str(path))
    index = discover(path, subrange(progress, 0.0, 0.1), cancel)
    chosen = pick_series(index)
    volume = load_series(chosen, subrange(progress, 0.1, 1.0), cancel)
    others = len(index.all_series()) - 1
    if others:
        volume.warnings.insert(
            0,
            f"{others + 1} series found; loaded the largest CT series "
            f"'{chosen.description}' ({chosen.n_images} images)",
        )
    return volume


def load_inputs(items: Sequence[Input], cancel: CancelFlag | None = None) -> Iterator[Volume]:
    """Volumes from Volumes or paths: every series/image found under each path, one at a time.
    A path with nothing to show is an InputError saying what was set aside there."""
    for item in items:
        check_cancel(cancel)
        if isinstance(item, Volume):
            yield item
            continue
        index = discover(item, cancel=cancel)
        if not index.all_series():
            raise nothing_to_show(index)
        for series in index.all_series():
            check_cancel(cancel)
            yield load_series(series, cancel=cancel)
