"""Detection speed: a synthetic series written as DICOM, read back, analysed end to end, and the
same model run as a plain per-slice PyTorch forward for comparison."""

from __future__ import annotations

import gc
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ctviewer.model.checkpoint import load_model
from ctviewer.model.preprocess import prepare_volume


def peak_rss_mb() -> float:
    """Peak RSS of this process's own memory in MB (Linux `VmHWM`, which `reset_peak_rss`
    can reset; `ru_maxrss` elsewhere, which on Linux also carries a parent's peak over)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Start the peak RSS afresh from the current RSS (Linux >= 4.0); whether it could."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def plain_forward_seconds(net: torch.nn.Module, images: np.ndarray) -> float:
    """Seconds for the textbook loop: one slice at a time, autograd left on."""
    start = time.perf_counter()
    for i in range(images.shape[0]):
        net(torch.from_numpy(images[i : i + 1]))
    return time.perf_counter() - start


def run_bench(
    slices: int = 300, size: int = 512, model_path: Path | None = None, threads: int | None = None
) -> dict:
    """Timing figures (seconds, slices/s) for one phantom of `slices` x `size` x `size`."""
    from ctviewer.io import load_volume
    from ctviewer.pipeline import detect, model_maps
    from ctviewer.synth.phantom import make_phantom, write_dicom_series

    if threads:
        torch.set_num_threads(threads)
    model = load_model(model_path, device="cpu")
    phantom = make_phantom(shape=(slices, size, size), spacing=(1.0, 0.7, 0.7), seed=1)
    with tempfile.TemporaryDirectory(prefix="ctviewer-bench-") as tmp:
        write_dicom_series(phantom, Path(tmp))
        del phantom
        gc.collect()
        base = peak_rss_mb() if reset_peak_rss() else float("nan")
        c0, t0 = time.process_time(), time.perf_counter()
        volume = load_volume(Path(tmp))
        t1 = time.perf_counter()
        result = detect(volume, model)
        c2, t2 = time.process_time(), time.perf_counter()
        peak = peak_rss_mb()
    prepared = prepare_volume(volume, model.preprocessing)
    t3 = time.perf_counter()
    model_maps(prepared, model)
    t4 = time.perf_counter()
    model.reconstruct(prepared.images)
    t5 = time.perf_counter()
    plain = plain_forward_seconds(model.net, prepared.images)
    return {
        "slices": slices,
        "matrix": f"{size}x{size}",
        "torch_threads": torch.get_num_threads(),
        "read_dicom_s": round(t1 - t0, 2),
        "detect_s": round(t2 - t1, 2),
        "end_to_end_s": round(t2 - t0, 2),
        "end_to_end_cpu_s": round(c2 - c0, 2),  # CPU time of all threads: wall time on a busy
        "load_average_1min": round(os.getloadavg()[0], 1),  # machine is inflated by the others
        "findings": len(result.findings),
        "rss_before_read_mb": round(base, 1),  # runtime and model (phantom freed)
        "peak_rss_mb": round(peak, 1),  # read + detect (nan: could not reset the peak)
        "preprocess_s": round(t3 - t2, 2),
        "maps_and_scores_s": round(t4 - t3, 2),
        "inference_slices_per_s": round(slices / (t5 - t4), 1),
        "plain_forward_slices_per_s": round(slices / plain, 1),
    }
