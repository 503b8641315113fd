"""speed9 measurement script (session 9)."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)
import importlib.util
import sys

import numpy as np

spec = importlib.util.spec_from_file_location(
    "basepre", "/tmp/speed9/base/ctviewer/model/preprocess.py"
)
B = importlib.util.module_from_spec(spec)
sys.modules["basepre"] = B
spec.loader.exec_module(B)
from scipy import ndimage

from ctviewer.model import planes as PL
from ctviewer.model import preprocess as N
from ctviewer.model.checkpoint import load_model
from ctviewer.synth.phantom import make_phantom

pre = load_model(None, device="cpu").preprocessing
rng = np.random.default_rng(0)
# random masks incl. ties
for p in (0.3, 0.5, 0.6, 0.7, 0.05):
    m = rng.random((12, 40, 56)) < p
    m[3] = False
    m[4] = True
    ref = np.stack([B.body_mask_2d(x) for x in m])
    new = N.body_masks(m)
    assert np.array_equal(ref, new), p
    ref = np.stack([B._largest(x) for x in m])
    assert np.array_equal(ref, PL.largest(m)), p
    ref = np.stack([B.fill_holes(x) for x in m])
    assert np.array_equal(ref, PL.fill_holes(m)), p
    for it in (1, 2, 3):
        assert np.array_equal(
            np.stack([ndimage.binary_erosion(x, iterations=it) for x in m]), PL.erode(m, it)
        )
        assert np.array_equal(
            np.stack([ndimage.binary_dilation(x, iterations=it) for x in m]), PL.dilate(m, it)
        )
        assert np.array_equal(
            np.stack([ndimage.binary_closing(x, iterations=it) for x in m]), PL.closing(m, it)
        )
    hu = rng.uniform(-1000, 100, m.shape).astype(np.float32)
    assert np.array_equal(np.stack([B.lung_mask(a, b) for a, b in zip(hu, m)]), N.lung_masks(hu, m))
print("random ok")
for seed in range(3):
    vol = make_phantom(shape=(40, 256, 256), seed=seed).volume
    pB = B.prepare_volume(vol, pre)
    pN = N.prepare_volume(vol, pre)
    assert pB.box == pN.box
    assert np.array_equal(pB.images, pN.images) and np.array_equal(pB.body, pN.body), seed
print("phantom ok")
