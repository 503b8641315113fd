"""Per-slice midline for the mirror score (standalone research script; not adopted).

Each slice's mirror line is its volume's line (`pipeline.volume_midline`) refined on that slice
alone (±3° in 1° steps, ±1.5 px in 0.5 px steps at 64², scaled), for a model whose scoring has
`midline` on; the model is recalibrated on the 30 training phantoms with it, then benched:

    OMP_NUM_THREADS=1 python benchmarks/research/head_midline_per_slice.py MODEL OUT \
        --data ../shared/data/dicom/cq500_head_jpegls_tilt --runs 7 --bleeds 3 --json X.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_head_hu  # noqa: E402

import ctviewer.model.train as train  # noqa: E402
import ctviewer.pipeline as pipeline  # noqa: E402
from ctviewer.anomaly import midline  # noqa: E402
from ctviewer.anomaly.maps import anomaly_map, mirror_residual, score_mask, slice_scores  # noqa: E402
from ctviewer.model.checkpoint import load_model, save_model  # noqa: E402
from ctviewer.synth.head import make_head_phantom  # noqa: E402

ANGLES, OFFSETS = np.radians(np.arange(-3, 3.1, 1.0)), np.arange(-1.5, 1.6, 0.5)
volume_maps = pipeline.model_maps


def per_slice_maps(prepared, model, line=None):
    """`model_maps` (positive residual, one channel) with each slice's own refined line."""
    if line is None:
        return volume_maps(prepared, model, line)
    scoring = model.scoring
    images = prepared.images[:, 0]
    body = images > 0
    diff = np.clip(images - model.reconstruct(prepared.images)[:, 0], 0, None)
    scale = images.shape[-1] / 64
    out = np.empty_like(diff)
    for i in range(len(images)):
        own = line
        if body[i].sum() > 200 * scale**2:
            found = midline._search(
                images[i : i + 1], body[i : i + 1], line, ANGLES, OFFSETS * scale
            )
            own = found if found.fit > 0 else line
        out[i] = mirror_residual(diff[i : i + 1], scoring.mirror, own, scoring.mirror_px)[0]
    mask = score_mask(prepared.body, scoring, prepared.from_hu)
    maps = anomaly_map(out, mask, scoring)
    return maps, slice_scores(maps, mask, scoring)


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    source, out, *rest = argv
    pipeline.model_maps = train.model_maps = per_slice_maps
    model = load_model(source, device="cpu")
    phantoms = [make_head_phantom(seed=2000 + s, n_slices=28) for s in range(30)]
    model.metadata.update(train.calibrate(model, phantoms, 0.95, 0.9, "empirical", 0.0))
    save_model(model, out)
    print(f"threshold {model.threshold:.5f} pixel {model.metadata['pixel_threshold']:.5f}")
    return bench_head_hu.main(["--model", out, *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
