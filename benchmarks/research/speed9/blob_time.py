"""CPU and wall time of stage 2 (shape_map) on the bench series' stage-1 output; argv: threads."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031  (a measurement script: imports after thread settings)

import hashlib
import inspect
import os
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
from ctviewer.anomaly.maps import shape_map
from ctviewer.model.checkpoint import load_model

model = load_model(None, device="cpu")
cache = "/tmp/speed9/stage1.npz"
if not os.path.exists(cache):
    from ctviewer.model.preprocess import prepare_volume
    from ctviewer.pipeline import planar_maps
    from ctviewer.synth.phantom import make_phantom

    vol = make_phantom(shape=(300, 512, 512), spacing=(1.0, 0.7, 0.7), seed=1).volume
    p = prepare_volume(vol, model.preprocessing)
    part = planar_maps(p, model)
    np.savez(
        cache,
        planar=part.planar,
        mask=part.mask,
        images=part.images,
        spacing=np.array(p.spacing_mm),
    )
d = np.load(cache)
planar, mask, images, spacing = d["planar"], d["mask"], d["images"], tuple(d["spacing"])
threads = int(sys.argv[1])
kw = {"threads": threads} if "threads" in inspect.signature(shape_map).parameters else {}
for rep in range(2):
    c, t = time.process_time(), time.perf_counter()
    out = shape_map(planar, mask, model.scoring, spacing, images, **kw)
    print(
        f"{os.environ.get('TREE')} threads={threads} rep {rep}: wall {time.perf_counter() - t:.2f} s CPU {time.process_time() - c:.2f} s load {os.getloadavg()[0]:.2f} sha {hashlib.sha1(out.tobytes()).hexdigest()[:12]}",
        flush=True,
    )
