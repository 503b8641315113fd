"""Per-lesion diagnosis of the chest model on the phantom bench: why is a lesion missed?

    PYTHONPATH=. python benchmarks/research/chest_lesion_diag.py [--model M] [--volumes 10]
        [--normals 0] [--scales 3 4.5 6 9 14]

For each lesion of `bench_detect.py phantoms` (same seeds and lesions) one line: kind, radius,
found, the final map's peak inside the lesion against the pixel (peak) and seed thresholds, the
lesion's coverage by the lung mask (before and after the scoring erosion), the size and mass of
the above-seed region holding the lesion's peak against the minimum size and the mass threshold,
the planar (residual) map's peak inside it, and the image blob measure's peak inside it at each
of `--scales` (mm, one scale at a time) and at the model's own scales. With `--normals N`, the
same map figures (peak, where) for N normal bench volumes (seeds 6000+).
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

from ctviewer.anomaly.maps import planar_map, residual, score_mask, shape_map  # noqa: E402
from ctviewer.anomaly.shape import blob_filter  # noqa: E402
from ctviewer.model.checkpoint import load_model  # noqa: E402
from ctviewer.model.preprocess import prepare_volume, restore  # noqa: E402
from ctviewer.model.thresholds import thresholds_for  # noqa: E402
from ctviewer.pipeline import detect  # noqa: E402
from ctviewer.synth.phantom import make_phantom  # noqa: E402


def stages(volume, model) -> dict:
    """The model's intermediate maps at model resolution, and restored onto the volume grid."""
    prepared = prepare_volume(volume, model.preprocessing)
    recon = model.reconstruct(prepared.images)
    diff = residual(prepared.images, recon, model.scoring)
    mask = score_mask(prepared.body, model.scoring, prepared.from_hu)
    planar = planar_map(diff, mask, model.scoring)
    final = shape_map(planar, mask, model.scoring, prepared.spacing_mm, prepared.images)
    return {"prepared": prepared, "mask": mask, "planar": planar, "final": final}


def grid(maps: np.ndarray, prepared, shape) -> np.ndarray:
    return restore(maps.astype(np.float32), prepared.box, shape[1:])


def image_blobs(prepared, mask, scales) -> dict[float, np.ndarray]:
    out = {}
    for r in scales:
        channels = prepared.images.swapaxes(0, 1)
        b = blob_filter(channels[0], prepared.spacing_mm, (r,), mask)
        for c in channels[1:]:
            np.maximum(b, blob_filter(c, prepared.spacing_mm, (r,), mask), out=b)
        out[r] = b
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--volumes", type=int, default=10)
    parser.add_argument("--normals", type=int, default=0)
    parser.add_argument("--scales", type=float, nargs="*", default=(3.0, 4.5, 6.0, 9.0, 14.0))
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model, device="cpu")
    meta, shape = model.metadata, tuple(args.shape)
    calibration = thresholds_for(meta, make_phantom(shape=shape).volume.spacing[0])
    thr, mass_thr = calibration.pixel, calibration.mass
    seed = thr if calibration.seed is None else calibration.seed
    print(
        json.dumps(
            {
                "pixel_threshold": round(thr, 4),
                "seed": round(seed, 4),
                "mass_threshold": mass_thr and round(mass_thr, 1),
                "min_size_mm3": meta.get("min_size_mm3"),
                "scoring": model.scoring.to_dict(),
            }
        )
    )
    for i in range(args.volumes):
        rng = np.random.default_rng(5000 + i)
        lesions = bench_detect._lesions(rng, 2 * i, 1 + i % 3, 2.5)
        phantom = make_phantom(shape=shape, seed=5000 + i, lesions=lesions)
        volume = phantom.volume
        result = detect(volume, model)
        s = stages(volume, model)
        prep = s["prepared"]
        body_g = grid(prep.body, prep, volume.shape) > 0.5
        mask_g = grid(s["mask"], prep, volume.shape) > 0.5
        final_g = grid(s["final"], prep, volume.shape)
        planar_g = grid(s["planar"], prep, volume.shape)
        blobs = image_blobs(prep, s["mask"], args.scales)
        blobs_g = {r: grid(b, prep, volume.shape) for r, b in blobs.items()}
        voxel = float(np.prod(volume.spacing))
        regions, _ = ndimage.label(final_g > seed)
        outside = ~phantom.mask
        for k, lesion in enumerate(phantom.lesions, start=1):
            where = phantom.lesion_labels == k
            hit = bool(result.labels[where].any())
            peak = float(final_g[where].max())
            at = np.unravel_index(np.argmax(np.where(where, final_g, -1)), where.shape)
            region = regions[at]
            size = mass = 0.0
            if region:
                inside = regions == region
                size = float(inside.sum() * voxel)
                mass = float((final_g[inside] - seed).sum() * voxel)
            row = {
                "vol": 5000 + i,
                "kind": lesion.kind,
                "r_mm": lesion.radius_mm,
                "hu": round(lesion.value_hu),
                "found": hit,
                "peak": round(peak, 3),
                "peak/thr": round(peak / thr, 2),
                "lung_cov": round(float(body_g[where].mean()), 2),
                "score_cov": round(float(mask_g[where].mean()), 2),
                "region_mm3": round(size),
                "region_mass": round(mass, 1),
                "planar_peak": round(float(planar_g[where].max()), 3),
                "blob_peak": {r: round(float(b[where].max()), 3) for r, b in blobs_g.items()},
                "max_elsewhere": round(float(final_g[outside].max()), 3),
                "slices": int(where.any(axis=(1, 2)).sum()),
            }
            print(json.dumps(row))
        print(
            json.dumps(
                {
                    "vol": 5000 + i,
                    "findings": len(result.findings),
                    "fp": sum(
                        not phantom.mask[result.labels == f.id].any() for f in result.findings
                    ),
                    "planar_max_elsewhere": round(float(planar_g[outside].max()), 3),
                    "blob_max_elsewhere": {
                        r: round(float(b[outside & mask_g].max()), 3) for r, b in blobs_g.items()
                    },
                }
            )
        )
    for i in range(args.normals):
        volume = make_phantom(shape=shape, seed=6000 + i).volume
        s = stages(volume, model)
        prep = s["prepared"]
        blobs = image_blobs(prep, s["mask"], args.scales)
        print(
            json.dumps(
                {
                    "normal": 6000 + i,
                    "final_max": round(float(s["final"].max()), 3),
                    "planar_max": round(float(s["planar"].max()), 3),
                    "blob_max": {r: round(float(b.max()), 3) for r, b in blobs.items()},
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
