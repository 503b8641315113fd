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

keeps a checkpoint's network and main calibration and adds calibrations per slice spacing, each
on 24 fresh normal phantoms with `--spacing-slices` slices over the same chest (default 24 to 192:
12.5 mm to 1.6 mm), as training does after its held-back calibration. The 3D blob measure
responds to the slice spacing, so a series is judged by the calibration nearest its spacing
(`ctviewer.model.thresholds`); a single image (scored in 2D) by one on `--single-images` slices of
each normal. The main one, on 6 held-back phantoms of 9.4 mm, is kept. lung1's 5 mm series is
judged by the 4.7 mm one and its nodule is a finding (FINDINGS.md, chest8 and "Calibration per
slice spacing", session 9). About 12 min on one CPU thread.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from bundled_model import train_and_save

from ctviewer import paths
from ctviewer.anomaly.maps import BLOB_ON, CHANNELS, RESIDUALS, Scoring, broad_applies
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.train import TrainConfig
from ctviewer.synth.phantom import make_phantom

WINDOWS = ((40.0, 400.0), (-600.0, 1500.0))  # soft tissue, lung
HU_RANGE = (-950.0, 200.0)  # lung to soft tissue: bone edges are not findings
BLOB_MM = (6.0, 9.0, 14.0)  # blob filter radii: compact lesions >= ~5 mm kept, vessels fade
# slices of the normals of each calibration per slice spacing: 12.5 mm down to 1.6 mm
SPACING_SLICES = (24, 32, 40, 48, 56, 64, 96, 128, 192)
SINGLE_IMAGES = 8  # slices from the middle half of each normal for the single-image calibration
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
    parser.add_argument(
        "--ground-glass",
        type=float,
        default=0.0,
        help="share of the pasted slices given HU ground glass instead of bright lesions",
    )
    parser.add_argument("--residual", choices=RESIDUALS, default="positive")
    parser.add_argument("--erode", type=int, default=1, help="erosion of the lung mask (px)")
    parser.add_argument("--channels", choices=CHANNELS, default="max")
    parser.add_argument("--median", type=int, default=1, help="median filter of the map (px)")
    parser.add_argument("--findings-seed", type=float, default=0.5)
    parser.add_argument(
        "--blob", type=float, nargs="*", default=BLOB_MM, help="blob filter radii (mm); none: off"
    )
    parser.add_argument("--blob-on", choices=BLOB_ON, default="image")
    parser.add_argument(
        "--broad",
        type=float,
        nargs="*",
        default=[],
        help="radii (mm) of the broad term (Scoring.broad_mm; with --recalibrate: rescored)",
    )
    parser.add_argument("--broad-gain", type=float, default=0.0)
    parser.add_argument(
        "--solid",
        type=float,
        nargs="*",
        default=[],
        help="radii (mm) of the solid-organ (liver) term (Scoring.solid_mm; with --recalibrate: "
        "rescored)",
    )
    parser.add_argument("--solid-gain", type=float, default=0.0)
    parser.add_argument(
        "--broad-max-slice-mm",
        type=float,
        default=0.0,
        help="the broad term only on volumes with slices this thin or thinner (0: everywhere)",
    )
    parser.add_argument(
        "--broad-channel", type=int, default=-1, help="channel the broad term reads (-1: all)"
    )
    parser.add_argument(
        "--broad-open-mm",
        type=float,
        default=0.0,
        help="z size (mm) of the broad opening (0: 3 slices)",
    )
    parser.add_argument(
        "--broad-max-value",
        type=float,
        default=0.0,
        help="the broad term only where its opened channel is at most this (0: everywhere)",
    )
    parser.add_argument("--findings-quantile", type=float, default=0.8)
    parser.add_argument("--calibrate-on", choices=("held_back", "all"), default="held_back")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--spacing-slices",
        type=int,
        nargs="*",
        default=SPACING_SLICES,
        help="a calibration per slice spacing on normals of each of these numbers of slices",
    )
    parser.add_argument("--calibration-normals", type=int, default=24)
    parser.add_argument(
        "--single-images",
        type=int,
        default=SINGLE_IMAGES,
        help="a calibration for single images on this many slices of each normal (0: none)",
    )
    parser.add_argument(
        "--recalibrate", type=Path, default=None, help="checkpoint to add the calibrations to"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.recalibrate is not None:
        add_spacing_calibrations(args.recalibrate, args)
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
        ground_glass_hu=args.ground_glass,
        scoring=Scoring(
            residual=args.residual,
            erode_px=args.erode,
            channels=args.channels,
            median=args.median,
            blob_mm=tuple(args.blob),
            blob_on=args.blob_on,
            **_added_terms(args),
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
    if args.spacing_slices:
        add_spacing_calibrations(args.out, args)
    return 0


def add_spacing_calibrations(path: Path, args: argparse.Namespace) -> None:
    """The checkpoint with a calibration per `--spacing-slices` count on fresh normal phantoms
    of that many slices, and one on single slices (`--single-images`), beside its main
    calibration, which is kept; written to `--out`."""
    from ctviewer.model.checkpoint import load_model, save_model
    from ctviewer.model.thresholds import SPACING_KEY, normals_slice_mm

    model = load_model(path, device="cpu")
    redo = False
    if args.broad or args.solid:  # a new scoring: the main calibration too, on fresh normals
        model.scoring = replace(
            model.scoring,
            **_added_terms(args),
        )
        model.metadata["scoring"] = model.scoring.to_dict()
        slice_mm = make_phantom(shape=tuple(args.shape)).volume.spacing[0]
        # the broad term alone, off at the main calibration's spacing, leaves its maps as before
        redo = bool(args.solid) or broad_applies(model.scoring, args.shape[0], slice_mm)
    if redo:
        normals = [make_phantom(shape=tuple(args.shape), seed=s).volume for s in _seeds(args)]
        update = _calibration(model, normals, f"{len(normals)} fresh normal phantoms {args.shape}")
        model.metadata.update(update)
    cal = model.metadata["calibration"]
    if cal.get("slice_mm") is None:  # the main calibration's normals: held-back training phantoms
        cal["slice_mm"] = normals_slice_mm([make_phantom(shape=tuple(args.shape)).volume])
    added = []
    for slices in args.spacing_slices:
        shape = (slices, *args.shape[1:])
        normals = [make_phantom(shape=shape, seed=seed).volume for seed in _seeds(args)]
        update = _calibration(model, normals, f"{len(normals)} fresh normal phantoms {shape}")
        update["slice_mm"] = update["calibration"]["slice_mm"]
        added.append(update)
    if args.single_images:
        images = _single_slices(args)
        update = _calibration(model, images, f"{len(images)} single slices of fresh normals")
        added.append({**update, "single_image": True})
    model.metadata[SPACING_KEY] = added
    save_model(model, args.out)
    main = "redone" if redo else "kept"
    print(f"wrote {args.out}: main calibration at {cal['slice_mm']} mm {main}, {len(added)} added")


def _added_terms(args: argparse.Namespace) -> dict:
    """The Scoring fields of the terms added to the shipped recipe (broad, solid organs)."""
    return {
        "broad_mm": tuple(args.broad),
        "broad_gain": args.broad_gain,
        "solid_mm": tuple(args.solid),
        "solid_gain": args.solid_gain,
        "broad_max_slice_mm": args.broad_max_slice_mm,
        "broad_channel": args.broad_channel,
        "broad_max_value": args.broad_max_value,
        "broad_open_mm": args.broad_open_mm,
    }


def _seeds(args: argparse.Namespace) -> range:
    return range(CALIBRATION_SEED, CALIBRATION_SEED + args.calibration_normals)


def _single_slices(args: argparse.Namespace) -> list:
    """`--single-images` slices from the middle half of each fresh normal of the training shape,
    each a volume of one slice (scored in 2D, as a single image is)."""
    images = []
    for seed in _seeds(args):
        volume = make_phantom(shape=tuple(args.shape), seed=seed).volume
        n = volume.n_slices
        for z in np.linspace(n // 4, 3 * n // 4, args.single_images).round().astype(int):
            origin = volume.index_to_mm(float(z), 0.0, 0.0)
            images.append(replace(volume, array=volume.array[z : z + 1].copy(), origin=origin))
    return images


def _calibration(model, normals: list, on: str) -> dict:
    """`model`'s calibration on `normals`, made as its main one was (target specificity,
    threshold method, findings quantile and seed level kept), to add beside it."""
    from ctviewer.model.thresholds import SPACING_KEY
    from ctviewer.model.train import calibrate

    meta, cal = model.metadata, model.metadata["calibration"]
    update = calibrate(
        model,
        normals,
        float(meta["target_specificity"]),
        float(cal["findings_quantile"]),
        cal["method"],
        float(cal.get("findings_seed", 0.0)),
    )
    del update[SPACING_KEY], update["target_specificity"]
    update["calibration"]["on"] = on
    print(
        f"{update['calibration']['on']}: threshold {update['threshold']:.5f}, pixel threshold "
        f"{update['pixel_threshold']:.5f}, mass {update.get('mass_threshold')}",
        flush=True,
    )
    return update


if __name__ == "__main__":
    sys.exit(main())
