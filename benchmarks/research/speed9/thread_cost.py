"""Cost of _prepared's thread for a one-batch series: detect's stage-1 generator with and without PREPARE_AHEAD, interleaved."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)

import time

import numpy as np
import torch

torch.set_num_threads(1)
import ctviewer.pipeline as pl
from ctviewer.model.checkpoint import load_model
from ctviewer.model.preprocess import body_box
from ctviewer.synth.phantom import make_phantom

model = load_model(None, device="cpu")
pre = model.preprocessing
vol = make_phantom(shape=(32, 128, 128), seed=1000).volume
box = body_box(vol, pre)
res = {True: [], False: []}
for rep in range(30):
    for ahead in (True, False):
        pl.PREPARE_AHEAD = ahead
        t = time.perf_counter()
        out = list(pl._prepared(vol, pre, box))
        res[ahead].append(time.perf_counter() - t)
for k, v in res.items():
    print(
        "PREPARE_AHEAD",
        k,
        "median wall ms",
        round(1000 * float(np.median(v)), 1),
        "quartiles",
        [round(1000 * float(q), 1) for q in np.percentile(v, [10, 25, 50, 75])],
    )
