"""The thin-slice merge against the exact blob measure on the `ctviewer bench` series (300 x
512², 1 mm slices): blob-stage CPU seconds and the merged map's relative error where the exact
map is high, for several MERGE_MIN_SIGMA_PX.

    PYTHONPATH=. python benchmarks/research/speed11/blob_accuracy.py
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ctviewer.anomaly.shape as shape
from ctviewer.io import load_volume
from ctviewer.model.checkpoint import load_model
from ctviewer.model.preprocess import prepare_volume
from ctviewer.pipeline import planar_maps
from ctviewer.synth.phantom import make_phantom, write_dicom_series

torch.set_num_threads(1)
model = load_model(None, device="cpu")
with tempfile.TemporaryDirectory() as tmp:
    phantom = make_phantom(shape=(300, 512, 512), spacing=(1.0, 0.7, 0.7), seed=1)
    write_dicom_series(phantom, Path(tmp))
    prepared = prepare_volume(load_volume(Path(tmp)), model.preprocessing)
part = planar_maps(prepared, model)
spacing, scales = prepared.spacing_mm, model.scoring.blob_mm
channels = list(part.images.swapaxes(0, 1))


def run(merge: bool, min_px: float = 2.5) -> tuple[np.ndarray, float]:
    shape.MERGE_THIN, shape.MERGE_MIN_SIGMA_PX = merge, min_px
    start = time.process_time()
    blobs = shape.largest_blob_filter(channels, spacing, scales, part.mask, 1)
    return np.sqrt(part.planar * blobs), time.process_time() - start


exact, exact_s = run(False)
high = part.mask & (exact > 0.08)
for min_px in (1.5, 2.0, 2.5, 3.0):
    merged, merged_s = run(True, min_px)
    rel = (merged[high] - exact[high]) / exact[high]
    ks = [shape.merged_slices(r, spacing) for r in scales]
    print(
        f"min_px {min_px} k {ks} cpu {exact_s:.2f} -> {merged_s:.2f} "
        f"max {exact.max():.4f} {merged.max():.4f} rel |err| median {np.median(np.abs(rel)):.3f} "
        f"p95 {np.percentile(np.abs(rel), 95):.3f} mean {rel.mean():.3f}"
    )
