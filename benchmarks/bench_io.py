"""Reading speed: our DICOM series load vs SimpleITK, JPEG-lossless decoders, discovery files/s.

    .venv/bin/python benchmarks/bench_io.py [--data ../shared/data/dicom] [--repeat 3]

One process, contenders alternated, medians of `--repeat` runs of wall time (and process CPU
time, which says less about a busy machine's scheduling). Files are in the OS cache after the first
run, so these are warm-cache numbers. The load average is printed: on a shared, saturated machine
threads cannot run in parallel and wall times mostly measure the scheduler.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from ctviewer.io import discover, load_series
from ctviewer.io.dicom import workers

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom"
discover_module = importlib.import_module("ctviewer.io.discover")  # the package re-exports the fn


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(contenders: dict[str, Callable[[], object]], repeat: int, per: int = 0) -> None:
    """Run the contenders in turn `repeat` times; print median wall and CPU seconds."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            runs[name].append(timed(fn))
    for name, times in runs.items():
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        extra = f"  {wall / per * 1000:5.1f} ms/slice" if per else ""
        print(f"  {name:<34} wall {wall:6.3f} s  cpu {cpu:6.3f} s{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; medians of {args.repeat} runs")

    series = max(
        discover(args.data / "cq500_head_jpegls_tilt").all_series(), key=lambda s: s.n_images
    )
    files = series.files

    def simpleitk_series() -> np.ndarray:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        return sitk.GetArrayFromImage(reader.Execute())

    print(f"CQ500 series load, {len(files)} JPEG-lossless slices ({workers()} decode threads):")
    compare(
        {
            "ctviewer load_series": lambda: load_series(series),
            "SimpleITK ImageSeriesReader": simpleitk_series,
        },
        args.repeat,
    )
    same = np.array_equal(load_series(series).array, simpleitk_series().astype(np.float32))
    print(f"  identical HU: {same}")

    print("JPEG-lossless decoders on the same files:")
    compare(
        {
            "pydicom + pylibjpeg-libjpeg": lambda: [pydicom.dcmread(f).pixel_array for f in files],
            "GDCM via SimpleITK": lambda: [
                sitk.GetArrayFromImage(sitk.ReadImage(f, imageIO="GDCMImageIO")) for f in files
            ],
            f"pylibjpeg, {workers()} threads": lambda: list(
                ThreadPoolExecutor(workers()).map(lambda f: pydicom.dcmread(f).pixel_array, files)
            ),
        },
        args.repeat,
        per=len(files),
    )

    n_files = sum(len(names) for _, _, names in os.walk(args.data))
    default_workers = discover_module.SCAN_WORKERS
    for n_workers in sorted({1, default_workers}):
        discover_module.SCAN_WORKERS = n_workers
        wall = statistics.median(timed(lambda: discover(args.data))[0] for _ in range(args.repeat))
        print(f"discovery of {args.data}, {n_workers} threads: {n_files} files in {wall:.3f} s "
              f"= {n_files / wall:.0f} files/s")  # fmt: skip
    discover_module.SCAN_WORKERS = default_workers


if __name__ == "__main__":
    main()
