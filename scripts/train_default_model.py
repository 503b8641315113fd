"""Train the bundled default model on normal synthetic chest phantoms (no real patient data).

    .venv/bin/python scripts/train_default_model.py [--out resources/models/default.pt]

Phantoms without lesions from many anatomy seeds; bright synthetic lesions pasted into half the
training slices are to be removed (restoration), so the model learns to remove such things. The
map is the bright residual (input above reconstruction: lesions in lung are denser than lung), the
larger of the two windows', in the lung mask (with juxtapleural pockets) eroded by 1 pixel, taken
as its geometric mean with a 3D multiscale Hessian blob measure of the image (radii 6-14 mm;
2D on single images), so that compact lesions stay and vessels fade. The series and findings
thresholds are calibrated on held-back phantoms; findings grow down to half the findings
threshold and also qualify by mass. Liver lesions are not looked for. Measured with
`benchmarks/bench_detect.py phantoms|lung1|lidc`. Users should train their own model on their
own normal studies (`ctviewer train`).

    .venv/bin/python scripts/train_default_model.py --recalibrate resources/models/default.pt

keeps a checkpoint's network and recalibrates it on fresh normal phantoms of
`--calibration-shape` (default 64 slices of 4.7 mm; after training too when that option is given).
The 3D blob measure responds to the slice spacing, so thresholds hold for the spacing they were
calibrated at: on 64-slice normals lung1's nodule becomes a finding, but series with 9-12 mm
slices get false findings, so the shipped model keeps its held-back calibration until the
thresholds follow the slice spacing (FINDINGS.md, chest8 and the lead's note after it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from bundled_model import train_and_save

from ctviewer import paths
from ctviewer.anomaly.maps import BLOB_ON, CHANNELS, RESIDUALS, Scoring
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.train import TrainConfig
from ctviewer.synth.phantom import make_phantom

WINDOWS = ((40.0, 400.0), (-600.0, 1500.0))  # soft tissue, lung
HU_RANGE = (-950.0, 200.0)  # lung to soft tissue: bone edges are not findings
BLOB_MM = (6.0, 9.0, 14.0)  # blob filter radii: compact lesions >= ~5 mm kept, vessels fade
CALIBRATION_SHAPE = (64, 256, 256)  # fresh normals `--recalibrate` calibrates on by default
CALIBRATION_SEED = 2000  # their seeds: neither training (1000+) nor bench (5000+, 6000+) phantoms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=paths.default_model_path())
    parser.add_argument("--phantoms", type=int, default=30)
    parser.add_argument(
        "--shape", type=int, nargs=3, default=(32, 256, 256), metavar=("Z", "Y", "X")
    )
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--context", type=int, default=0, help="neighbouring slices (2.5D)")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--synthetic", type=float, default=0.5)
    parser.add_argument("--residual", choices=RESIDUALS, default="positive")
    parser.add_argument("--erode", type=int, default=1, help="erosion of the lung mask (px)")
    parser.add_argument("--channels", choices=CHANNELS, default="max")
    parser.add_argument("--median", type=int, default=1, help="median filter of the map (px)")
    parser.add_argument("--findings-seed", type=float, default=0.5)
    parser.add_argument(
        "--blob", type=float, nargs="*", default=BLOB_MM, help="blob filter radii (mm); none: off"
    )
    parser.add_argument("--blob-on", choices=BLOB_ON, default="image")
    parser.add_argument("--findings-quantile", type=float, default=0.8)
    parser.add_argument("--calibrate-on", choices=("held_back", "all"), default="held_back")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--calibration-shape", type=int, nargs=3, default=None, metavar=("Z", "Y", "X")
    )
    parser.add_argument("--calibration-normals", type=int, default=24)
    parser.add_argument("--recalibrate", type=Path, default=None, help="checkpoint to recalibrate")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.recalibrate is not None:
        recalibrate(args.recalibrate, args)
        return 0
    volumes = [
        make_phantom(shape=tuple(args.shape), seed=1000 + s).volume for s in range(args.phantoms)
    ]
    config = TrainConfig(
        epochs=args.epochs,
        preprocessing=Preprocessing(
            kind="hu",
            size=128,
            windows=WINDOWS,
            organ="lungs",
            hu_range=HU_RANGE,
            context=args.context,
        ),
        findings_quantile=args.findings_quantile,  # of the calibration normals' peaks
        calibrate_on=args.calibrate_on,
        augment=not args.no_augment,
        latent_channels=args.latent,
        depth=args.depth,
        synthetic=args.synthetic,
        scoring=Scoring(
            residual=args.residual,
            erode_px=args.erode,
            channels=args.channels,
            median=args.median,
            blob_mm=tuple(args.blob),
            blob_on=args.blob_on,
        ),
        findings_seed=args.findings_seed,
        body_parts=("chest",),
        seed=args.seed,
        name="ctviewer-default-phantom",
        device="cpu",
    )
    train_and_save(
        volumes,
        config,
        args.out,
        f"{args.phantoms} synthetic chest phantoms {tuple(args.shape)} without lesions",
    )
    if args.calibration_shape:
        recalibrate(args.out, args)
    return 0


def recalibrate(path: Path, args: argparse.Namespace) -> None:
    """The checkpoint's network recalibrated on fresh normal phantoms of the calibration shape
    (its target specificity, threshold method, findings quantile and seed level kept)."""
    from ctviewer.model.checkpoint import load_model, save_model
    from ctviewer.model.train import calibrate

    model = load_model(path, device="cpu")
    meta, shape = model.metadata, tuple(args.calibration_shape or CALIBRATION_SHAPE)
    normals = [
        make_phantom(shape=shape, seed=CALIBRATION_SEED + s).volume
        for s in range(args.calibration_normals)
    ]
    cal = meta["calibration"]
    update = calibrate(
        model,
        normals,
        float(meta["target_specificity"]),
        float(cal["findings_quantile"]),
        cal["method"],
        float(cal.get("findings_seed", 0.0)),
    )
    meta.update(update)
    meta["calibration"]["on"] = f"{len(normals)} fresh normal phantoms {shape}"
    save_model(model, args.out)
    print(
        f"wrote {args.out}: recalibrated on {len(normals)} normals {shape}, threshold "
        f"{model.threshold:.5f}, pixel threshold {meta['pixel_threshold']:.5f}"
    )


if __name__ == "__main__":
    sys.exit(main())
