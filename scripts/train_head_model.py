"""Train the bundled head-CT model on synthetic head phantoms only (no real patient data).

    .venv/bin/python scripts/train_head_model.py [--out resources/models/head_ct.pt]

The head-CT recipe (`ctviewer.model.train.head_ct_recipe`: brain window, skull strip, brain
normalisation, bright synthetic lesions to restore, bright residual only) on normal phantoms from
`ctviewer.synth.head` in HU; the model reads head CT in HU (through its brain window) and 8-bit
brain-window images alike. The threshold is calibrated on phantoms, so on real scans expect it to
flag more than its nominal 5 %: users should calibrate or train on their own normal head CTs.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from bundled_model import train_and_save

from ctviewer import paths
from ctviewer.model.train import head_ct_recipe
from ctviewer.synth.head import make_head_phantom


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=paths.default_model_path().with_name("head_ct.pt")
    )
    parser.add_argument("--phantoms", type=int, default=30)
    parser.add_argument("--slices", type=int, default=28)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.time()
    volumes = [make_head_phantom(seed=2000 + s, n_slices=args.slices) for s in range(args.phantoms)]
    print(f"{len(volumes)} phantoms in {time.time() - start:.0f}s", flush=True)
    config = replace(
        head_ct_recipe(),
        epochs=args.epochs,
        max_slices_per_volume=args.slices,
        body_parts=("head",),
        name="ctviewer-head-phantom",
        device="cpu",
    )

    train_and_save(
        volumes,
        config,
        args.out,
        f"{args.phantoms} synthetic normal head CT phantoms (ctviewer.synth.head, seeds 2000-"
        f"{2000 + args.phantoms - 1}, {args.slices} slices of 256², HU) without lesions; "
        "no real patient data",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
