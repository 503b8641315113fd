"""Bad-input probe: make broken inputs from ../shared/data in a temp dir and run each through
`ctviewer info`, `detect`, `report` (subprocesses) and the viewer's loader (discover → pick_series
→ load_series, what ctviewer/ui/main_window.py calls). Classifies every run as clean error /
correct / traceback / silent verdict.
Usage: python benchmarks/bad_input_probe.py [--cases a,b] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pydicom

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERIES = DATA / "dicom/totalsegmentator_example/example_ct_dicom"
NIFTI = DATA / "dicom/totalsegmentator_example/example_ct.nii.gz"
NRRD = DATA / "anomaly/chest_ct_volumes/lung1_image.nrrd"
SMALL = DATA / "dicom/pydicom_ct/pydicom_test_files/CT_small.dcm"
PHILIPS = DATA / "dicom/dcm_qa_ct_philips_exam"


def _series(out: Path, edit=None, only: int = 10**6) -> Path:
    out.mkdir()
    for k, path in enumerate(sorted(SERIES.iterdir())):
        ds = pydicom.dcmread(path)
        if edit and k < only:
            edit(ds)
        ds.save_as(out / path.name)
    return out


def _cut(source: Path, out: Path, n: int) -> Path:
    out.write_bytes(source.read_bytes()[:n])
    return out


def _small(out: Path, **fields) -> Path:
    ds = pydicom.dcmread(SMALL)
    for key, value in fields.items():
        setattr(ds, key, value)
    ds.save_as(out)
    return out


def _no_pixels(out: Path) -> Path:
    ds = pydicom.dcmread(SMALL)
    del ds.PixelData
    ds.save_as(out)
    return out


def _empty_dir(out: Path) -> Path:
    out.mkdir()
    return out


def _loop(out: Path) -> Path:
    out.mkdir()
    os.symlink(out, out / "loop")
    return out


CASES = {  # name → (builder(tmp path) → input path, expectation: "error" or "works")
    "nan_slope": (lambda p: _series(p, lambda ds: setattr(ds, "RescaleSlope", "NaN")), "error"),
    "nan_slope_2_slices": (
        lambda p: _series(p, lambda ds: setattr(ds, "RescaleSlope", "NaN"), only=2),
        "works",
    ),
    "inf_slope": (lambda p: _series(p, lambda ds: setattr(ds, "RescaleSlope", "1e400")), "error"),
    "cut_nii_gz_5k": (lambda p: _cut(NIFTI, p.with_suffix(".nii.gz"), 5000), "error"),
    "cut_nii_gz_half": (lambda p: _cut(NIFTI, p.with_suffix(".nii.gz"), 1_100_000), "error"),
    "cut_nrrd_tail": (
        lambda p: _cut(NRRD, p.with_suffix(".nrrd"), NRRD.stat().st_size - 10),
        "error",
    ),
    "cut_dcm": (lambda p: _cut(SMALL, p.with_suffix(".dcm"), 3000), "error"),
    "huge_frames": (lambda p: _small(p.with_suffix(".dcm"), NumberOfFrames=100000), "error"),
    "wrong_rows": (lambda p: _small(p.with_suffix(".dcm"), Rows=1024), "error"),
    "no_pixeldata": (lambda p: _no_pixels(p.with_suffix(".dcm")), "error"),
    "zero_length_dcm": (lambda p: _cut(SMALL, p.with_suffix(".dcm"), 0), "error"),
    "zero_length_nii_gz": (lambda p: _cut(NIFTI, p.with_suffix(".nii.gz"), 0), "error"),
    "garbage_png": (
        lambda p: (p.with_suffix(".png").write_bytes(os.urandom(999)), p.with_suffix(".png"))[1],
        "error",
    ),
    "garbage_nii_gz": (
        lambda p: (p.with_suffix(".nii.gz").write_bytes(os.urandom(999)), p.with_suffix(".nii.gz"))[
            1
        ],
        "error",
    ),
    "empty_folder": (_empty_dir, "error"),
    "symlink_loop": (_loop, "error"),
    "philips_dirfile": (lambda p: PHILIPS / "S2010/DIRFILE", "works"),
    "single_slice_of_series": (lambda p: sorted(SERIES.iterdir())[3], "works"),
    "good_nifti": (lambda p: NIFTI, "works"),
}


def _cli(args: list[str], home: str) -> tuple[int, str, str]:
    env = dict(os.environ, CTVIEWER_HOME=home, OMP_NUM_THREADS="1")
    run = subprocess.run(
        [sys.executable, "-m", "ctviewer", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return run.returncode, run.stdout, run.stderr


def _classify(rc: int, out: str, err: str, expect: str, path: Path) -> str:
    if "Traceback" in err:
        return "traceback"
    if rc != 0:
        lines = [line for line in err.strip().splitlines() if line.startswith("ctviewer")]
        return (
            "clean error"
            if lines and len(lines) == 1 and str(path) in lines[0]
            else "unclear error"
        )
    if expect == "error" and ("score" in out or "below threshold" in out or "threshold" in out):
        return "silent verdict"
    return "correct" if expect == "works" else "worked on bad input"


def _viewer(path: Path) -> tuple[int, str, str]:
    code = (
        "import sys;from ctviewer.io import discover,pick_series,load_series\n"
        "from ctviewer.errors import CTViewerError\n"
        "try:\n v=load_series(pick_series(discover(sys.argv[1])));print('loaded',v.shape)\n"
        "except CTViewerError as e:\n print('ctviewer: error:',e,file=sys.stderr);sys.exit(1)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    return run.returncode, run.stdout, run.stderr


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.cases.split(",") if args.cases else list(CASES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            build, expect = CASES[name]
            path = Path(build(Path(tmp) / name))
            home = tempfile.mkdtemp(dir=tmp)
            out = Path(tmp) / f"{name}_out"
            runs = {
                "info": _cli(["info", str(path)], home),
                "detect": _cli(["detect", str(path), "--out", str(out)], home),
                "report": _cli(["report", str(path), "--out", str(out / "r.pdf")], home),
                "viewer": _viewer(path),
            }
            for entry, (rc, so, se) in runs.items():
                verdict = _classify(
                    rc,
                    so,
                    se,
                    "works" if entry == "info" and expect == "error" and rc == 0 else expect,
                    path,
                )
                rows.append(
                    {
                        "case": name,
                        "entry": entry,
                        "result": verdict,
                        "rc": rc,
                        "message": (se.strip().splitlines() or [""])[-1][:160],
                    }
                )
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["result"]] = totals.get(row["result"], 0) + 1
    if args.json:
        print(json.dumps({"rows": rows, "totals": totals}, indent=2))
    else:
        for row in rows:
            print(f"{row['case']:<24} {row['entry']:<7} {row['result']:<20} {row['message']}")
        print("totals:", ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
