"""speed9 measurement script (session 9)."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031, E701, E702  (a measurement script)
import time

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from skimage.measure.pnpoly import grid_points_in_poly
from skimage.morphology._convex_hull import possible_hull
from skimage.util import unique_rows

from ctviewer.model import planes
from ctviewer.model import preprocess as P
from ctviewer.model.checkpoint import load_model

pre = load_model(None, device="cpu").preprocessing
small = np.load("/tmp/speed9/small.npy")
body = P.body_masks(P._foreground(small, pre))
calls = []
orig = P._with_pockets


def rec(one, hu, close, scale):
    calls.append((one.copy(), hu.copy(), close, scale))
    return orig(one, hu, close, scale)


P._with_pockets = rec
P.lung_masks(small, body)
P._with_pockets = orig
print(len(calls), "components; mean box", np.mean([c[0].shape for c in calls], axis=0))
T = {}


def tick(name, t0):
    t = time.perf_counter()
    T[name] = T.get(name, 0) + t - t0
    return t


for rep in range(3):
    for one, hu, close, scale in calls:
        t = time.perf_counter()
        pad = close + 1
        padded = np.pad(one, pad)
        t = tick("pad", t)
        closed = planes.closing(padded, close)[pad:-pad, pad:-pad]
        t = tick("closing", t)
        lung = P.fill_holes(closed | one)
        t = tick("fill_holes", t)
        coords = possible_hull(np.ascontiguousarray(lung, dtype=np.uint8))
        t = tick("hull:possible", t)
        coords = (
            coords[:, None, :] + np.array([[-0.5, 0], [0.5, 0], [0, -0.5], [0, 0.5]])
        ).reshape(-1, 2)
        coords = unique_rows(coords)
        t = tick("hull:offsets+unique", t)
        h = ConvexHull(coords)
        v = h.points[h.vertices]
        t = tick("hull:qhull", t)
        hull = grid_points_in_poly(lung.shape, v, binarize=False) >= 1
        t = tick("hull:fill", t)
        pockets, n = ndimage.label(hull & ~lung)
        t = tick("label", t)
        if n == 0:
            continue
        depth = ndimage.distance_transform_edt(pockets > 0)
        t = tick("edt", t)
        sizes = np.bincount(pockets.ravel(), minlength=n + 1)
        deepest = np.zeros(n + 1)
        np.maximum.at(deepest, pockets.ravel(), depth.ravel())
        fat = np.bincount(
            pockets.ravel(), weights=((hu > P.FAT_HU[0]) & (hu < P.FAT_HU[1])).ravel()
        )
        t = tick("stats", t)
print(
    {k: round(v / 3 * 1000, 1) for k, v in T.items()},
    "ms per pass",
    round(sum(T.values()) / 3 * 1000, 1),
)
t = time.perf_counter()
for one, hu, close, scale in calls:
    orig(one, hu, close, scale)
print("whole _with_pockets", round((time.perf_counter() - t) * 1000, 1), "ms")
