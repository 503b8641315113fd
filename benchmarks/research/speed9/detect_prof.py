"""speed9 measurement script (session 9)."""

# ruff: noqa: E402, E501, B007, B905, SIM115, UP031, E701, E702  (a measurement script)
import cProfile
import pstats
import time

import torch

torch.set_num_threads(1)
import ctviewer.pipeline as pl
from ctviewer.model.checkpoint import load_model
from ctviewer.synth.phantom import make_phantom

pl.PREPARE_AHEAD = False
model = load_model(None, device="cpu")
vol = make_phantom(shape=(300, 512, 512), spacing=(1.0, 0.7, 0.7), seed=1).volume
pl.detect(vol, model)
pr = cProfile.Profile()
c = time.process_time()
pr.enable()
r = pl.detect(vol, model)
pr.disable()
print("detect CPU", round(time.process_time() - c, 2), "score", r.score)
st = pstats.Stats(pr)
st.sort_stats("cumtime").print_stats(
    r"(pipeline|preprocess|shape|maps|segment|autoencoder|anatomy|planes)\.py", 28
)
