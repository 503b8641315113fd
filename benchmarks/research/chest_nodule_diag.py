"""Candidate terms for small lung nodules (r 2.5-5 mm) on the chest model: peak inside each bench
nodule against the largest value on normal bench volumes (no thresholds, no findings).

    PYTHONPATH=.:benchmarks python benchmarks/research/chest_nodule_diag.py [--model M]
        [--normals 4] [--scales 3 4.5] [--native]

Terms (inside the scoring mask): `final` (the model's map), `planar` (residual map), `img_S`
(the image blob measure -l1 s^2 at radius S mm, largest over channels, model resolution),
`dot_S` (the same times the eigenvalue ratio l1/l3: 1 for a ball, 0 for a tube; Li et al.'s dot
filter), `pdot_S` (geometric mean of `dot_S` with `planar`); with `--native` the dot measure of
the lung-window image at the volume's own resolution (`ndot_S`, in the lung mask's box only).
Eigenvalues l1 >= l2 >= l3 of the Hessian (a bright ball: all negative).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_detect  # noqa: E402
from research.chest_lesion_diag import grid, stages  # noqa: E402

from ctviewer.anomaly.shape import _hessian, blob_sigmas  # noqa: E402
from ctviewer.model.checkpoint import load_model  # noqa: E402
from ctviewer.model.preprocess import window_hu  # noqa: E402
from ctviewer.synth.phantom import make_phantom  # noqa: E402


def eigen_extremes(a00, a11, a22, a01, a02, a12) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest eigenvalue of symmetric 3x3 matrices (closed form, Smith 1961)."""
    a00, a11, a22, a01, a02, a12 = (
        np.asarray(v, np.float64) for v in (a00, a11, a22, a01, a02, a12)
    )
    q = (a00 + a11 + a22) / 3.0
    p = np.sqrt(
        ((a00 - q) ** 2 + (a11 - q) ** 2 + (a22 - q) ** 2 + 2 * (a01**2 + a02**2 + a12**2)) / 6
    )
    safe = np.where(p > 0, p, 1.0)
    b00, b11, b22 = (a00 - q) / safe, (a11 - q) / safe, (a22 - q) / safe
    b01, b02, b12 = a01 / safe, a02 / safe, a12 / safe
    det = b00 * (b11 * b22 - b12**2) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
    phi = np.arccos(np.clip(det / 2.0, -1.0, 1.0)) / 3.0
    top = np.where(p > 0, q + 2 * p * np.cos(phi), q)
    low = np.where(p > 0, q + 2 * p * np.cos(phi + 2 * math.pi / 3), q)
    return top, low


def measures(
    image: np.ndarray, spacing, radius: float, where: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(-l1 s^2, -l1 s^2 * l1/l3) at ball radius `radius` mm, 0 outside `where` (3D)."""
    sigmas = blob_sigmas(radius, spacing, True)
    zs, ys, xs = np.nonzero(where)
    box = np.s_[zs.min() : zs.max() + 1, ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    # the box plus the kernels' reach
    reach = [int(3 * s + 0.5) + 1 for s in sigmas]
    lo = [max(0, b.start - r) for b, r in zip(box, reach, strict=True)]
    hi = [min(n, b.stop + r) for b, r, n in zip(box, reach, image.shape, strict=True)]
    wide = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    part, inside = np.asarray(image[wide], np.float32), where[wide]
    top, low = eigen_extremes(*_hessian(part, sigmas, spacing, inside))
    s2 = (radius / math.sqrt(3)) ** 2
    blob = np.clip(-top * s2, 0, None)
    ratio = np.where(low < 0, np.clip(top / np.where(low < 0, low, -1.0), 0, 1), 0.0)
    out_b, out_d = np.zeros(image.shape, np.float32), np.zeros(image.shape, np.float32)
    out_b[wide][inside] = blob
    out_d[wide][inside] = blob * ratio
    return out_b, out_d


def terms(volume, model, scales, native: bool) -> tuple[dict, dict, object]:
    """Model-resolution terms, native-resolution terms (on the volume grid), the prepared input."""
    s = stages(volume, model)
    prep, mask, planar = s["prepared"], s["mask"], s["planar"]
    sp = prep.spacing_mm
    out = {"final": s["final"], "planar": planar}
    for r in scales:
        b = [measures(c, sp, r, mask) for c in prep.images.swapaxes(0, 1)]
        out[f"img_{r:g}"] = np.maximum(*[x[0] for x in b])
        out[f"dot_{r:g}"] = np.maximum(*[x[1] for x in b])
        out[f"pdot_{r:g}"] = np.sqrt(planar * out[f"dot_{r:g}"])
    full = {}
    if native:
        lung = grid(mask, prep, volume.shape) > 0.5
        image = window_hu(np.asarray(volume.array, np.float32), (-600.0, 1500.0))
        for r in scales:
            full[f"nimg_{r:g}"], full[f"ndot_{r:g}"] = measures(
                image, tuple(volume.spacing), r, lung
            )
    return out, full, prep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--volumes", type=int, default=10)
    parser.add_argument("--normals", type=int, default=4)
    parser.add_argument("--scales", type=float, nargs="*", default=(3.0, 4.5))
    parser.add_argument("--native", action="store_true")
    parser.add_argument(
        "--kinds", nargs="*", default=("nodule", "juxtapleural", "ggo", "consolidation")
    )
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model, device="cpu")
    shape = tuple(args.shape)
    normal_max: dict[str, float] = {}
    start = time.process_time()
    for i in range(args.normals):
        volume = make_phantom(shape=shape, seed=6000 + i).volume
        t, n, _ = terms(volume, model, args.scales, args.native)
        for k, v in {**t, **n}.items():
            normal_max[k] = max(normal_max.get(k, 0.0), float(v.max()))
    print(
        json.dumps({"shape": shape, "normals_max": {k: round(v, 4) for k, v in normal_max.items()}})
    )
    for i in range(args.volumes):
        rng = np.random.default_rng(5000 + i)
        lesions = bench_detect._lesions(rng, 2 * i, 1 + i % 3, 2.5)
        if not any(lesion.kind in args.kinds for lesion in lesions):
            continue
        phantom = make_phantom(shape=shape, seed=5000 + i, lesions=lesions)
        t, n, prep = terms(phantom.volume, model, args.scales, args.native)
        full = {k: grid(v, prep, phantom.volume.shape) for k, v in t.items()}
        full.update(n)
        outside = ~phantom.mask
        for k, lesion in enumerate(phantom.lesions, start=1):
            if lesion.kind not in args.kinds:
                continue
            where = phantom.lesion_labels == k
            row = {"vol": 5000 + i, "kind": lesion.kind, "r_mm": lesion.radius_mm}
            row["peak/normal_max"] = {
                name: round(float(v[where].max()) / max(normal_max[name], 1e-9), 2)
                for name, v in full.items()
            }
            row["elsewhere/normal_max"] = {
                name: round(float(v[outside].max()) / max(normal_max[name], 1e-9), 2)
                for name, v in full.items()
            }
            print(json.dumps(row), flush=True)
    print(json.dumps({"cpu_s": round(time.process_time() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
