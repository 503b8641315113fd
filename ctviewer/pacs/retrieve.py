"""The PACS front door: echo, find, retrieve (to a folder or the cache) and send, the same for
DICOMweb and DIMSE nodes. Long calls take `progress` and `cancel` like every long job.

A retrieve goes series by series (by series number), writes each instance to
`FOLDER/<SeriesInstanceUID>/<SOPInstanceUID>.dcm` through a `.part` file, and calls
`on_series(folder)` as each series is complete, so a viewer can open the first at once.
Logs name the node and counts, never a patient, a study or a query.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.misc import is_dicom

from ctviewer.errors import InputError
from ctviewer.pacs.cache import StudyCache
from ctviewer.pacs.config import LocalAE, PacsConfig
from ctviewer.pacs.credentials import secret_for
from ctviewer.pacs.dicomweb import DicomwebPacs
from ctviewer.pacs.dimse import DimsePacs
from ctviewer.pacs.nodes import Node, PacsError
from ctviewer.pacs.records import SeriesRecord, StudyQuery, StudyRecord, sort_series
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report

log = logging.getLogger(__name__)
# Their debug and info lines carry query URLs (a patient's name), headers (a bearer token) and UIDs.
for _library in ("dicomweb_client", "pynetdicom", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)
_UID = re.compile(r"^[0-9.]{1,64}$")
SERIES_DONE = ".complete-"  # cache only: `<study>/.complete-<SeriesInstanceUID>`


@dataclass
class RetrieveResult:
    folder: Path
    series: list[Path] = field(default_factory=list)  # one folder per series, as completed
    instances: int = 0
    bytes: int = 0
    seconds: float = 0.0
    first_series_s: float | None = None  # from the call until the first series was complete
    warnings: list[str] = field(default_factory=list)
    from_cache: bool = False


@dataclass
class SendResult:
    sent: int
    seconds: float


def connect(node: Node, local: LocalAE | None = None) -> DicomwebPacs | DimsePacs:
    if node.protocol == "dicomweb":
        return DicomwebPacs(node, secret_for(node))
    return DimsePacs(node, local or PacsConfig().local())


def echo(node: Node, local: LocalAE | None = None) -> float:
    """Seconds a round trip took (PacsError when the node does not answer as it should)."""
    start = time.perf_counter()
    pacs = connect(node, local)
    try:
        pacs.echo()
    finally:
        pacs.close()
    return time.perf_counter() - start


def find_studies(node: Node, query: StudyQuery, local: LocalAE | None = None) -> list[StudyRecord]:
    pacs = connect(node, local)
    try:
        return pacs.find_studies(query)
    finally:
        pacs.close()


def find_series(node: Node, study_uid: str, local: LocalAE | None = None) -> list[SeriesRecord]:
    pacs = connect(node, local)
    try:
        return sort_series(pacs.find_series(study_uid))
    finally:
        pacs.close()


def _file_name(uid: str) -> str:
    """A UID as a file name; anything else a UID should not be, as a stable hash of it."""
    return uid if _UID.match(uid) else "x" + hashlib.sha256(uid.encode()).hexdigest()[:32]


class _Writer:
    """The sink of one retrieve: instances to files, counts and progress."""

    def __init__(self, expected: int | None, progress: ProgressFn | None) -> None:
        self.expected, self.progress = expected, progress
        self.folder: Path | None = None
        self.instances = self.in_series = self.bytes = 0

    def __call__(self, dataset: Dataset) -> None:
        assert self.folder is not None
        path = self.folder / f"{_file_name(str(dataset.SOPInstanceUID))}.dcm"
        part = path.with_suffix(".part")
        pydicom.dcmwrite(part, dataset, enforce_file_format=True)
        part.replace(path)
        self.bytes += path.stat().st_size
        self.instances += 1
        self.in_series += 1
        if self.expected:
            fraction = self.instances / self.expected
            report(self.progress, fraction, f"{self.instances}/{self.expected} images")
        else:
            report(self.progress, 0.0, f"{self.instances} images")


def retrieve(
    node: Node,
    study_uid: str,
    folder: Path,
    series_uid: str | None = None,
    local: LocalAE | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    on_series: Callable[[Path], None] | None = None,
    skip: frozenset[str] = frozenset(),
) -> RetrieveResult:
    """Every instance of the study (or of one series) under `folder`; `skip`: series UIDs
    already complete there. On cancel or error the series being received is removed."""
    start = time.perf_counter()
    pacs = connect(node, local)
    result = RetrieveResult(folder=folder)
    try:
        series = sort_series(pacs.find_series(study_uid))
        if series_uid is not None:
            series = [s for s in series if s.SeriesInstanceUID == series_uid]
        if not series:
            what = "series" if series_uid else "study"
            raise PacsError(f"{node.name}: no such {what} on this node")
        todo = [s for s in series if s.SeriesInstanceUID not in skip]
        counts = [s.NumberOfSeriesRelatedInstances for s in todo]
        expected = sum(counts) if all(c is not None for c in counts) else None
        writer = _Writer(expected, progress)
        report(progress, 0.0, f"retrieving {len(todo)} series")
        for record in series:
            series_dir = folder / _file_name(record.SeriesInstanceUID)
            if record.SeriesInstanceUID not in skip:
                check_cancel(cancel)
                series_dir.mkdir(parents=True, exist_ok=True)
                writer.folder, writer.in_series = series_dir, 0
                try:
                    pacs.fetch_series(study_uid, record.SeriesInstanceUID, writer, cancel)
                except BaseException:
                    shutil.rmtree(series_dir, ignore_errors=True)
                    raise
                wanted = record.NumberOfSeriesRelatedInstances
                if wanted is not None and writer.in_series < wanted:
                    result.warnings.append(
                        f"series {record.SeriesNumber}: {writer.in_series} of {wanted} "
                        "instances arrived"
                    )
            result.series.append(series_dir)
            if result.first_series_s is None:
                result.first_series_s = time.perf_counter() - start
            if on_series is not None:
                on_series(series_dir)
    finally:
        pacs.close()
    result.instances, result.bytes = writer.instances, writer.bytes
    result.seconds = time.perf_counter() - start
    report(progress, 1.0, f"{result.instances} images")
    log.info("retrieved %d instances from %s in %.1fs", result.instances, node.name, result.seconds)
    return result


def retrieve_to_cache(
    node: Node,
    study_uid: str,
    config: PacsConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    on_series: Callable[[Path], None] | None = None,
) -> RetrieveResult:
    """The study in the local cache: at once when it is there whole, else the series still
    missing; then the least recently used other studies go until the cache fits."""
    config = config or PacsConfig()
    local = config.local()
    cache = StudyCache(local.cache_mb * 1024 * 1024)
    folder = cache.study_dir(node.url, study_uid)
    if cache.is_complete(folder):
        cache.touch(folder)
        series = sorted(p for p in folder.iterdir() if p.is_dir())
        for series_dir in series[:1]:
            if on_series is not None:
                on_series(series_dir)
        report(progress, 1.0, "from the local cache")
        return RetrieveResult(folder=folder, series=series, from_cache=True)
    folder.mkdir(parents=True, exist_ok=True)
    done = frozenset(p.name[len(SERIES_DONE) :] for p in folder.glob(f"{SERIES_DONE}*"))

    def series_complete(series_dir: Path) -> None:
        (folder / f"{SERIES_DONE}{series_dir.name}").touch()
        if on_series is not None:
            on_series(series_dir)

    result = retrieve(node, study_uid, folder, None, local, progress, cancel, series_complete, done)
    if not result.warnings:
        cache.mark_complete(folder)
    removed = cache.evict(keep=folder)
    if removed:
        log.info("cache: %d least recently used studies removed", len(removed))
    return result


def dicom_files(paths: list[Path]) -> list[Path]:
    """The DICOM files among `paths` (folders searched); a named non-DICOM file is an error."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and is_dicom(p))
        elif path.is_file() and is_dicom(path):
            files.append(path)
        elif path.exists():
            raise InputError("not a DICOM file (no DICM preamble)", path)
        else:
            raise InputError("no such file or folder", path)
    if not files:
        raise InputError("no DICOM file to send")
    return files


def send(
    node: Node,
    paths: list[Path],
    local: LocalAE | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> SendResult:
    """STOW-RS or C-STORE every DICOM file under `paths` to the node."""
    start = time.perf_counter()
    files = dicom_files([Path(p) for p in paths])
    sent = 0

    def done(count: int) -> None:
        nonlocal sent
        sent += count
        report(progress, sent / len(files), f"{sent}/{len(files)} files sent")

    pacs = connect(node, local)
    try:
        report(progress, 0.0, f"sending {len(files)} files")
        pacs.store(files, done, cancel)
    finally:
        pacs.close()
    log.info("sent %d files to %s", sent, node.name)
    return SendResult(sent=sent, seconds=time.perf_counter() - start)
