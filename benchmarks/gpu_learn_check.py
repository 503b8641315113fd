"""Incremental learning on CUDA: a base model trained on CUDA, a simulated review of synthetic
disc images (accept findings on those with a lesion, mark the others normal), `learn` on CUDA
(outlier exposure + pasted lesions), and the new version loaded on the CPU. Prints one JSON line;
exits 1 if no confirmed anomaly was learned from or CPU and CUDA scores differ by 0.01 or more.

    python benchmarks/gpu_learn_check.py

On the lent device machine it ran from a snapshot of the package (`git archive HEAD ctviewer
resources`), with pydicom and platformdirs carried as wheels and an empty `SimpleITK.py` beside it
(PNG inputs never reach SimpleITK); its output is `benchmarks/results/gpu_learn_check_h200.json`.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

tmp = Path(tempfile.mkdtemp())
os.environ["CTVIEWER_HOME"] = str(tmp / "home")  # before ctviewer reads it

import torch  # noqa: E402

from ctviewer.feedback.learn import LearnConfig, learn_from_feedback  # noqa: E402
from ctviewer.feedback.store import FeedbackStore  # noqa: E402
from ctviewer.model.checkpoint import load_model, save_model  # noqa: E402
from ctviewer.model.preprocess import Preprocessing  # noqa: E402
from ctviewer.model.train import TrainConfig, train_model  # noqa: E402
from ctviewer.pipeline import detect, load_inputs  # noqa: E402
from ctviewer.synth.discs import disc_slice, write_png  # noqa: E402

S = 64


def write(path: Path, seed: int, lesion: bool) -> Path:
    return write_png(
        path, disc_slice(seed, S, lesion, lesion_radius=30**0.5 / S, lesion_value=0.75)
    )


out = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
if not out["cuda"]:
    print(json.dumps({**out, "skipped": "CUDA is not available here"}))
    sys.exit(0)
out["gpu"] = torch.cuda.get_device_name(0)
train = [write(tmp / "train" / f"n{i}.png", i, False) for i in range(24)]
normals = [write(tmp / "dev" / f"n{i}.png", 100 + i, False) for i in range(8)]
abnormal = [write(tmp / "dev" / f"a{i}.png", 200 + i, True) for i in range(16)]
cfg = TrainConfig(
    epochs=30,
    preprocessing=Preprocessing(kind="image", size=S),
    base_channels=8,
    depth=3,
    latent_channels=8,
    noise_std=0.0,
    device="cuda",
)
t = time.perf_counter()
save_model(train_model(train, cfg), tmp / "base.pt")
out["base_train_s"] = round(time.perf_counter() - t, 2)
base = load_model(tmp / "base.pt", device="cuda")
store = FeedbackStore()
n_find = 0
for p in normals + abnormal:
    r = detect(next(load_inputs([p])), base)
    if p in normals:
        store.record(r, None, "normal", "sim")
    for f in r.findings if p in abnormal else []:
        store.record(r, f, "accept", "sim")
        n_find += 1
    if p in abnormal and not r.findings:
        store.record(r, None, "accept", "sim")
out["accepted_findings"] = n_find
t = time.perf_counter()
oc = learn_from_feedback(
    store,
    tmp / "base.pt",
    tmp / "learned.pt",
    config=LearnConfig(device="cuda", epochs=10),
    replay=[tmp / "train"],
)
out["learn_s"] = round(time.perf_counter() - t, 2)
out.update(
    promoted=oc.promoted,
    reason=oc.reason,
    counts=oc.counts,
    metrics=oc.metrics,
    threshold=[oc.parent_threshold, oc.threshold],
)
cpu = load_model(oc.path, device="cpu")
gpu = load_model(oc.path, device="cuda")
pos_slices = cpu.metadata["training"].get("positive_slices")
d = [
    abs(detect(next(load_inputs([p])), cpu).score - detect(next(load_inputs([p])), gpu).score)
    for p in abnormal[:4]
]
out.update(positive_slices=pos_slices, cpu_vs_cuda_score_diff=max(d))
ok = oc.counts["confirmed_anomalies"] > 0 and pos_slices and max(d) < 1e-2
out["ok"] = bool(ok)
print(json.dumps(out, default=str))
sys.exit(0 if ok else 1)
