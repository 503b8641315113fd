"""speed9 measurement script (session 9)."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)
import importlib.util
import sys
import time

import numpy as np


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


mods = {
    "orig": load("s_orig", "/tmp/speed9/shape_orig.py"),
    "rows": load("s_prev", "/tmp/speed9/shape_prev.py"),
}
from ctviewer.anomaly import shape as new

mods["rows+cols"] = new
d = np.load("/tmp/speed9/stage1.npz")
mask = d["mask"]
sp = tuple(d["spacing"])
imgs = d["images"]
T = {k: [] for k in mods}
for rep in range(4):
    for k, m in mods.items():
        c = time.process_time()
        for ch in range(2):
            img = imgs[:, ch]
            for r in (6.0, 9.0, 14.0):
                s = m.blob_sigmas(r, sp, True)
                reach = [int(3 * v + 0.5) + 1 for v in s[1:]]
                ys, xs = np.nonzero(mask.any(axis=0))
                box = np.s_[
                    :,
                    max(0, ys.min() - reach[0]) : ys.max() + 1 + reach[0],
                    max(0, xs.min() - reach[1]) : xs.max() + 1 + reach[1],
                ]
                h = m._hessian(img[box], s, sp, mask[box])
        T[k].append(time.process_time() - c)
ref = None
for k, v in T.items():
    print(
        k,
        "hessian CPU s (6 jobs) per rep:",
        [round(x, 2) for x in v],
        "median",
        round(float(np.median(v)), 3),
    )
