"""`pacs://NODE?modality=CT&study-date=YYYYMMDD[-YYYYMMDD]` sources: the studies a PACS query
finds, retrieved into the PACS cache (`pacs.retrieve_to_cache`, the cache the viewer's panel
uses), then screened as any folder.

NODE is a configured node name, or a node URL percent-encoded (`pacs://dicom%3A%2F%2FAET%40host
%3A4242?...`). Query keys: `patient-id`, `patient-name`, `accession`, `study-date`, `modality`
(as `ctviewer pacs find`). Resumable: a study whole in the cache is not fetched again, nor a
study whose series the worklist holds, all final (its image series were listed when it was
first discovered).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from ctviewer.errors import Cancelled, CTViewerError, InputError
from ctviewer.pacs.config import PacsConfig
from ctviewer.pacs.nodes import Node
from ctviewer.pacs.records import StudyQuery, StudyRecord
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report, subrange

SCHEME = "pacs://"
QUERY_KEYS = {
    "patient-id": "patient_id",
    "patient-name": "patient_name",
    "accession": "accession",
    "study-date": "study_date",
    "modality": "modality",
}
# Series that are never a volume to screen (a study holding only these and final series is done)
NOT_SCREENED = frozenset({"SEG", "SR", "KO", "PR", "RTSTRUCT", "RTPLAN", "RTDOSE", "DOC"})


@dataclass(frozen=True)
class PacsSource:
    """A parsed `pacs://` source: the node as given (name or URL) and the study query."""

    text: str
    node: str
    query: StudyQuery


@dataclass
class Fetched:
    """The cache folders of the studies to discover, and how many studies were left alone."""

    folders: list[Path]
    studies: int  # found by the query
    skipped: int  # done in the worklist already: not fetched


def parse_source(text: str) -> PacsSource:
    """`pacs://NODE?key=value&...` → PacsSource; an InputError naming the source otherwise."""
    if not text.startswith(SCHEME):
        raise InputError("not a pacs:// source", text)
    node, _, query = text[len(SCHEME) :].partition("?")
    node = unquote(node).rstrip("/")
    if not node:
        raise InputError("no PACS node named (pacs://NODE?modality=CT&study-date=...)", text)
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise InputError("unreadable query (expected key=value&key=value)", text) from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key not in QUERY_KEYS:
            known = ", ".join(QUERY_KEYS)
            raise InputError(f"unknown query key {key!r} (known: {known})", text)
        fields[QUERY_KEYS[key]] = value
    try:
        return PacsSource(text, node, StudyQuery(**fields))
    except CTViewerError as error:
        raise InputError(str(error), text) from None


def _study_done(
    node: Node, study: StudyRecord, config: PacsConfig, final: Callable[[str], bool]
) -> bool:
    """Whether the worklist holds the study's series already, all final (asks the node)."""
    from ctviewer.pacs.retrieve import find_series

    series = [
        s for s in find_series(node, study.StudyInstanceUID, config.local())
        if s.Modality not in NOT_SCREENED
    ]  # fmt: skip
    return bool(series) and all(final(s.SeriesInstanceUID) for s in series)


def fetch(
    source: PacsSource,
    final: Callable[[str], bool] = lambda uid: False,
    config: PacsConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> Fetched:
    """Find the studies and bring each into the PACS cache (`final(series_uid)`: whether the
    worklist holds that series done); PACS errors are one line naming the source."""
    from ctviewer.pacs.cache import StudyCache
    from ctviewer.pacs.retrieve import find_studies, retrieve_to_cache

    config = config or PacsConfig()
    try:
        node = config.resolve(source.node)
        studies = find_studies(node, source.query, config.local())
        folders, skipped = [], 0
        cache = StudyCache(config.local().cache_mb * 1024 * 1024)
        for i, study in enumerate(studies):
            check_cancel(cancel)
            step = subrange(progress, i / len(studies), (i + 1) / len(studies))
            in_cache = cache.is_complete(cache.study_dir(node.url, study.StudyInstanceUID))
            if not in_cache and _study_done(node, study, config, final):
                skipped += 1
                continue
            folders.append(
                retrieve_to_cache(node, study.StudyInstanceUID, config, step, cancel).folder
            )
            report(progress, (i + 1) / len(studies), f"{i + 1}/{len(studies)} studies retrieved")
    except (InputError, Cancelled):
        raise
    except CTViewerError as error:
        raise InputError(str(error), source.text) from None
    return Fetched(folders, len(studies), skipped)
