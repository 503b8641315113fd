"""speed9 measurement script (session 9)."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)
import math
import threading
import time

import numpy as np

from ctviewer.anomaly import shape

d = np.load("/tmp/speed9/stage1.npz")
img, mask, sp = np.ascontiguousarray(d["images"][:, 0]), d["mask"], tuple(d["spacing"])


def run(fn):
    th = threading.Thread(target=fn)
    t0 = time.perf_counter()
    th.start()
    n = 0
    while th.is_alive():
        n += 1
    return n / (time.perf_counter() - t0)


big = np.random.rand(3_000_000).tolist()
for rep in range(2):
    print("sleep  %.0f" % run(lambda: time.sleep(1.0)))
    print(
        "blob   %.0f"
        % run(
            lambda: shape._blob_3d(
                img, shape.blob_sigmas(14.0, sp, True), sp, 14 / math.sqrt(3), mask
            )
        )
    )
    print("sorted %.0f" % run(lambda: sorted(big)))
