"""Chest scoring variants on the bundled model's own networks: re-score, re-calibrate, bench.

    PYTHONPATH=. python benchmarks/research/chest_experiments.py --tag blob --blob 3 5 8 12

Loads a chest checkpoint (default: the bundled one), replaces its `Scoring` fields given here,
re-calibrates its thresholds exactly as training does (`model.train.calibrate`, same quantiles)
on fresh normal phantoms (seeds 3000+, never used in training or by the benches), saves it in a
scratch folder under the temp dir and runs `bench_detect.py` phantoms, lung1 and lidc on it;
appends one JSON line per run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_detect  # noqa: E402

from ctviewer.model.checkpoint import load_model, save_model  # noqa: E402
from ctviewer.model.train import calibrate  # noqa: E402
from ctviewer.synth.phantom import make_phantom  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "anomaly"  # beside the checkout
SCRATCH = Path(tempfile.gettempdir()) / "ctviewer-chest-experiments"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--blob", type=float, nargs="*", default=None, help="Scoring.blob_mm")
    parser.add_argument("--blob-on", default=None, help="Scoring.blob_on")
    parser.add_argument("--median", type=int, default=None)
    parser.add_argument("--sigma", type=float, default=None)
    parser.add_argument("--channels", default=None)
    parser.add_argument("--erode", type=int, default=None)
    parser.add_argument("--broad", type=float, nargs="*", default=None, help="Scoring.broad_mm")
    parser.add_argument("--broad-gain", type=float, default=None, help="Scoring.broad_gain")
    parser.add_argument("--broad-max-slice-mm", type=float, default=None)
    parser.add_argument("--broad-channel", type=int, default=None)
    parser.add_argument("--broad-max-value", type=float, default=None)
    parser.add_argument("--broad-open-mm", type=float, default=None)
    parser.add_argument("--bench-shape", type=int, nargs=3, default=(64, 256, 256))
    parser.add_argument("--normals", type=int, default=12)
    parser.add_argument("--cal-shape", type=int, nargs=3, default=(32, 256, 256))
    parser.add_argument("--quantile", type=float, default=None, help="findings quantile")
    parser.add_argument("--volumes", type=int, default=10)
    parser.add_argument("--skip", nargs="*", default=[], help="benches to skip")
    parser.add_argument("--log", type=Path, default=SCRATCH / "experiments.jsonl")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared anomaly data")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.time()
    model = load_model(args.model, device="cpu")
    changes = {
        k: v
        for k, v in {
            "blob_mm": None if args.blob is None else tuple(args.blob),
            "blob_on": args.blob_on,
            "median": args.median,
            "sigma": args.sigma,
            "channels": args.channels,
            "erode_px": args.erode,
            "broad_mm": None if args.broad is None else tuple(args.broad),
            "broad_gain": args.broad_gain,
            "broad_max_slice_mm": args.broad_max_slice_mm,
            "broad_channel": args.broad_channel,
            "broad_max_value": args.broad_max_value,
            "broad_open_mm": args.broad_open_mm,
        }.items()
        if v is not None
    }
    model.scoring = dataclasses.replace(model.scoring, **changes)
    model.metadata["scoring"] = model.scoring.to_dict()
    cal = model.metadata["calibration"]
    quantile = args.quantile or cal["findings_quantile"]
    normals = [
        make_phantom(shape=tuple(args.cal_shape), seed=3000 + s).volume for s in range(args.normals)
    ]
    update = calibrate(
        model,
        normals,
        model.metadata["target_specificity"],
        quantile,
        cal["method"],
        cal.get("findings_seed", 0.0),
    )
    model.metadata.update(update)
    out = SCRATCH / f"{args.tag}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    row = {"tag": args.tag, "model": str(args.model), "scoring": changes}
    row.update(findings_quantile=quantile, calibration_shape=list(args.cal_shape))
    row["thresholds"] = {
        k: model.metadata.get(k) for k in ("threshold", "pixel_threshold", "mass_threshold")
    }
    if "phantoms" not in args.skip:
        row["phantoms"] = bench_detect.lesion_quality(
            out, args.volumes, tuple(args.bench_shape), 2.5
        )
    if "lung1" not in args.skip:
        row["lung1"] = bench_detect.lung1(out, args.data / "chest_ct_volumes")
    if "lidc" not in args.skip:
        row["lidc"] = bench_detect.lidc(out, args.data / "lidc_nodule_slices")
    row["seconds"] = round(time.time() - start)
    print(json.dumps(row, indent=1))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with args.log.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
