"""Bad-input probe (issue 12): broken inputs made from ../shared/data, each fed to four entry points
— `ctviewer info`, `ctviewer detect`, `ctviewer report` (in-process `cli.main.main`) and the
viewer's loader (discover → pick_series → load_series, as `ui/main_window.py` calls it).

Every case × entry point runs in its own forked process (the parent imports ctviewer and torch
once, so a fork starts in milliseconds; a crash or a memory blow-up kills one run, not the probe)
and is classified:

  clean error     rc ≠ 0, one line on stderr (progress lines aside, C libraries' output included):
                  `ctviewer: error: ...` naming the input
  correct         a readable input got a verdict, or "not assessed" with a reason; `info` listed
                  what it found (or set aside, with reasons); the viewer showed a readable image
  traceback       an exception escaped (or the run crashed / hung)
  silent verdict  a verdict, a report or an image shown from an input that cannot be read
  unclear error   rc ≠ 0 without a single one-line error naming the input

Usage: python benchmarks/bad_input_probe.py [--cases a,b] [--jobs 2] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DICOM = DATA / "dicom"
SERIES = DICOM / "totalsegmentator_example/example_ct_dicom"
NIFTI = DICOM / "totalsegmentator_example/example_ct_sm.nii.gz"
NRRD = DATA / "anomaly/chest_ct_volumes/lung1_image.nrrd"
SMALL = DICOM / "pydicom_ct/pydicom_test_files/CT_small.dcm"
ENHANCED = DICOM / "pydicom_ct/pydicom_data/eCT_Supplemental.dcm"
TINY_DICOMDIR = DICOM / "pydicom_ct/pydicom_test_files/dicomdirtests/TINY_ALPHA"
PHILIPS = DICOM / "dcm_qa_ct_philips_exam"
PNG = DATA / "anomaly/head_ct_hemorrhage/train/normal/101.png"
ENTRIES = ("info", "detect", "report", "viewer")
# cases run as an ordinary user when the probe runs as root (who reads any file)
AS_NOBODY = {"unreadable_file", "unreadable_folder"}
NOBODY = 65534
PROGRESS = re.compile(r"^\s*\d+% ")  # the CLI's progress lines on stderr
TIMEOUT_S = 300

# -- builders: (output path stem) → input path --------------------------------------------------


def _series(out: Path, edit: Callable | None = None, only: int = 10**6, raw: bool = False) -> Path:
    """A copy of the 20-slice J2K series, `edit(ds, k)` applied to the first `only` slices."""
    out.mkdir()
    for k, path in enumerate(sorted(SERIES.iterdir())):
        ds = pydicom.dcmread(path)
        if raw:
            ds.decompress()
        if edit and k < only:
            edit(ds, k)
        ds.save_as(out / path.name)
    return out


def _set(**fields) -> Callable:
    """An edit that sets header fields (for `_series` and `_small` alike)."""
    return lambda ds, k=0: [setattr(ds, key, value) for key, value in fields.items()]


def _cut(source: Path, out: Path, n: int) -> Path:
    out.write_bytes(source.read_bytes()[:n])
    return out


def _small(out: Path, edit: Callable) -> Path:
    ds = pydicom.dcmread(SMALL)
    edit(ds)
    ds.save_as(out, enforce_file_format=False)
    return out


def _bytes(out: Path, data: bytes) -> Path:
    out.write_bytes(data)
    return out


def _nifti(out: Path, edit: Callable) -> Path:
    """The small NIfTI with `edit(array (z, y, x), direction 3×3)` → (array, direction) applied."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(NIFTI))
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    array, direction = edit(array, direction)
    edited = sitk.GetImageFromArray(array, isVector=False)
    if array.ndim == 3:
        edited.CopyInformation(image)
    with contextlib.suppress(RuntimeError):  # SimpleITK refuses some directions itself
        edited.SetDirection([float(v) for v in np.ravel(direction)])
    sitk.WriteImage(edited, str(out))
    if not np.isfinite(direction).all():  # write the NaN into the header ourselves
        _nan_affine(out)
    return out


def _nan_affine(path: Path) -> None:
    """NaN in the sform/qform of a written .nii.gz (SimpleITK will not write one)."""
    header = bytearray(gzip.decompress(path.read_bytes()))
    nan = np.array([np.nan] * 4, dtype="<f4").tobytes()
    header[280:296] = header[296:312] = header[312:328] = nan  # srow_x, srow_y, srow_z
    header[256:280] = np.array([np.nan] * 6, dtype="<f4").tobytes()  # quaternion, qoffset
    header[252:254] = header[254:256] = np.array([1], dtype="<i2").tobytes()  # sform, qform codes
    path.write_bytes(gzip.compress(bytes(header)))


def _one_by_one(ds) -> None:
    ds.Rows = ds.Columns = 1
    ds.PixelData = b"\x00\x00"


def _rgb_ct(ds) -> None:
    pixels = ds.pixel_array
    rgb = np.clip(pixels / 8, 0, 255).astype(np.uint8)
    ds.PixelData = np.stack([rgb] * 3, axis=-1).tobytes()
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0


def _raw_as_j2k(out: Path) -> Path:
    """Uncompressed pixels wrapped as if they were a JPEG 2000 stream."""
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(SMALL)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([ds.PixelData])
    ds.save_as(out, enforce_file_format=False)
    return out


def _unknown_syntax(out: Path) -> Path:
    ds = pydicom.dcmread(SMALL)
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"
    ds.save_as(out, implicit_vr=False, little_endian=True, enforce_file_format=False)
    return out


def _folder(out: Path, files: dict[str, bytes]) -> Path:
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)
    return out


def _loop(out: Path) -> Path:
    out.mkdir()
    os.symlink(out, out / "loop")
    os.symlink(out / "b", out / "a")
    os.symlink(out / "a", out / "b")
    return out


def _mixed(out: Path) -> Path:
    _series(out)
    shutil.copy(SMALL, out / "ct_small.dcm")
    return out


def _duplicates(out: Path) -> Path:
    _series(out)
    first = sorted(out.iterdir())[0]
    shutil.copy(first, out / "copy_of_first.dcm")
    return out


def _dicomdir_missing(out: Path) -> Path:
    shutil.copytree(TINY_DICOMDIR, out)
    shutil.rmtree(out / "PT000000")
    return out / "DICOMDIR"


def _unreadable(out: Path) -> Path:
    shutil.copy(SMALL, out)
    out.chmod(0)
    return out


def _unreadable_folder(out: Path) -> Path:
    out.mkdir()
    shutil.copy(SMALL, out / "ct.dcm")
    out.chmod(0)
    return out


def _png16(out: Path) -> Path:
    from PIL import Image

    pixels = pydicom.dcmread(SMALL).pixel_array.astype(np.int32) + 1024
    Image.fromarray(np.clip(pixels, 0, 65535).astype(np.uint16)).save(out)
    return out


def _corrupt_j2k(out: Path) -> Path:
    def edit(ds, k) -> None:
        frame = bytearray(ds.PixelData)
        frame[200:-200] = os.urandom(len(frame) - 400)
        ds.PixelData = bytes(frame)

    return _series(out, edit)


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    # name → (builder, expectation): "error" (an error or not-assessed; never a verdict),
    # "works" (readable: a verdict or not-assessed with a reason), "either" (no traceback)
    "nan_slope": (lambda p: _series(p, _set(RescaleSlope="NaN")), "error"),
    "nan_slope_2_slices": (lambda p: _series(p, _set(RescaleSlope="NaN"), only=2), "works"),
    "inf_slope": (lambda p: _series(p, _set(RescaleSlope="1e400")), "error"),
    "nan_intercept": (lambda p: _series(p, _set(RescaleIntercept="nan")), "error"),
    "cut_nii_gz_5k": (lambda p: _cut(NIFTI, p.with_suffix(".nii.gz"), 5000), "error"),
    "cut_nii_gz_half": (
        lambda p: _cut(NIFTI, p.with_suffix(".nii.gz"), NIFTI.stat().st_size // 2),
        "error",
    ),
    "cut_nrrd_tail": (
        lambda p: _cut(NRRD, p.with_suffix(".nrrd"), NRRD.stat().st_size - 10),
        "error",
    ),
    "cut_dcm": (lambda p: _cut(SMALL, p.with_suffix(".dcm"), 3000), "error"),
    "cut_enhanced_multiframe": (
        lambda p: _cut(ENHANCED, p.with_suffix(".dcm"), ENHANCED.stat().st_size * 2 // 3),
        "error",
    ),
    "cut_series_slice": (
        lambda p: (_series(p), _cut(SMALL, sorted(p.iterdir())[5], 2000), p)[2],
        "works",
    ),
    "huge_frames": (lambda p: _small(p.with_suffix(".dcm"), _set(NumberOfFrames=100000)), "error"),
    "zero_frames": (lambda p: _small(p.with_suffix(".dcm"), _set(NumberOfFrames=0)), "either"),
    "huge_matrix": (
        lambda p: _small(p.with_suffix(".dcm"), _set(Rows=65535, Columns=65535)),
        "error",
    ),
    "pixels_shorter_than_declared": (
        lambda p: _small(p.with_suffix(".dcm"), _set(Rows=1024)),
        "error",
    ),
    "bits_allocated_0": (lambda p: _small(p.with_suffix(".dcm"), _set(BitsAllocated=0)), "error"),
    "no_pixeldata": (
        lambda p: _small(p.with_suffix(".dcm"), lambda ds: delattr(ds, "PixelData")),
        "error",
    ),
    "one_by_one": (lambda p: _small(p.with_suffix(".dcm"), _one_by_one), "error"),
    "rgb_ct": (lambda p: _small(p.with_suffix(".dcm"), _rgb_ct), "error"),
    "raw_claims_j2k": (lambda p: _raw_as_j2k(p.with_suffix(".dcm")), "error"),
    "j2k_claims_raw": (
        lambda p: _series(
            p, lambda ds, k: setattr(ds.file_meta, "TransferSyntaxUID", ExplicitVRLittleEndian)
        ),
        "error",
    ),
    "unknown_transfer_syntax": (lambda p: _unknown_syntax(p.with_suffix(".dcm")), "error"),
    "corrupt_j2k_stream": (_corrupt_j2k, "error"),
    "zero_length_dcm": (lambda p: _bytes(p.with_suffix(".dcm"), b""), "error"),
    "random_bytes_dcm": (lambda p: _bytes(p.with_suffix(".dcm"), os.urandom(4096)), "error"),
    "dicm_magic_then_garbage": (
        lambda p: _bytes(p.with_suffix(".dcm"), b"\0" * 128 + b"DICM" + os.urandom(2000)),
        "error",
    ),
    "zero_length_nii_gz": (lambda p: _bytes(p.with_suffix(".nii.gz"), b""), "error"),
    "random_bytes_nii_gz": (lambda p: _bytes(p.with_suffix(".nii.gz"), os.urandom(999)), "error"),
    "gzip_of_garbage_nii_gz": (
        lambda p: _bytes(p.with_suffix(".nii.gz"), gzip.compress(os.urandom(5000))),
        "error",
    ),
    "text_named_nrrd": (
        lambda p: _bytes(p.with_suffix(".nrrd"), b"NRRD0004\ntype: what\n\n"),
        "error",
    ),
    "nifti_nan_affine": (
        lambda p: _nifti(p.with_suffix(".nii.gz"), lambda d, a: (d, np.full((3, 3), np.nan))),
        "error",
    ),
    "nifti_nan_voxels": (
        lambda p: _nifti(p.with_suffix(".nii.gz"), lambda d, a: (np.full_like(d, np.nan), a)),
        "error",
    ),
    "nifti_4d": (
        lambda p: _nifti(p.with_suffix(".nii.gz"), lambda d, a: (np.stack([d, d]), a)),
        "either",
    ),
    "negative_spacing": (lambda p: _series(p, _set(PixelSpacing=[-0.8, -0.8])), "either"),
    "zero_spacing": (lambda p: _series(p, _set(PixelSpacing=[0, 0])), "either"),
    "duplicate_positions": (
        lambda p: _series(p, lambda ds, k: setattr(ds, "ImagePositionPatient", [0, 0, 0])),
        "either",
    ),
    "duplicate_file": (_duplicates, "works"),
    "mixed_series": (_mixed, "works"),
    "folder_of_non_images": (
        lambda p: _folder(p, {"notes.txt": b"hello", "a.json": b"{}", "x.py": b"print(1)"}),
        "error",
    ),
    "empty_folder": (lambda p: _folder(p, {}), "error"),
    "symlink_loop": (_loop, "error"),
    "missing_path": (lambda p: p / "does-not-exist", "error"),
    "unreadable_file": (lambda p: _unreadable(p.with_suffix(".dcm")), "error"),
    "unreadable_folder": (_unreadable_folder, "error"),
    "dicomdir_missing_files": (_dicomdir_missing, "error"),
    "png_16bit": (lambda p: _png16(p.with_suffix(".png")), "works"),
    "corrupt_png": (lambda p: _cut(PNG, p.with_suffix(".png"), PNG.stat().st_size // 3), "error"),
    "random_bytes_png": (lambda p: _bytes(p.with_suffix(".png"), os.urandom(999)), "error"),
    "philips_dirfile": (lambda p: PHILIPS / "S2010/DIRFILE", "works"),
    "single_slice_of_series": (lambda p: sorted(SERIES.iterdir())[3], "works"),
    "good_nifti": (lambda p: NIFTI, "works"),
}

# -- running one case × entry point in a forked child ---------------------------------------------


def _viewer(path: str) -> int:
    from ctviewer.errors import CTViewerError
    from ctviewer.io import discover, load_series, pick_series

    try:
        volume = load_series(pick_series(discover(path)))
    except CTViewerError as error:
        print(f"ctviewer: error: {error}", file=sys.stderr)
        return 1
    print(f"shown {volume.shape} finite={bool(np.isfinite(volume.array).all())}")
    return 0


def _argv(entry: str, path: str, out: str) -> list[str]:
    if entry == "info":
        return ["info", path]
    if entry == "detect":
        return ["detect", path, "--out", out]
    return ["report", path, "--out", f"{out}/r.pdf", "--json"]


def _child(
    entry: str, path: str, out: str, home: str, result_file: str, as_nobody: bool = False
) -> None:
    from ctviewer.cli.main import main

    if as_nobody:  # see AS_NOBODY
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    os.environ["CTVIEWER_HOME"] = home
    native = Path(result_file).with_name("native-stderr.txt")  # what C libraries print
    fd = os.open(native, os.O_WRONLY | os.O_CREAT, 0o666)
    os.dup2(fd, 2)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            rc = _viewer(path) if entry == "viewer" else main(_argv(entry, path, out))
        except SystemExit as stop:  # argparse
            rc = stop.code if isinstance(stop.code, int) else 1
        except BaseException:  # noqa: BLE001 - the probe reports whatever escaped
            traceback.print_exc()
            rc = 99
    err = stderr.getvalue() + native.read_text(errors="replace")
    Path(result_file).write_text(json.dumps({"rc": rc, "out": stdout.getvalue(), "err": err}))


def classify(entry: str, rc: int, out: str, err: str, expect: str, path: str) -> str:
    """One of the classes in the module docstring."""
    if "Traceback" in err or rc == 99:
        return "traceback"
    if rc != 0:
        lines = [line for line in err.splitlines() if line.strip() and not PROGRESS.match(line)]
        named = len(lines) == 1 and (path in lines[0] or Path(path).name in lines[0])
        return (
            "clean error" if named and lines[0].startswith("ctviewer: error:") else "unclear error"
        )
    if entry == "info" or expect == "either":
        return "correct"
    verdict = {
        "detect": "score " in out,
        "report": '"verdict"' in out and '"Not assessed' not in out,
        "viewer": "shown" in out,
    }[entry]
    if expect == "error" and verdict:
        return "silent verdict"
    return "correct"


def _message(entry: str, data: dict) -> str:
    """The line that says what happened: the error, the verdict, or what was listed/shown."""
    if data["rc"] != 0:
        return (data["err"].strip().splitlines() or [""])[-1]
    if entry == "report":
        with contextlib.suppress(ValueError):
            return "report: " + json.loads(data["out"]).get("verdict", "")
    lines = data["out"].strip().splitlines() or [""]
    return lines[-1] if entry == "info" else lines[0]


def _run_all(names: list[str], jobs: int, tmp: Path) -> list[dict]:
    import ctviewer.pipeline  # noqa: F401 - imported once, before forking
    import ctviewer.report.export  # noqa: F401
    from ctviewer.cli.main import build_parser

    build_parser()  # imports every command module (a child running as nobody may not read them)

    context = multiprocessing.get_context("fork")
    tasks = []
    for name in names:
        build, expect = CASES[name]
        path = str(build(tmp / name))
        for entry in ENTRIES:
            tasks.append((name, entry, path, expect))
    rows, running = [], []
    pending = list(tasks)
    while pending or running:
        while pending and len(running) < jobs:
            name, entry, path, expect = pending.pop(0)
            run = tmp / "runs" / f"{name}-{entry}"
            (run / "home").mkdir(parents=True)
            result = run / "result.json"
            as_nobody = name in AS_NOBODY and os.geteuid() == 0
            if as_nobody:
                for folder in (tmp, tmp / "runs", run, run / "home"):
                    folder.chmod(0o777)
            args = (entry, path, str(run / "out"), str(run / "home"), str(result), as_nobody)
            child = context.Process(target=_child, args=args)
            child.start()
            running.append((child, time.monotonic(), name, entry, path, expect, result))
        time.sleep(0.05)
        for item in list(running):
            child, started, name, entry, path, expect, result = item
            late = time.monotonic() - started > TIMEOUT_S
            if child.is_alive() and not late:
                continue
            if late:
                child.kill()
            child.join()
            running.remove(item)
            if result.exists():
                data = json.loads(result.read_text())
            else:
                why = "hung" if late else f"crashed (exit code {child.exitcode})"
                data = {"rc": 99, "out": "", "err": f"Traceback: the run {why}"}
            kind = classify(entry, data["rc"], data["out"], data["err"], expect, path)
            message = _message(entry, data).replace(str(tmp) + "/", "")
            rows.append(
                {
                    "case": name,
                    "entry": entry,
                    "result": kind,
                    "rc": data["rc"],
                    "seconds": round(time.monotonic() - started, 1),
                    "message": message[:150],
                }
            )
    order = {(n, e): k for k, (n, e, _, _) in enumerate(tasks)}
    return sorted(rows, key=lambda r: order[(r["case"], r["entry"])])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"bad_input_probe: the real data folder {DATA} is absent", file=sys.stderr)
        return 2
    names = args.cases.split(",") if args.cases else list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"bad_input_probe: unknown case(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ctviewer-probe-") as tmp:
        rows = _run_all(names, args.jobs, Path(tmp))
        for path in Path(tmp).rglob("*"):  # let the temp dir go (unreadable_file)
            if not path.is_symlink():
                path.chmod(0o700)
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["result"]] = totals.get(row["result"], 0) + 1
    seconds = round(time.monotonic() - started)
    if args.json:
        print(json.dumps({"rows": rows, "totals": totals, "seconds": seconds}, indent=2))
    else:
        for row in rows:
            print(f"{row['case']:<30} {row['entry']:<7} {row['result']:<15} {row['message']}")
        cases = len({row["case"] for row in rows})
        summary = ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
        print(f"{cases} cases × {len(ENTRIES)} entry points in {seconds} s: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
