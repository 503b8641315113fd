"""Synthetic bleeds in the real CQ500 head CT (HU): sensitivity and false positives per volume.

CQ500-CT-0 (238 slices, `../shared/data/dicom/cq500_head_jpegls_tilt`) is read with
`ctviewer.pipeline.load_inputs`; each run inserts `--bleeds` synthetic bleeds into a copy of its HU
(`ctviewer.synth.head.add_bleed`: 5-30 mm, +40-90 HU over brain, intraparenchymal or extra-axial
crescents along the inner skull, in different slices) and runs `detect`. A bleed is found when a
finding overlaps its voxels; findings overlapping no bleed are false positives. Also reported: the
series score of CQ500-CT-0 as it is (ambiguous: 1 of 3 readers saw a subarachnoid bleed, so it is
not used to tune anything) and whether the stray CQ500-CT-1 slice (a bleed for all three readers)
is flagged.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_head_hu.py --runs 7 --bleeds 3 \
        --model resources/models/head_ct.pt [--model other.pt] --json benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CQ500 = ROOT.parent / "shared" / "data" / "dicom" / "cq500_head_jpegls_tilt"


def found(result, mask: np.ndarray) -> bool:
    return bool((result.labels[mask] > 0).any())


def bench_model(path: Path, base, stray, runs: int, bleeds: int, seed: int) -> dict:
    from ctviewer.model.checkpoint import load_model
    from ctviewer.pipeline import detect
    from ctviewer.synth.head import BLEED_KINDS, add_bleed, brain_mask_hu

    model = load_model(path, device="cpu")
    plain = detect(base, model)
    ct1 = detect(stray, model)
    brain = brain_mask_hu(base.array)
    rng = np.random.default_rng(seed)
    hits, false_pos, rows, fp_rows = [], [], [], []
    for run in range(runs):
        hu, masks = base.array, []
        for _ in range(bleeds):
            kind = BLEED_KINDS[int(rng.integers(len(BLEED_KINDS)))]
            size, delta = float(rng.uniform(5, 30)), float(rng.uniform(40, 90))
            hu, bleed = add_bleed(hu, brain, base.spacing, rng, kind, size, delta)
            masks.append(bleed)
        result = detect(replace(base, array=hu.astype(np.float32)), model)
        union = np.zeros(hu.shape, dtype=bool)
        for b in masks:
            union |= b.mask
            hit = found(result, b.mask)
            hits.append(hit)
            rows.append(
                {
                    "run": run,
                    "kind": b.kind,
                    "size_mm": round(b.size_mm, 1),
                    "delta_hu": round(b.delta_hu, 1),
                    "found": hit,
                    "map_peak": round(float(result.anomaly_map[b.mask].max()), 4),
                }
            )
        hit_ids = set(np.unique(result.labels[union]).tolist())
        stray = [f for f in result.findings if f.id not in hit_ids]
        fp = len(stray)
        false_pos.append(fp)
        fp_rows += [
            {
                "run": run,
                "slices": [f.slice_start, f.slice_end],
                "bbox": [int(v) for v in f.bbox],
                "size_mm3": round(float(f.size_mm3 or 0), 1),
                "peak": round(f.peak, 4),
            }
            for f in stray
        ]
        print(
            f"{path.name} run {run}: found {sum(hits[-bleeds:])}/{bleeds}, FP {fp}, "
            f"score {result.score:.4f} (threshold {model.threshold:.4f})",
            flush=True,
        )
    by_kind = {
        k: float(np.mean([r["found"] for r in rows if r["kind"] == k]))
        for k in {r["kind"] for r in rows}
    }
    return {
        "model": str(path),
        "model_name": model.info.name,
        "threshold": model.threshold,
        "pixel_threshold": float(model.metadata.get("pixel_threshold", 0)),
        "sensitivity": float(np.mean(hits)),
        "sensitivity_by_kind": by_kind,
        "bleeds": len(hits),
        "fp_per_volume": float(np.mean(false_pos)),
        "cq500_ct0": {
            "score": plain.score,
            "abnormal": bool(plain.abnormal),
            "findings": len(plain.findings),
        },
        "cq500_ct1_stray": {
            "score": ct1.score,
            "abnormal": bool(ct1.abnormal),
            "findings": len(ct1.findings),
        },
        "bleeds_detail": rows,
        "false_positives": fp_rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bleeds", type=int, default=3, help="per run (volume)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=CQ500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from ctviewer.pipeline import load_inputs

    volumes = list(load_inputs([args.data]))
    base = max(volumes, key=lambda v: v.n_slices)
    stray = min(volumes, key=lambda v: v.n_slices)
    print(f"CQ500: {base.shape} {base.spacing}; stray {stray.shape}", flush=True)
    start = time.time()
    out = []
    for path in args.model:
        r = bench_model(path, base, stray, args.runs, args.bleeds, args.seed)
        out.append(r)
        print(
            f"RESULT {path.name}: sensitivity {r['sensitivity']:.3f} ({r['bleeds']} bleeds; "
            f"{r['sensitivity_by_kind']}), FP/volume {r['fp_per_volume']:.2f}; CT-0 score "
            f"{r['cq500_ct0']['score']:.4f} abnormal {r['cq500_ct0']['abnormal']} findings "
            f"{r['cq500_ct0']['findings']}; CT-1 stray score {r['cq500_ct1_stray']['score']:.4f} "
            f"flagged {r['cq500_ct1_stray']['abnormal']} [{time.time() - start:.0f}s]",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        cmd = "python benchmarks/bench_head_hu.py " + " ".join(argv or sys.argv[1:])
        args.json.write_text(json.dumps({"command": cmd, "results": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
