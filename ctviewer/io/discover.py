"""Scan a file, a folder tree or a DICOMDIR into patients → studies → series, from headers only.

DICOM files are grouped by SeriesInstanceUID, then split into stacks when matrix, pixel spacing or
orientation differ, or when images repeat a position (several stacks or phases in one series).
Files we will not show are set aside with a reason: not DICOM, no image (SR, SEG, pixel-less),
colour screenshots, localizers, unreadable files. NIfTI/NRRD/MHA and PNG/JPEG files become series
of their own kind.
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, MediaStorageDirectoryStorage

from ctviewer.errors import InputError
from ctviewer.io import readers
from ctviewer.io.geometry import slice_normal, stack_geometry
from ctviewer.io.headers import (
    Frame,
    ScannedHeaders,
    as_int,
    compressed_pixels,
    file_stamp,
    finite_rescale,
    frames_of,
    geometry_problem,
    is_dicomdir,
    read_header,
    rescale_problem,
    slice_thickness,
)
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.volume import PatientInfo, SeriesInfo, SetAside, StudyIndex, StudyInfo

LOCALIZER_WORDS = ("LOCALIZER", "SURVIEW", "SCOUT", "TOPOGRAM")
NO_PATIENT = ("", "")
INDEX_NAMES = ("DICOMDIR", "DIRFILE")  # index files that other index files may name
SCAN_WORKERS = 4  # threads overlap file I/O; header parsing itself holds the GIL


@dataclass
class _DicomImage:
    """What discovery keeps of one DICOM file holding displayable images."""

    path: str
    patient: tuple[str, str]  # (PatientID, PatientName)
    study: tuple[str | None, str, str]  # (StudyInstanceUID, StudyDate, StudyDescription)
    series_uid: str | None
    group: str  # the series UID, or, where anonymisation blanked it, what else ties the series
    series_number: int
    modality: str
    description: str
    thickness: float | None
    frames: list[Frame]
    compressed: bool
    stamp: tuple[int, int]  # file_stamp when its header was read


@dataclass
class _ScanPlan:
    """The files to scan, what was set aside before scanning, and — when the user gave one DICOM
    file — that file, whose series alone is kept."""

    files: list[str]
    set_aside: list[SetAside]
    focus: str | None = None


def discover(
    path: str | Path, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
) -> StudyIndex:
    """Index everything under `path` without decoding pixels: a folder tree, a DICOMDIR (what its
    folder holds), or one file (a DICOM file means its whole series, found in its folder)."""
    root = Path(path)
    if not root.exists():
        raise InputError("no such file or folder", root)
    plan = _plan(root)
    set_aside = plan.set_aside
    images: list[_DicomImage] = []
    others: list[SeriesInfo] = []
    report(progress, 0.0, f"scanning {len(plan.files)} files")
    pool = ThreadPoolExecutor(SCAN_WORKERS)
    try:
        for done, found in enumerate(pool.map(_scan, plan.files), start=1):
            if done % 64 == 0:
                check_cancel(cancel)
                report(progress, done / len(plan.files), f"scanned {done}/{len(plan.files)} files")
            if isinstance(found, SetAside):
                set_aside.append(found)
            elif isinstance(found, SeriesInfo):
                others.append(found)
            else:
                images.append(found)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a cancelled scan stops promptly
    check_cancel(cancel)
    index = StudyIndex(root=str(root), set_aside=set_aside)
    _build_tree(index, images, others)
    if plan.focus:
        _keep_series_of(index, plan.focus)
    report(progress, 1.0, f"{len(index.all_series())} series, {len(set_aside)} files set aside")
    return index


def _plan(root: Path) -> _ScanPlan:
    """Files to scan: the tree under a folder, the images a DICOMDIR lists, or one file."""
    if root.is_dir():
        return _ScanPlan(*_tree(root))
    if readers.reader_for(root) is not None:
        return _ScanPlan([str(root)], [])
    try:
        ds = read_header(str(root))
    except InputError:
        return _ScanPlan([str(root)], [])  # _scan sets it aside with the reason
    if is_dicomdir(ds):
        return _dicomdir_plan(root, ds)
    if _not_shown(ds) is None:  # an image: scan its folder for the rest of its series
        siblings = [p for p in sorted(root.parent.iterdir()) if readers.reader_for(p) is None]
        return _ScanPlan([str(p) for p in siblings if p.is_file()], [], focus=str(root))
    return _ScanPlan([str(root)], [])


def _tree(root: Path) -> tuple[list[str], list[SetAside]]:
    """Every file under `root`, following linked folders once each; unreadable folders set aside."""
    found: list[str] = []
    unreadable: list[SetAside] = []
    visited: set[str] = set()

    def note(error: OSError) -> None:
        unreadable.append(SetAside(str(error.filename), f"unreadable folder ({error.strerror})"))

    for folder, subfolders, names in os.walk(root, onerror=note, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link back up the tree (or a second link to one folder)
            subfolders.clear()
            continue
        visited.add(real)
        subfolders.sort()
        found.extend(os.path.join(folder, name) for name in sorted(names))
    return found, unreadable


def _keep_series_of(index: StudyIndex, focus: str) -> None:
    """Keep only the stack holding `focus` (and the reason, if `focus` itself was set aside)."""
    wanted = os.path.normpath(focus)
    for patient in index.patients:
        for study in patient.studies:
            study.series = [
                s for s in study.series if wanted in {os.path.normpath(f) for f in s.files}
            ]
        patient.studies = [study for study in patient.studies if study.series]
    index.patients = [patient for patient in index.patients if patient.studies]
    index.set_aside = [item for item in index.set_aside if os.path.normpath(item.path) == wanted]


# ---------------------------------------------------------------------------------------------
# DICOMDIR


def _dicomdir_plan(dicomdir: Path, ds: Dataset) -> _ScanPlan:
    """The files a DICOMDIR lists; its whole folder when the list does not lead to them."""
    found, missing = _listed_files(dicomdir, ds, {os.path.realpath(dicomdir)})
    if found and not missing:
        return _ScanPlan(found, [])
    tree, unreadable = _tree(dicomdir.parent)
    if missing:
        reason = (
            f"{len(missing)} of the {len(found) + len(missing)} files it lists are missing "
            f"(e.g. {missing[0]}); scanned its folder instead"
        )
    else:
        reason = "lists no images; scanned its folder instead"
    itself = os.path.normpath(dicomdir)
    rest = [f for f in tree if os.path.normpath(f) != itself]
    return _ScanPlan(rest, [SetAside(str(dicomdir), reason), *unreadable])


def _listed_files(dicomdir: Path, ds: Dataset, seen: set[str]) -> tuple[list[str], list[str]]:
    """(found, missing) files of a DICOMDIR's records; records naming another index file
    (a DICOMDIR per series, as Philips writes) are followed."""
    found: list[str] = []
    missing: list[str] = []
    lookup = _FileIdLookup()
    for record in ds.get("DirectoryRecordSequence") or []:
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        target = lookup.resolve(dicomdir.parent, [str(part) for part in parts])
        if target is None:
            missing.append(str(dicomdir.parent.joinpath(*parts)))
        elif os.path.realpath(target) in seen:
            continue
        elif _names_an_index(record, target):
            seen.add(os.path.realpath(target))
            nested = _nested_dicomdir(target)
            if nested is None:
                found.append(str(target))  # not an index after all: scan it as a file
            else:
                more, lost = _listed_files(target, nested, seen)
                found += more
                missing += lost
        else:
            found.append(str(target))
    return list(dict.fromkeys(found)), missing


def _names_an_index(record: Dataset, target: Path) -> bool:
    sop_class = record.get("ReferencedSOPClassUIDInFile")
    return sop_class == MediaStorageDirectoryStorage or target.name.upper() in INDEX_NAMES


def _nested_dicomdir(path: Path) -> Dataset | None:
    try:
        ds = read_header(str(path))
    except InputError:
        return None
    return ds if is_dicomdir(ds) else None


class _FileIdLookup:
    """Finds the file a DICOMDIR record names, as written, or in another case (a CD copied by a
    tool that changed it), or without its leading folders (the file set was moved: Philips
    exams name `S21570/S2010/I230` from a DICOMDIR that sits in `S2010/` itself)."""

    def __init__(self) -> None:
        self._names: dict[Path, dict[str, str]] = {}

    def resolve(self, base: Path, parts: list[str]) -> Path | None:
        for start in range(len(parts)):
            hit = self._find(base, parts[start:])
            if hit is not None:
                return hit
        return None

    def _find(self, base: Path, parts: list[str]) -> Path | None:
        exact = base.joinpath(*parts)
        if exact.is_file():
            return exact
        current = base
        for part in parts:
            name = self._folder(current).get(part.upper())
            if name is None:
                return None
            current = current / name
        return current if current.is_file() else None

    def _folder(self, folder: Path) -> dict[str, str]:
        if folder not in self._names:
            try:
                self._names[folder] = {name.upper(): name for name in os.listdir(folder)}
            except OSError:
                self._names[folder] = {}
        return self._names[folder]


# ---------------------------------------------------------------------------------------------
# One file


def _scan(path: str) -> _DicomImage | SeriesInfo | SetAside:
    try:
        return _scan_file(path)
    except Exception as error:  # a malformed header must cost one file, never the whole scan
        return SetAside(path, f"unreadable header ({type(error).__name__}: {error})")


def _scan_file(path: str) -> _DicomImage | SeriesInfo | SetAside:
    reader = readers.reader_for(path)
    if reader is not None:
        try:
            return reader.describe(path)
        except InputError as error:
            return SetAside(path, _reason(error))
    try:
        stamp = file_stamp(path)
        ds = read_header(path)
        reason = _not_shown(ds)
        frames = [] if reason else frames_of(ds, path)
    except InputError as error:
        reason = _reason(error)
        if reason == "not a DICOM file":
            reason = "not DICOM nor an image format we read"
        return SetAside(path, reason)
    if reason:
        return SetAside(path, reason)
    if not frames:
        return SetAside(path, "no pixel data")
    if problem := geometry_problem(frames):
        return SetAside(path, problem)
    if not any(finite_rescale(frame) for frame in frames):  # some good frames: read_series
        return SetAside(path, str(rescale_problem(frames)))  # keeps those and says so
    series_uid = str(ds.get("SeriesInstanceUID", "") or "") or None
    series_number = as_int(ds.get("SeriesNumber"), 0)
    modality = str(ds.get("Modality", "") or "")
    description = str(ds.get("SeriesDescription", "") or "")
    frame_of_reference = str(ds.get("FrameOfReferenceUID", "") or "")
    return _DicomImage(
        path=path,
        patient=(str(ds.get("PatientID", "") or ""), str(ds.get("PatientName", "") or "")),
        study=(
            str(ds.get("StudyInstanceUID", "") or "") or None,
            str(ds.get("StudyDate", "") or ""),
            str(ds.get("StudyDescription", "") or ""),
        ),
        series_uid=series_uid,
        group=series_uid or f"{frame_of_reference}|{series_number}|{modality}|{description}",
        series_number=series_number,
        modality=modality,
        description=description,
        thickness=slice_thickness(ds),
        frames=frames,
        compressed=compressed_pixels(ds),
        stamp=stamp,
    )


def _reason(error: InputError) -> str:
    return str(error).removeprefix(f"{error.path}: ")


def _not_shown(ds: Dataset) -> str | None:
    """Why a readable DICOM header is not an image we show, or None."""
    if is_dicomdir(ds):
        return "DICOMDIR index (the images it lists are scanned as files)"
    meta = getattr(ds, "file_meta", None) or {}
    sop = UID(str(ds.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", "") or ""))
    if sop.is_valid and sop.name != sop and "Image Storage" not in sop.name:
        return f"not an image ({sop.name})"
    photometric = str(ds.get("PhotometricInterpretation", "") or "")
    if as_int(ds.get("SamplesPerPixel"), 1) > 1 or photometric.startswith(("RGB", "YBR", "PAL")):
        return "colour image (screenshot or secondary capture), not a CT slice"
    image_type = " ".join(str(v) for v in (ds.get("ImageType") or [])).upper()
    description = str(ds.get("SeriesDescription", "") or "").upper()
    if any(word in image_type or word in description for word in LOCALIZER_WORDS):
        return "localizer (scout) image"
    return None


# ---------------------------------------------------------------------------------------------
# Series → stacks


def _stack_key(frame: Frame) -> tuple:
    orientation = tuple(np.round(frame.orientation, 3)) if frame.orientation else None
    spacing = tuple(np.round(frame.pixel_spacing, 4)) if frame.pixel_spacing else None
    return (frame.rows, frame.cols, orientation, spacing)


def _layers(frames: list[Frame]) -> list[list[Frame]]:
    """Split frames that repeat a position into layers (phases, copies) with unique positions."""
    if any(f.position is None or f.orientation is None for f in frames):
        return [frames]
    normal = slice_normal(frames[0].orientation)  # type: ignore[arg-type]
    seen: dict[float, int] = defaultdict(int)
    layers: list[list[Frame]] = []
    for frame in sorted(frames, key=lambda f: (f.instance, f.path, f.index or 0)):
        where = round(float(np.dot(frame.position, normal)), 2)  # type: ignore[arg-type]
        layer = seen[where]
        seen[where] += 1
        if layer == len(layers):
            layers.append([])
        layers[layer].append(frame)
    return layers


def _stacks(images: list[_DicomImage]) -> list[list[Frame]]:
    """The displayable stacks of one DICOM series; a multi-frame file is a stack of its own."""
    stacks: list[list[Frame]] = []
    by_key: dict[tuple, list[Frame]] = defaultdict(list)
    for image in images:
        if len(image.frames) > 1:
            stacks.append(image.frames)
        else:
            by_key[_stack_key(image.frames[0])].extend(image.frames)
    for group in by_key.values():
        stacks.extend(_layers(group))
    return sorted(stacks, key=len, reverse=True)


def _is_scout(frames: list[Frame], modality: str) -> bool:
    """A lone CT image that is not axial is a scout even when its ImageType does not say so."""
    if len(frames) != 1 or modality != "CT" or frames[0].orientation is None:
        return False
    return abs(float(slice_normal(frames[0].orientation)[2])) < 0.7


def _series_infos(images: list[_DicomImage], set_aside: list[SetAside]) -> list[SeriesInfo]:
    first = images[0]
    by_path = {image.path: image for image in images}
    stacks = _stacks(images)
    infos = []
    for k, frames in enumerate(stacks, start=1):
        if _is_scout(frames, first.modality):
            set_aside.append(SetAside(frames[0].path, "single-image localizer (not axial)"))
            continue
        geometry = stack_geometry(frames, by_path[frames[0].path].thickness)
        notes = list(geometry.warnings)
        if len(stacks) > 1:
            notes.insert(0, f"series split into {len(stacks)} stacks (this is stack {k})")
        files = list(dict.fromkeys(frames[i].path for i in geometry.order))
        key = first.series_uid or files[0]
        infos.append(
            SeriesInfo(
                key=key if len(stacks) == 1 else f"{key}#{k}",
                series_uid=first.series_uid,
                modality=first.modality,
                description=first.description or f"series {first.series_number}",
                files=files,
                n_images=len(frames),
                rows=frames[0].rows,
                cols=frames[0].cols,
                spacing=geometry.spacing,
                study_uid=first.study[0],
                patient_id=first.patient[0],
                warnings=notes,
                scan=ScannedHeaders(
                    frames=list(frames),
                    compressed={path: by_path[path].compressed for path in files},
                    thickness={path: by_path[path].thickness for path in files},
                    stamps={path: by_path[path].stamp for path in files},
                ),
            )
        )
    return infos


def _build_tree(index: StudyIndex, images: list[_DicomImage], others: list[SeriesInfo]) -> None:
    series: dict[tuple, list[_DicomImage]] = defaultdict(list)
    for image in images:
        series[(image.patient, image.study, image.group)].append(image)
    patients: dict[tuple[str, str], dict[tuple, list[SeriesInfo]]] = defaultdict(dict)
    for (patient, study, _), members in sorted(series.items(), key=_series_order):
        infos = _series_infos(members, index.set_aside)
        if infos:
            patients[patient].setdefault(study, []).extend(infos)
    if others:
        patients[NO_PATIENT][(None, "", "files")] = sorted(others, key=lambda s: s.key)
    for (patient_id, name), studies in sorted(patients.items()):
        index.patients.append(
            PatientInfo(
                patient_id=patient_id,
                name=name,
                studies=[
                    StudyInfo(study_uid=uid, date=date, description=description, series=infos)
                    for (uid, date, description), infos in sorted(
                        studies.items(), key=lambda item: (item[0][1], str(item[0][0]))
                    )
                ],
            )
        )


def _series_order(item: tuple[tuple, list[_DicomImage]]) -> tuple:
    (patient, study, uid), members = item
    return (patient, str(study[0]), members[0].series_number, str(uid))
