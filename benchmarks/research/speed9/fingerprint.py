"""Detect on bench_detect's 4+4 phantoms (64x256^2) and the lung1-like chest; dump exact fingerprints."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)

import hashlib
import json
import sys

import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, sys.argv[1] + "/benchmarks")
import bench_detect as B

import ctviewer.pipeline as _pl
from ctviewer.model.checkpoint import load_model
from ctviewer.model.preprocess import prepare_volume
from ctviewer.pipeline import detect
from ctviewer.synth.phantom import make_phantom

if len(sys.argv) > 3 and hasattr(_pl, "cpu_threads"):
    _pl.cpu_threads = lambda: int(sys.argv[3])


def h(a):
    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


model = load_model(None, device="cpu")
out = []
for i in range(4):
    rng = np.random.default_rng(5000 + i)
    lesions = B._lesions(rng, 2 * i, 1 + i % 3, 2.5)
    for vol in (
        make_phantom(shape=(64, 256, 256), seed=5000 + i, lesions=lesions).volume,
        make_phantom(shape=(64, 256, 256), seed=6000 + i).volume,
    ):
        r = detect(vol, model)
        p = prepare_volume(vol, model.preprocessing)
        out.append(
            {
                "score": repr(r.score),
                "slices": h(r.slice_scores),
                "map": h(np.asarray(r.anomaly_map)),
                "labels": h(r.labels),
                "findings": [repr(f) for f in r.findings],
                "prep_images": h(p.images),
                "prep_body": h(p.body),
                "box": [int(v) for v in p.box],
            }
        )
        print(out[-1], flush=True)
json.dump(out, open(sys.argv[2], "w"), indent=1)
