"""What the scripts that train bundled models share: train with a progress line, record what the
model was trained on, write it and say where."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ctviewer.model.checkpoint import save_model
from ctviewer.model.train import TrainConfig, train_model
from ctviewer.volume import Volume


def train_and_save(volumes: Sequence[Volume], config: TrainConfig, out: Path, data: str) -> None:
    """Train on `volumes`, store `data` (what they are, in words) as `training.data`, save."""
    start = time.time()

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction * 100:5.1f}% {time.time() - start:6.0f}s] {message}", flush=True)

    model = train_model(volumes, config, progress=progress)
    model.metadata["training"]["data"] = data
    save_model(model, out)
    size_mb = out.stat().st_size / 1e6
    print(f"wrote {out} ({size_mb:.1f} MB), threshold {model.threshold:.5f}")
