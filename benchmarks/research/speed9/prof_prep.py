"""Time prepare() pieces on the bench phantom (300x512^2), CPU time, 1 thread."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)

import os
import sys
import time

import torch

torch.set_num_threads(1)
from ctviewer.cli.engine import model_path
from ctviewer.model import preprocess as P
from ctviewer.model.checkpoint import load_model
from ctviewer.synth.phantom import make_phantom

model = load_model(model_path(None), device="cpu")
pre = model.preprocessing
vol = make_phantom(shape=(300, 512, 512), spacing=(1.0, 0.7, 0.7), seed=1).volume
box = P.body_box(vol, pre)
acc = {}


def wrap(name):
    f = getattr(P, name, None)
    if f is None:
        return

    def g(*a, **k):
        c = time.process_time()
        r = f(*a, **k)
        acc[name] = acc.get(name, 0.0) + time.process_time() - c
        return r

    setattr(P, name, g)
    return f


if "--pieces" in sys.argv:
    for n in (
        "body_mask_2d",
        "lung_mask",
        "body_masks",
        "lung_masks",
        "_with_pockets",
        "_resize",
        "_intensities",
    ):
        wrap(n)
reps = 3
for r in range(reps):
    acc.clear()
    c0, t0 = time.process_time(), time.perf_counter()
    for s in range(0, 300, 64):
        P.prepare(vol, pre, s, min(300, s + 64), box)
    c1, t1 = time.process_time(), time.perf_counter()
    print(
        f"rep {r}: prepare all CPU {c1 - c0:.2f} s wall {t1 - t0:.2f} s load {os.getloadavg()[0]:.2f}",
        {k: round(v, 2) for k, v in acc.items()},
        flush=True,
    )
