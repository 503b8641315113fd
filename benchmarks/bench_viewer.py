"""Viewer speed: slice change with overlay on a 512² series, and CQ500 open → first image.

    .venv/bin/python benchmarks/bench_viewer.py [--changes 200] [--cq500 PATH] [--repeats 3]

Runs offscreen (QT_QPA_PLATFORM=offscreen unless set). A slice change is timed two ways, target
≤ 16 ms median: in one `SliceView` (from `set_index` to the end of a synchronous repaint: image +
anomaly map + finding outlines + corner text), and in the whole `MainWindow` as a key press does
it (`ViewerModel.step` → every view, crosshairs, score plot, corner text, measurements layer →
synchronous repaint of the axial view). Open times run from `MainWindow.open_path` to the
first image on screen (`previewShown`: the middle image, decoded alone while the series loads)
and to the whole volume (`volumeShown`: scan + decode + first draw), auto-analysis off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
CQ500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom" / "cq500_head_jpegls_tilt"


def synthetic_case(n: int = 120, size: int = 512):
    """A 512² CT-like volume with a blob map and labelled findings (display cost only)."""
    from ctviewer.volume import ModelInfo, Result, Volume

    rng = np.random.default_rng(0)
    array = rng.normal(-1000, 10, (n, size, size)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    body = (yy - size / 2) ** 2 / (0.4 * size) ** 2 + (xx - size / 2) ** 2 / (0.45 * size) ** 2 < 1
    array[:, body] = rng.normal(40, 15, (n, int(body.sum())))
    amap = np.zeros_like(array)
    labels = np.zeros(array.shape, np.int32)
    for k, (z, y, x) in enumerate(rng.integers([5, 150, 150], [n - 5, 360, 360], (6, 3)), 1):
        amap[z - 4 : z + 4, y - 12 : y + 12, x - 12 : x + 12] = rng.random((8, 24, 24)) + 1
        labels[z - 4 : z + 4, y - 10 : y + 10, x - 10 : x + 10] = k
    amap[:, body] += rng.random(int(body.sum())).astype(np.float32) * 0.2
    volume = Volume(array=array, spacing=(1.0, 0.7, 0.7), window=(40.0, 400.0), source="bench")
    result = Result("bench", None, ModelInfo("bench", "0", 1.0), 1.0, 1.0, True,
                    np.zeros(n), amap, labels, [])  # fmt: skip
    return volume, result


def bench_slice_change(app, changes: int) -> list[float]:
    from ctviewer.ui.slice_view import SliceView
    from ctviewer.viewer.corner_text import corner_text

    volume, result = synthetic_case()
    view = SliceView("axial")
    view.set_colormap("hot")
    view.resize(900, 900)
    view.show()
    app.processEvents()
    view.corner_source = lambda v: corner_text(
        v.volume, v.result, v.axis, v.index, (40.0, 400.0), v.zoom()
    )
    view.set_volume(volume, (40.0, 400.0))
    view.set_result(result)
    viewport = view.graphics.viewport()
    times = []
    for i in range(changes):
        start = time.perf_counter()
        view.set_index((i * 7) % volume.n_slices)
        viewport.repaint()
        times.append((time.perf_counter() - start) * 1000)
    view.close()
    return times


def bench_window_slice_change(app, changes: int) -> list[float]:
    """Through the model and every bound widget, MPR on, two measurements on the series."""
    from ctviewer.measurement import Measurement
    from ctviewer.ui.main_window import MainWindow

    volume, result = synthetic_case()
    window = MainWindow()
    window.auto_run_action.setChecked(False)
    window.set_mpr(True)
    window.resize(1400, 900)
    window.show()
    window._on_volume(volume)
    window._on_result(result)
    for k in (40, 41):
        window.model.add_measurement(Measurement("ellipse", k, ((200, 200), (260, 280))))
    app.processEvents()
    viewport = window.views["axial"].graphics.viewport()
    times = []
    for i in range(changes):
        start = time.perf_counter()
        window.model.step("axial", 7 if i % 2 else -5, wrap=True)
        viewport.repaint()
        times.append((time.perf_counter() - start) * 1000)
    window.close()
    return times


def bench_open(app, path: Path, repeats: int) -> list[tuple[float, float]]:
    """(seconds to the preview image, seconds to the whole volume) per run."""
    from ctviewer.ui.main_window import MainWindow

    times = []
    for _ in range(repeats):
        window = MainWindow()
        window.auto_run_action.setChecked(False)
        window.show()
        stamps: dict[str, float] = {}
        window.previewShown.connect(lambda s=stamps: s.setdefault("preview", time.perf_counter()))
        window.volumeShown.connect(lambda s=stamps: s.setdefault("volume", time.perf_counter()))
        start = time.perf_counter()
        window.open_path(str(path))
        while "volume" not in stamps:
            app.processEvents()
            time.sleep(0.001)
        first = min(stamps.values()) - start
        times.append((first, stamps["volume"] - start))
        print(f"  open: first image {first:.2f} s, whole volume {times[-1][1]:.2f} s, "
              f"{window.volume.n_slices} slices", file=sys.stderr)  # fmt: skip
        window.close()
        app.processEvents()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--cq500", type=Path, default=CQ500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("CTVIEWER_HOME", tempfile.mkdtemp(prefix="ctviewer-bench-"))
    from ctviewer.ui.app import create_app

    app = create_app()
    for what, bench in (
        ("one view", bench_slice_change),
        ("whole window, MPR", bench_window_slice_change),
    ):
        times = bench(app, args.changes)
        print(
            f"slice change with overlay and corner text, 512² axial, {what}: median "
            f"{statistics.median(times):.2f} ms, p95 {np.percentile(times, 95):.2f} ms over "
            f"{len(times)} changes (target ≤ 16 ms)"
        )
    if args.cq500.is_dir():
        opens = bench_open(app, args.cq500, args.repeats)
        first = [t[0] for t in opens]
        whole = [t[1] for t in opens]
        print(
            f"CQ500 open → first image shown: median {statistics.median(first):.2f} s; "
            f"→ whole 238-slice volume shown: median {statistics.median(whole):.2f} s "
            f"(min {min(whole):.2f}, max {max(whole):.2f}, {len(opens)} runs)"
        )
    else:
        print(f"CQ500 folder {args.cq500} absent; open time not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
