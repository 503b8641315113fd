"""Screening throughput: a simulated archive of phantom series screened with 1 and 2 local
workers and with 1 and 2 Ray actors (a local Ray instance), with the bundled models.

    .venv/bin/python benchmarks/bench_screen.py [--series 50] [--slices 32] [--size 128]
        [--skip-ray] [--out benchmarks/results/bench_screen.json]

Per configuration: wall seconds of the whole `screen` call (discovery, worker start-up, models
loaded once per worker), the steady rate in series/hour (outcomes after the first over the time
from the first outcome to the last: start-up excluded), the scaling efficiency of 2 workers
against 1 (rate2 / 2·rate1), and the peak RSS of each worker process. Every configuration must
give the same verdicts; the bench says so. The load average is printed: on a shared machine the
scaling figure mostly measures what the other processes leave.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

from ctviewer.screen import Worklist, screen
from ctviewer.screen.analyst import peak_rss_mb

CONFIGS = (("pool", 1, None), ("pool", 2, None), ("ray", 1, "local"), ("ray", 2, "local"))


def write_archive(folder: Path, series: int, shape: tuple[int, int, int]) -> None:
    """`series` chest phantoms as DICOM; one in five with a nodule."""
    from ctviewer.synth.phantom import Lesion, make_phantom, write_dicom_series

    for n in range(series):
        lesions = [Lesion("nodule", radius_mm=15.0, seed=n)] if n % 5 == 0 else []
        phantom = make_phantom(shape=shape, seed=1000 + n, lesions=lesions)
        write_dicom_series(phantom, folder / f"s{n:03d}")


def steady_rate(rows) -> float | None:
    """Series/hour from the first outcome to the last (worker start-up excluded)."""
    times = sorted(datetime.fromisoformat(r.finished_utc).timestamp() for r in rows)
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return round(3600.0 * (len(times) - 1) / (times[-1] - times[0]), 1)


def run_config(archive: Path, out: Path, runner: str, workers: int, ray: str | None) -> dict:
    started = time.perf_counter()
    summary = screen([str(archive)], out, workers=workers, ray=ray, threads=1)
    wall = time.perf_counter() - started
    with Worklist(out) as worklist:
        rows = worklist.rows()
    per_worker: dict[str, float] = {}
    for row in rows:
        per_worker[row.worker] = max(per_worker.get(row.worker, 0.0), row.worker_peak_rss_mb)
    return {
        "runner": summary.runner,
        "workers": summary.workers,
        "series": len(rows),
        "wall_s": round(wall, 1),
        "series_per_hour_wall": round(3600.0 * len(rows) / wall, 1),
        "series_per_hour_steady": steady_rate(rows),
        "median_series_s": sorted(r.seconds for r in rows)[len(rows) // 2],
        "worker_peak_rss_mb": sorted(per_worker.values()),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "verdicts": {r.key: (r.assessed, r.abnormal, round(r.score or 0.0, 6)) for r in rows},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--slices", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    configs = [c for c in CONFIGS if not (args.skip_ray and c[0] == "ray")]
    results = []
    with tempfile.TemporaryDirectory(prefix="ctviewer-bench-screen-") as tmp:
        archive = Path(tmp) / "archive"
        write_archive(archive, args.series, (args.slices, args.size, args.size))
        for runner, workers, ray in configs:
            figures = run_config(
                archive, Path(tmp) / f"{runner}{workers}.sqlite", runner, workers, ray
            )
            results.append(figures)
            shown = {k: v for k, v in figures.items() if k != "verdicts"}
            print(json.dumps(shown), flush=True)
    same = all(r["verdicts"] == results[0]["verdicts"] for r in results)
    report = {
        "archive": f"{args.series} series of {args.slices}x{args.size}x{args.size} (DICOM)",
        "cpu_count": os.cpu_count(),
        "same_verdicts_everywhere": same,
        "driver_peak_rss_mb": round(peak_rss_mb(), 1),
        "configs": [{k: v for k, v in r.items() if k != "verdicts"} for r in results],
    }
    for runner in ("pool", "ray"):
        rates = {r["workers"]: r["series_per_hour_steady"] for r in results if r["runner"] in
                 (runner, "serial" if runner == "pool" else runner)}  # fmt: skip
        if rates.get(1) and rates.get(2):
            report[f"{runner}_scaling_efficiency"] = round(rates[2] / (2 * rates[1]), 2)
    print(json.dumps({k: v for k, v in report.items() if k != "configs"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
