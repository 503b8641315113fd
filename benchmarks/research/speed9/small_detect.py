"""Per-call detect time of 32x128^2 chest phantoms (as screened by bench_screen), 1 thread."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)

import json
import os
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
import ctviewer.pipeline as pl
from ctviewer.model.checkpoint import load_model
from ctviewer.synth.phantom import Lesion, make_phantom

ahead = sys.argv[1] if len(sys.argv) > 1 else "default"
if ahead != "default" and hasattr(pl, "PREPARE_AHEAD"):
    pl.PREPARE_AHEAD = ahead == "on"
model = load_model(None, device="cpu")
vols = [
    make_phantom(
        shape=(32, 128, 128),
        seed=1000 + n,
        lesions=[Lesion("nodule", radius_mm=15.0, seed=n)] if n % 5 == 0 else [],
    ).volume
    for n in range(6)
]
pl.detect(vols[0], model)  # warm
cpu, wall, scores = [], [], []
for rep in range(3):
    for v in vols:
        c, t = time.process_time(), time.perf_counter()
        r = pl.detect(v, model)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
        scores.append(r.score)
print(
    json.dumps(
        {
            "tree": os.environ.get("TREE"),
            "ahead": ahead,
            "median_wall_s": round(float(np.median(wall)), 4),
            "median_cpu_s": round(float(np.median(cpu)), 4),
            "load": round(os.getloadavg()[0], 2),
            "score0": scores[0],
        }
    )
)
