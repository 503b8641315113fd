"""Liver lesions on the chest model: how visible each bench liver lesion is, how much of it the
solid-organ region (`anomaly.solid`) covers, and the solid map's peak inside it against the
largest value on normal bench volumes (no thresholds, no findings).

    OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/research/liver_diag.py [--model M]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_detect  # noqa: E402
from research.chest_lesion_diag import grid, stages  # noqa: E402

from ctviewer.anomaly.solid import solid_map, solid_masks  # noqa: E402
from ctviewer.model.checkpoint import load_model  # noqa: E402
from ctviewer.synth.canvas import LIVER  # noqa: E402
from ctviewer.synth.phantom import make_phantom  # noqa: E402


def terms(volume, model, scales) -> tuple[dict[str, np.ndarray], object]:
    s = stages(volume, model)
    prep = s["prepared"]
    window = model.preprocessing.windows[0]
    solid = solid_masks(prep.images[:, 0], window, s["mask"], prep.spacing_mm[1])
    term = solid_map(prep.images[:, 0], solid, prep.spacing_mm, scales)
    return {"final": s["final"], "solid": term, "region": solid.astype(np.float32)}, prep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--volumes", type=int, default=10)
    parser.add_argument("--normals", type=int, default=4)
    parser.add_argument("--scales", type=float, nargs="+", default=(6.0, 9.0, 14.0))
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model, device="cpu")
    shape, scales = tuple(args.shape), tuple(args.scales)
    normal_max: dict[str, float] = {}
    for i in range(args.normals):
        p = make_phantom(shape=shape, seed=6000 + i)
        t, prep = terms(p.volume, model, scales)
        full = grid(t["solid"], prep, shape)
        at = np.unravel_index(np.argmax(full), full.shape)
        where = {
            "vol": 6000 + i,
            "solid_max": round(float(full.max()), 4),
            "at": list(map(int, at)),
            "label_there": int(p.labels[at]),
            "final_max": round(float(t["final"].max()), 4),
        }
        print(json.dumps(where))
        for k in ("final", "solid"):
            normal_max[k] = max(normal_max.get(k, 0.0), float(t[k].max()))
    print(json.dumps({"normals_max": {k: round(v, 4) for k, v in normal_max.items()}}))
    for i in range(args.volumes):
        rng = np.random.default_rng(5000 + i)
        lesions = bench_detect._lesions(rng, 2 * i, 1 + i % 3, 2.5)
        phantom = make_phantom(shape=shape, seed=5000 + i, lesions=lesions)
        if not any(les.kind == "liver" for les in phantom.lesions):
            continue
        clean = make_phantom(shape=shape, seed=5000 + i).volume.array.astype(np.float32)
        t, prep = terms(phantom.volume, model, scales)
        full = {k: grid(v, prep, shape) for k, v in t.items()}
        for k, lesion in enumerate(phantom.lesions, start=1):
            if lesion.kind != "liver":
                continue
            where = phantom.lesion_labels == k
            diff = np.abs(phantom.volume.array[where].astype(np.float32) - clean[where])
            liver_hu = float(np.median(clean[phantom.labels == LIVER]))
            row = {
                "vol": 5000 + i,
                "r_mm": lesion.radius_mm,
                "hu": lesion.hu,
                "liver_hu": liver_hu,
                "visible_share_20hu": round(float((diff > 20).mean()), 2),
                "region_coverage": round(float(full["region"][where].mean()), 2),
                "solid_peak": round(float(full["solid"][where].max()), 4),
                "solid_peak/normal_max": round(
                    float(full["solid"][where].max()) / normal_max["solid"], 2
                ),
                "solid_elsewhere/normal_max": round(
                    float(full["solid"][~phantom.mask].max()) / normal_max["solid"], 2
                ),
            }
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
