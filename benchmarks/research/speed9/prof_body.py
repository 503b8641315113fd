"""Times the stack mask pieces on the bench phantom and writes /tmp/speed9/small.npy (read by prof_pockets.py)."""

# ruff: noqa: E402, E501, B007, E701, E702  (a measurement script)
import time

import numpy as np
from scipy import ndimage

from ctviewer.model import preprocess as P
from ctviewer.model.checkpoint import load_model
from ctviewer.synth.phantom import make_phantom

pre = load_model(None, device="cpu").preprocessing
vol = make_phantom(shape=(300, 512, 512), spacing=(1.0, 0.7, 0.7), seed=1).volume
box = P.body_box(vol, pre)
small = np.concatenate(
    [P._resize(P._crop(vol.array[s : s + 16], box, -1024.0), 128) for s in range(0, 300, 16)]
)
fg = P._foreground(small, pre)
np.save("/tmp/speed9/small.npy", small)


def t(name, f, *a, **k):
    c = time.process_time()
    for _ in range(3):
        r = f(*a, **k)
    print(f"{name}: {(time.process_time() - c) / 3 * 1000:.1f} ms")
    return r


t("body_masks", P.body_masks, fg)
t("label PLANAR", ndimage.label, fg, structure=P.PLANAR)
t("label ~ PLANAR", ndimage.label, ~fg, structure=P.PLANAR)
t("largest_stack", P.largest_stack, fg)
t("fill_holes_stack", P.fill_holes_stack, fg)
t("opening it2 FLAT", ndimage.binary_opening, fg, structure=P.FLAT, iterations=2)
t("erosion it1 FLAT", ndimage.binary_erosion, fg, structure=P.FLAT)
t("erosion it2 FLAT", ndimage.binary_erosion, fg, structure=P.FLAT, iterations=2)
t("dilation it2 FLAT", ndimage.binary_dilation, fg, structure=P.FLAT, iterations=2)
t("find_objects", ndimage.find_objects, ndimage.label(fg, structure=P.PLANAR)[0])
body = P.body_masks(fg)
t("lung_masks", P.lung_masks, small, body)
