"""Read one DICOM series into a Volume of Hounsfield units: int16 when every slice's rescale gives
whole numbers that fit it (most CT: half the memory of float32, the same values), else float32.

Headers come from pydicom (geometry, rescale, patient/study fields). Pixels: runs of compressed
single-frame files (JPEG lossless, JPEG-LS, JPEG 2000, RLE) are decoded by GDCM through a SimpleITK
ImageSeriesReader per chunk of a few slices, chunks in parallel threads (SimpleITK releases the
GIL; pylibjpeg holds it, and decodes JPEG lossless 2-3x slower — see benchmarks/bench_io.py).
Chunks rather than single files: one reader per file costs ~40 % more CPU. Uncompressed 16-bit
single-frame files are read straight from where their header said the pixel data starts
(`native_pixels`); multi-frame files (per-frame rescale), other uncompressed layouts and anything
GDCM refuses go through pydicom + pylibjpeg.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pydicom

from ctviewer.errors import InputError
from ctviewer.io.geometry import StackGeometry, stack_geometry
from ctviewer.io.headers import (
    PIXEL_DATA_TAG,
    Frame,
    ScannedHeaders,
    as_int,
    compressed_pixels,
    file_stamp,
    finite_rescale,
    frames_of,
    read_header,
    rescale_problem,
    slice_thickness,
    window_of,
)
from ctviewer.io.quiet import native_output_muted
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.volume import SeriesInfo, Volume

META_KEYS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyDescription",
    "SeriesDescription",
    "BodyPartExamined",
    "ProtocolName",
    "Modality",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Manufacturer",
)

MAX_CHUNK = 16  # slices per GDCM read: enough to amortise the reader, few enough to share out
WHOLE = np.int16  # the volume's type when every rescaled value is a whole number that fits it


class NotWhole(Exception):
    """Rescaled values that an int16 volume cannot hold exactly: the series is read as float32."""


def _fill(out: np.ndarray, values: np.ndarray) -> None:
    """`out[...] = values`, refusing (NotWhole) a change of value: an integer `out` takes only
    integers in its range."""
    if out.dtype.kind in "iu" and values.size:
        limits = np.iinfo(out.dtype)
        if values.dtype.kind not in "iu" or values.min() < limits.min or values.max() > limits.max:
            raise NotWhole
    np.copyto(out, values.reshape(out.shape), casting="unsafe")


def _whole_rescale(frames: list[Frame]) -> bool:
    """Whether every frame's slope and intercept are whole numbers (rescaled values may be)."""
    return all(float(f.slope).is_integer() and float(f.intercept).is_integer() for f in frames)


def workers() -> int:
    """Decode threads: GDCM runs outside the GIL, so one per core (at most 8)."""
    return max(2, min(8, os.cpu_count() or 2))


def _decode_gdcm(paths: list[str], out: np.ndarray) -> None:
    """Single-frame files, in order, into `out` (len(paths), rows, cols); RuntimeError if GDCM
    cannot read one of them."""
    import SimpleITK as sitk  # here, not at import: ~100 MB of RSS uncompressed files never need

    reader = sitk.ImageSeriesReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileNames(paths)
    reader.SetSpacingWarningRelThreshold(math.inf)  # spacing is ours to judge and report
    image = reader.Execute()  # GDCM applies each file's rescale slope and intercept
    _fill(out, sitk.GetArrayViewFromImage(image))  # a view: valid while `image` lives


def native_pixels(path: str, frame: Frame) -> np.ndarray | None:
    """The stored pixels (rows, cols) of an uncompressed single-frame file, read straight from
    where its header said the PixelData element starts: what pydicom's `pixel_array` gives
    (unused high bits corrected as it does) without parsing the file again. None when the
    element found there is not the expected one (the file changed), for pydicom to read."""
    layout = frame.native  # set for single-frame files only (`headers.frames_of`)
    if layout is None:
        return None
    n_bytes = frame.rows * frame.cols * 2
    with open(path, "rb") as file:
        file.seek(layout.offset)
        head = file.read(12 if layout.explicit_vr else 8)  # tag, (VR, 2 reserved,) length
        vr_ok = head[4:8] in (b"OW\0\0", b"OB\0\0") if layout.explicit_vr else True
        length = int.from_bytes(head[-4:], "little")
        if head[:4] != PIXEL_DATA_TAG or not vr_ok or length != n_bytes:
            return None
        data = file.read(n_bytes)
    if len(data) != n_bytes:
        return None
    pixels = np.frombuffer(data, dtype=layout.dtype).reshape(frame.rows, frame.cols)
    shift = 16 - layout.bits_stored
    if shift:
        pixels = (pixels << shift) >> shift  # signed: sign-extends from the top stored bit
    return pixels


def _decode_pydicom(path: str, frames: list[Frame], out: list[np.ndarray]) -> None:
    native = native_pixels(path, frames[0]) if len(frames) == 1 else None
    if native is not None:
        pixels = native[None]
    else:
        pixels = pydicom.dcmread(path).pixel_array.reshape(-1, frames[0].rows, frames[0].cols)
    for frame, target in zip(frames, out, strict=True):
        stored = pixels[frame.index or 0]
        if target.dtype.kind == "f":
            np.multiply(stored, frame.slope, out=target, casting="unsafe")
            target += frame.intercept
        elif stored.dtype.kind not in "iu":
            raise NotWhole
        else:  # whole slope and intercept (`_whole_rescale`): exact in int64
            _fill(target, stored.astype(np.int64) * int(frame.slope) + int(frame.intercept))


def decode_file(path: str, compressed: bool, frames: list[Frame], out: list[np.ndarray]) -> None:
    """Write the HU pixels of `frames` (all from the file `path`) into the 2D arrays `out`."""
    try:
        if compressed and frames[0].index is None:
            try:
                return _decode_gdcm([path], out[0][None])
            except RuntimeError:
                pass  # GDCM refuses a few odd encodings that pylibjpeg reads
        _decode_pydicom(path, frames, out)
    except NotWhole:
        raise
    except Exception as error:
        raise InputError(f"cannot decode pixels ({type(error).__name__}: {error})", path) from error


def _plan(frames: list[Frame], compressed: dict[str, bool], chunk: int) -> list[list[int]]:
    """Slot lists, one per decode task: runs of at most `chunk` consecutive compressed
    single-frame slices sharing one rescale (a GDCM chunk), else all the slots of one file."""
    tasks: list[list[int]] = []
    run: list[int] = []
    by_file: dict[str, list[int]] = defaultdict(list)
    for k, frame in enumerate(frames):
        if frame.index is None and compressed[frame.path]:
            first = frames[run[0]] if run else frame
            if len(run) == chunk or (first.slope, first.intercept) != (
                frame.slope,
                frame.intercept,
            ):
                tasks.append(run)
                run = []
            run.append(k)
        else:
            if run:
                tasks.append(run)
                run = []
            by_file[frame.path].append(k)
    if run:
        tasks.append(run)
    return tasks + list(by_file.values())


def _run_task(
    slots: list[int], frames: list[Frame], compressed: dict[str, bool], array: np.ndarray
) -> list[InputError]:
    """Decode the slices `slots` into `array`; the files that failed, as errors."""
    first = frames[slots[0]]
    if len(slots) > 1 and first.index is None and compressed[first.path]:
        try:
            _decode_gdcm([frames[k].path for k in slots], array[slots[0] : slots[-1] + 1])
            return []
        except RuntimeError:
            pass  # one odd file spoils the chunk: go file by file to find it
    by_file: dict[str, list[int]] = defaultdict(list)
    for k in slots:
        by_file[frames[k].path].append(k)
    errors = []
    for path, ks in by_file.items():
        try:
            decode_file(path, compressed[path], [frames[k] for k in ks], [array[k] for k in ks])
        except InputError as error:
            errors.append(error)
    return errors


def _majority_size(frames: list[Frame]) -> tuple[list[Frame], list[str]]:
    sizes: dict[tuple[int, int], int] = defaultdict(int)
    for frame in frames:
        sizes[(frame.rows, frame.cols)] += 1
    if len(sizes) <= 1:
        return frames, []
    keep = max(sizes, key=lambda s: sizes[s])
    dropped = {f"{r}×{c}": n for (r, c), n in sizes.items() if (r, c) != keep}
    note = f"mixed image sizes: kept {sizes[keep]} images of {keep[0]}×{keep[1]}, dropped " + (
        ", ".join(f"{n} of {size}" for size, n in dropped.items())
    )
    return [f for f in frames if (f.rows, f.cols) == keep], [note]


def _read_headers(
    files: list[str], cancel: CancelFlag | None
) -> tuple[dict[str, pydicom.Dataset], list[InputError]]:
    headers, skipped = {}, []
    with ThreadPoolExecutor(workers()) as pool:
        for path, result in zip(files, pool.map(_try_header, files), strict=True):
            check_cancel(cancel)
            if isinstance(result, InputError):
                skipped.append(result)
            else:
                headers[path] = result
    return headers, skipped


def _try_header(path: str) -> object:
    try:
        return read_header(path)
    except InputError as error:
        return error


def _usable_frames(headers: dict[str, pydicom.Dataset]) -> tuple[list[Frame], list[InputError]]:
    """The greyscale frames whose size and rescale can be trusted; why the others were skipped."""
    frames, skipped = [], []
    for path, ds in headers.items():
        if as_int(ds.get("SamplesPerPixel"), 1) != 1:
            continue  # colour captures: discovery already set them aside with a reason
        try:
            found = frames_of(ds, path)
        except InputError as error:  # declares more pixels than the file holds
            skipped.append(error)
            continue
        frames += _trusted_rescale(found, path, skipped)
    return frames, skipped


def _trusted_rescale(found: list[Frame], path: str, skipped: list[InputError]) -> list[Frame]:
    """The frames of one file with a finite rescale; why the others go, added to `skipped`."""
    problem = rescale_problem(found)
    if problem:
        skipped.append(InputError(problem, path))
    return [frame for frame in found if finite_rescale(frame)]


def _still_current(scan: ScannedHeaders | None, files: list[str]) -> ScannedHeaders | None:
    """Discovery's headers of these files, if it read them all and none has changed since."""
    if scan is None or set(scan.stamps) != set(files):
        return None
    try:
        if any(file_stamp(path) != stamp for path, stamp in scan.stamps.items()):
            return None
    except OSError:
        return None  # reading the headers again says what became of the file
    return scan


def _scanned_frames(scan: ScannedHeaders) -> tuple[list[Frame], list[InputError]]:
    """`_usable_frames` from the frames discovery listed."""
    by_file: dict[str, list[Frame]] = defaultdict(list)
    for frame in scan.frames:
        by_file[frame.path].append(frame)
    skipped: list[InputError] = []
    frames = [f for path, found in by_file.items() for f in _trusted_rescale(found, path, skipped)]
    return frames, skipped


def _slots_to_keep(
    array: np.ndarray, frames: list[Frame], failed: list[InputError]
) -> tuple[list[int], list[InputError]]:
    """Slices to keep: decoded, and finite after rescale (a NaN slope, or one that overflows
    float32, would otherwise reach the model as an image and get a confident verdict); and why
    the files with non-finite slices lost them."""
    failed_files = {error.path for error in failed}
    # float64 sums of float32 values cannot overflow, so only NaN or Inf make them non-finite
    finite = np.ones(len(array), bool)  # integers always are
    if array.dtype.kind == "f":
        with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf is what we look for here
            finite = np.isfinite(array.sum(axis=(1, 2), dtype=np.float64))
    keep, non_finite = [], Counter()
    for k, frame in enumerate(frames):
        if frame.path in failed_files:
            continue
        if finite[k]:
            keep.append(k)
        else:
            non_finite[frame.path] += 1
    per_file = Counter(frame.path for frame in frames)
    errors = [
        InputError(
            (f"{n} of its {per_file[path]} frames hold" if per_file[path] > 1 else "holds")
            + " NaN or infinite values after rescale",
            path,
        )
        for path, n in non_finite.items()
    ]
    return keep, errors


def skip_notes(errors: list[InputError]) -> list[str]:
    """One warning per reason: "skipped 3 files (a.dcm, b.dcm, c.dcm): reason"."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for error in errors:
        reason = str(error).removeprefix(f"{error.path}: ")
        by_reason[reason].append(Path(error.path or "").name)
    notes = []
    for reason, names in by_reason.items():
        shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        files = shown if len(names) == 1 else f"{len(names)} files ({shown})"
        notes.append(f"skipped {files}: {reason}")
    return notes


def _nothing_to_show(source: str, skipped: list[InputError]) -> InputError:
    if not skipped:
        return InputError("no greyscale image to show in this series", source)
    if len({error.path for error in skipped}) == 1:
        return skipped[0]
    return InputError("no image left to show: " + "; ".join(skip_notes(skipped)[:2]), source)


def series_source(series: SeriesInfo) -> str:
    """What a series' Volume and Result name as their source: its file, or its files' folder."""
    return series.files[0] if len(series.files) == 1 else str(Path(series.files[0]).parent)


def read_series(
    series: SeriesInfo, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
) -> Volume:
    """Decode every image of `series` into a Volume sorted along the slice normal. Files that
    cannot be read, and slices that are not finite after rescale, are skipped with a warning;
    InputError when nothing is left."""
    source = series_source(series)
    report(progress, 0.0, "reading headers")
    headers: dict[str, pydicom.Dataset] = {}
    scan = _still_current(series.scan, series.files)
    if scan is not None:  # discovery read them a moment ago: not parsed twice
        frames, skipped = _scanned_frames(scan)
        compressed = scan.compressed
    else:
        headers, skipped = _read_headers(series.files, cancel)
        frames, unusable = _usable_frames(headers)
        skipped += unusable
        compressed = {path: compressed_pixels(ds) for path, ds in headers.items()}
    if not frames:
        raise _nothing_to_show(source, skipped)
    frames, size_notes = _majority_size(frames)

    path = frames[0].path
    thickness = scan.thickness[path] if scan is not None else slice_thickness(headers[path])
    geometry = stack_geometry(frames, thickness)
    frames = [frames[i] for i in geometry.order]
    array, failed = _decode(frames, compressed, progress, cancel)
    keep, non_finite = _slots_to_keep(array, frames, failed)
    skipped += failed + non_finite
    if len(keep) < len(frames):
        if not keep:
            raise _nothing_to_show(source, skipped)
        array, frames = array[keep], [frames[k] for k in keep]
        geometry = stack_geometry(frames, thickness)  # same order; positions and gaps change
    path = frames[0].path
    first = headers[path] if path in headers else read_header(path)
    return _assemble(array, geometry, frames, first, source, skip_notes(skipped) + size_notes)


def _decode(
    frames: list[Frame],
    compressed: dict[str, bool],
    progress: ProgressFn | None,
    cancel: CancelFlag | None,
) -> tuple[np.ndarray, list[InputError]]:
    """Decode `frames` (in slice order) into one array, int16 where that holds every value
    exactly (else float32, decoded again if a slice proves it); worker threads write their
    slices."""
    if _whole_rescale(frames):
        try:
            return _decode_into(WHOLE, frames, compressed, progress, cancel)
        except NotWhole:
            pass
    return _decode_into(np.float32, frames, compressed, progress, cancel)


def _decode_into(
    dtype,
    frames: list[Frame],
    compressed: dict[str, bool],
    progress: ProgressFn | None,
    cancel: CancelFlag | None,
) -> tuple[np.ndarray, list[InputError]]:
    array = np.empty((len(frames), frames[0].rows, frames[0].cols), dtype)
    chunk = max(1, min(MAX_CHUNK, math.ceil(len(frames) / (4 * workers()))))
    tasks = _plan(frames, compressed, chunk)
    failed: list[InputError] = []
    pool = ThreadPoolExecutor(workers())
    with native_output_muted():  # codecs print pages about broken streams; we say it in a line
        try:
            futures = [pool.submit(_run_task, slots, frames, compressed, array) for slots in tasks]
            for done, future in enumerate(as_completed(futures), start=1):
                check_cancel(cancel)
                failed.extend(future.result())
                report(progress, done / len(futures), f"decoded {done}/{len(futures)} parts")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return array, failed


def _assemble(
    array: np.ndarray,
    geometry: StackGeometry,
    frames: list[Frame],
    first: pydicom.Dataset,
    source: str,
    notes: list[str],
) -> Volume:
    meta: dict[str, object] = {key: str(first.get(key, "") or "") for key in META_KEYS}
    meta["slice_positions"] = geometry.positions
    modality = str(meta["Modality"])
    messages = list(dict.fromkeys(notes + geometry.warnings))
    if modality != "CT":
        messages.append(f"modality {modality or 'unknown'}: values are not Hounsfield units")
    return Volume(
        array=array,
        spacing=geometry.spacing,
        origin=geometry.origin,
        direction=geometry.direction,
        is_hu=modality == "CT",
        source=source,
        series_uid=str(meta["SeriesInstanceUID"]) or None,
        files=list(dict.fromkeys(frame.path for frame in frames)),
        window=window_of(first),
        meta=meta,
        warnings=messages,
    )
