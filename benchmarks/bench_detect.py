"""Detection benchmarks: speed, and lesion-level quality on phantoms the model never saw.

    .venv/bin/python benchmarks/bench_detect.py speed [--slices 300] [--size 512] [--threads 2]
    .venv/bin/python benchmarks/bench_detect.py phantoms [--model M] [--volumes 10]

`speed` is `ctviewer bench`. `phantoms` inserts 1-3 random lesions (nodule, ground glass, liver)
into each of N phantoms (seeds unused by the default model's training) and scores every lesion as
found when a finding overlaps it; findings that overlap no lesion are false positives. N further
phantoms without lesions give the false positives on normal anatomy.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ctviewer.cli.main import main as ctviewer_main
from ctviewer.model.checkpoint import load_model
from ctviewer.pipeline import detect
from ctviewer.synth.phantom import make_phantom, random_lesions


def lesion_quality(
    model_path: Path | None, volumes: int, shape: tuple[int, int, int], min_radius_mm: float = 0.0
) -> dict:
    model = load_model(model_path, device="cpu")
    by_kind: dict[str, list[bool]] = {}
    fp_lesion, fp_normal, flagged_sick, flagged_normal = 0, 0, 0, 0
    for i in range(volumes):
        lesions = [
            replace(lesion, radius_mm=max(lesion.radius_mm, min_radius_mm))
            for lesion in random_lesions(np.random.default_rng(5000 + i), int(1 + i % 3))
        ]
        phantom = make_phantom(shape=shape, seed=5000 + i, lesions=lesions)
        result = detect(phantom.volume, model)
        flagged_sick += result.abnormal
        for k, lesion in enumerate(phantom.lesions, start=1):
            hit = bool(result.labels[phantom.lesion_labels == k].any())
            by_kind.setdefault(lesion.kind, []).append(hit)
        fp_lesion += sum(not phantom.mask[result.labels == f.id].any() for f in result.findings)
        normal = detect(make_phantom(shape=shape, seed=6000 + i).volume, model)
        fp_normal += len(normal.findings)
        flagged_normal += normal.abnormal
    hits = [h for v in by_kind.values() for h in v]
    return {
        "model": model.info.version,
        "shape": list(shape),
        "lesions": len(hits),
        "min_radius_mm": min_radius_mm,
        "sensitivity": round(float(np.mean(hits)), 3),
        "sensitivity_by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())},
        "false_positives_per_volume_with_lesions": round(fp_lesion / volumes, 2),
        "false_positives_per_normal_volume": round(fp_normal / volumes, 2),
        "series_flagged_with_lesions": f"{flagged_sick}/{volumes}",
        "series_flagged_normal": f"{flagged_normal}/{volumes}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    speed = sub.add_parser("speed")
    speed.add_argument("rest", nargs=argparse.REMAINDER, help="options of `ctviewer bench`")
    quality = sub.add_parser("phantoms")
    quality.add_argument("--model", type=Path, default=None)
    quality.add_argument("--volumes", type=int, default=10)
    quality.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256))
    quality.add_argument("--threads", type=int, default=1)
    quality.add_argument("--min-radius", type=float, default=0.0, help="enlarge smaller lesions")
    args = parser.parse_args(argv)
    if args.what == "speed":
        return ctviewer_main(["bench", *args.rest])
    torch.set_num_threads(args.threads)
    figures = lesion_quality(args.model, args.volumes, tuple(args.shape), args.min_radius)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
