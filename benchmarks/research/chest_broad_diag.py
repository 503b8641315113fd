"""Candidate terms for broad, faint lesions (ground glass) on the chest model: peak inside each
bench lesion against the largest value on normal bench volumes (no thresholds, no findings).

    PYTHONPATH=. python benchmarks/research/chest_broad_diag.py [--model M] [--normals 4]

Terms (model resolution, inside the scoring mask): `final` (the model's map), `planar` (residual
map), `img` (the model's image blob measure, 6-14 mm), `map9_14` (blob measure of the planar
map at 9 and 14 mm), `open9_14` (blob measure of the lung-window image grey-opened by a 3x3x3
box, i.e. vessels thinner than ~2 pixels removed, at 9 and 14 mm), and products with `planar`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_detect  # noqa: E402
from research.chest_lesion_diag import grid, stages  # noqa: E402

from ctviewer.anomaly.shape import blob_filter, largest_blob_filter  # noqa: E402
from ctviewer.model.checkpoint import load_model  # noqa: E402
from ctviewer.synth.phantom import make_phantom  # noqa: E402


def terms(volume, model, open_size: int) -> tuple[dict[str, np.ndarray], object]:
    s = stages(volume, model)
    prep, mask, planar = s["prepared"], s["mask"], s["planar"]
    sp = prep.spacing_mm
    channels = list(prep.images.swapaxes(0, 1))
    img = largest_blob_filter(channels, sp, model.scoring.blob_mm, mask)
    lung = prep.images[:, 1]
    opened = ndimage.grey_opening(lung, size=(open_size, 3, 3))
    out = {
        "final": s["final"],
        "planar": planar,
        "img": img,
        "map9_14": blob_filter(planar, sp, (9.0, 14.0), mask),
        "open9_14": blob_filter(opened, sp, (9.0, 14.0), mask),
        "open6_14": blob_filter(opened, sp, (6.0, 9.0, 14.0), mask),
    }
    out["planar_x_open9_14"] = np.sqrt(planar * out["open9_14"])
    out["planar_x_map9_14"] = np.sqrt(planar * out["map9_14"])
    return out, prep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--volumes", type=int, default=10)
    parser.add_argument("--normals", type=int, default=4)
    parser.add_argument("--open-z", type=int, default=3, help="opening's size in z (slices)")
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model, device="cpu")
    shape = tuple(args.shape)
    normal_max: dict[str, float] = {}
    for i in range(args.normals):
        t, _ = terms(make_phantom(shape=shape, seed=6000 + i).volume, model, args.open_z)
        for k, v in t.items():
            normal_max[k] = max(normal_max.get(k, 0.0), float(v.max()))
    print(json.dumps({"normals_max": {k: round(v, 4) for k, v in normal_max.items()}}))
    for i in range(args.volumes):
        rng = np.random.default_rng(5000 + i)
        lesions = bench_detect._lesions(rng, 2 * i, 1 + i % 3, 2.5)
        phantom = make_phantom(shape=shape, seed=5000 + i, lesions=lesions)
        t, prep = terms(phantom.volume, model, args.open_z)
        full = {k: grid(v, prep, phantom.volume.shape) for k, v in t.items()}
        outside = ~phantom.mask
        for k, lesion in enumerate(phantom.lesions, start=1):
            if lesion.kind == "liver":
                continue
            where = phantom.lesion_labels == k
            row = {"vol": 5000 + i, "kind": lesion.kind, "r_mm": lesion.radius_mm}
            row["peak/normal_max"] = {
                n: round(float(v[where].max()) / normal_max[n], 2) for n, v in full.items()
            }
            row["elsewhere/normal_max"] = {
                n: round(float(v[outside].max()) / normal_max[n], 2) for n, v in full.items()
            }
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
