"""Peak memory and CPU time of one series end to end, each measurement in a fresh process.

    .venv/bin/python benchmarks/bench_memory.py [--slices 300] [--size 512] [--repeats 3]
        [--model M] [--series DIR] [--threads 2] [--out FILE.json]

A chest phantom (`--slices` x `--size`²) is written once as uncompressed DICOM (into `--series`
when given and kept, else a temporary folder); then every repeat starts a new Python that loads the
model, reads the series and runs `pipeline.detect`, and reports its peak RSS (`ru_maxrss`: the
whole process, the Python and torch runtime included; Linux `VmHWM`, as `ru_maxrss`
carries the parent's peak over to a child), its CPU seconds (user + sys of all threads:
what a busy machine does not inflate) and wall seconds per stage. The parent prints the medians and
the load average. Run it with PYTHONPATH pointing at another tree to compare two versions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """`ctviewer.model.bench.peak_rss_mb`, repeated here so that the script measures older
    trees (PYTHONPATH) that lack it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(series: Path, model: str | None, threads: int) -> dict:
    """One measurement, in this (fresh) process."""
    import torch

    from ctviewer.io import load_volume
    from ctviewer.model.checkpoint import load_model
    from ctviewer.pipeline import detect

    torch.set_num_threads(threads)
    net = load_model(Path(model) if model else None, device="cpu")
    runtime = peak_rss_mb()
    c0, t0 = _cpu(), time.perf_counter()
    volume = load_volume(series)
    c1, t1 = _cpu(), time.perf_counter()
    read_peak = peak_rss_mb()
    result = detect(volume, net)
    c2, t2 = _cpu(), time.perf_counter()
    return {
        "runtime_rss_mb": round(runtime, 1),  # imports and the model, before the series
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "read_peak_rss_mb": round(read_peak, 1),
        "read_cpu_s": round(c1 - c0, 3),
        "detect_cpu_s": round(c2 - c1, 3),
        "end_to_end_cpu_s": round(c2 - c0, 3),
        "read_wall_s": round(t1 - t0, 3),
        "detect_wall_s": round(t2 - t1, 3),
        "end_to_end_wall_s": round(t2 - t0, 3),
        "score": float(result.score),
        "findings": len(result.findings),
        "map_dtype": str(result.anomaly_map.dtype),
        "labels_dtype": str(result.labels.dtype),
    }


def write_series(folder: Path, slices: int, size: int) -> None:
    from ctviewer.synth.phantom import make_phantom, write_dicom_series

    phantom = make_phantom(shape=(slices, size, size), spacing=(1.0, 0.7, 0.7), seed=1)
    write_dicom_series(phantom, folder)


def measure(series: Path, args: argparse.Namespace) -> list[dict]:
    command = [sys.executable, __file__, "--child", str(series), "--threads", str(args.threads)]
    if args.model:
        command += ["--model", args.model]
    runs = []
    for _ in range(args.repeats):
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs


def summary(runs: list[dict], args: argparse.Namespace, series_mb: float) -> dict:
    numeric = [k for k, v in runs[0].items() if isinstance(v, float) and k != "score"]
    return {
        "slices": args.slices,
        "matrix": f"{args.size}x{args.size}",
        "int16_series_mb": round(series_mb, 1),
        "repeats": len(runs),
        "torch_threads": args.threads,
        "load_average_1min": round(os.getloadavg()[0], 1),
        "median": {k: round(statistics.median(r[k] for r in runs), 3) for k in numeric},
        "score": runs[0]["score"],
        "findings": runs[0]["findings"],
        "map_dtype": runs[0]["map_dtype"],
        "labels_dtype": runs[0]["labels_dtype"],
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None)
    parser.add_argument("--series", type=Path, default=None, help="folder to write/keep it in")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_series(args.write, args.slices, args.size)
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.model, args.threads)))
        return 0
    series_mb = args.slices * args.size * args.size * 2 / 1e6
    with tempfile.TemporaryDirectory(prefix="ctviewer-mem-") as tmp:
        series = args.series or Path(tmp)
        if not any(series.glob("*.dcm")):  # in a child: this process stays small
            subprocess.run(
                [sys.executable, __file__, "--write", str(series), "--slices", str(args.slices)]
                + ["--size", str(args.size)],
                check=True,
            )
        figures = summary(measure(series, args), args, series_mb)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
