"""Train the bundled head-CT model on synthetic head phantoms only (no real patient data).

    .venv/bin/python scripts/train_head_model.py [--out resources/models/head_ct.pt]

The head-CT recipe (`ctviewer.model.train.head_ct_recipe`: brain window, skull strip, brain
normalisation, bright synthetic lesions to restore, bright residual only) on normal phantoms from
`ctviewer.synth.head` in HU; the model reads head CT in HU (through its brain window) and 8-bit
brain-window images alike. The threshold is calibrated on phantoms, so on real scans expect it to
flag more than its nominal 5 %: users should calibrate or train on their own normal head CTs.

    .venv/bin/python scripts/train_head_model.py --rescore resources/models/head_ct.pt \
        --mirror 1 [--midline-px 1] --out resources/models/head_ct.pt

keeps a checkpoint's network and gives it the recipe's scoring options named (the mirror score,
`Scoring.mirror`, about the crop centre or the estimated midline), then recalibrates its
thresholds on the same phantoms (how the bundled model got its mirror score: FINDINGS.md).
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
    parser.add_argument("--size", type=int, default=64, help="model input size (pixels)")
    parser.add_argument(
        "--skull-hu", action="store_true", help="strip the skull by HU (Preprocessing.skull_hu)"
    )
    parser.add_argument(
        "--midline-px",
        type=int,
        default=-1,
        help=">= 0: mirror score about the estimated midline (Scoring.midline) with this spread",
    )
    parser.add_argument(
        "--dura",
        action="store_true",
        help="phantoms with sinuses, tentorium, skull base, calcifications (make_head_phantom)",
    )
    parser.add_argument("--rescore", type=Path, default=None, help="checkpoint to rescore")
    parser.add_argument("--mirror", type=float, default=None, help="Scoring.mirror (rescore)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.time()
    volumes = [
        make_head_phantom(seed=2000 + s, n_slices=args.slices, dura=args.dura)
        for s in range(args.phantoms)
    ]
    print(f"{len(volumes)} phantoms in {time.time() - start:.0f}s", flush=True)
    if args.rescore is not None:
        rescore(args.rescore, volumes, args)
        return 0
    recipe = head_ct_recipe()
    pre = replace(recipe.preprocessing, size=args.size, skull_hu=args.skull_hu)
    scoring = recipe.scoring
    if args.skull_hu:
        scoring = replace(scoring, erode_hu_px=1)
    if args.midline_px >= 0:
        scoring = replace(scoring, midline=True, mirror_px=args.midline_px)
    config = replace(
        recipe,
        preprocessing=pre,
        scoring=scoring,
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
        f"{2000 + args.phantoms - 1}, {args.slices} slices of 256², HU"
        + (", with dural sinuses, tentorium, skull base, calcifications" if args.dura else "")
        + ") without lesions; "
        "no real patient data",
    )
    return 0


def rescore(path: Path, volumes: list, args: argparse.Namespace) -> None:
    """The checkpoint's network with new scoring options, recalibrated on `volumes` as it was
    trained (empirical threshold at its target specificity, findings quantile kept)."""
    from ctviewer.model.checkpoint import load_model, save_model
    from ctviewer.model.train import calibrate

    model = load_model(path, device="cpu")
    changes = {} if args.mirror is None else {"mirror": args.mirror}
    if args.midline_px >= 0:
        changes |= {"midline": True, "mirror_px": args.midline_px}
    model.scoring = replace(model.scoring, **changes)
    model.metadata["scoring"] = model.scoring.to_dict()
    meta = model.metadata
    quantile = float(meta["calibration"].get("findings_quantile", 0.9))
    meta.update(calibrate(model, volumes, float(meta["target_specificity"]), quantile))
    meta["calibration"]["on"] = "held-back+training"
    meta["training"]["rescored"] = f"scoring {changes}, recalibrated on the same phantoms"
    save_model(model, args.out)
    print(
        f"wrote {args.out}: scoring {changes}, threshold {model.threshold:.5f}, pixel "
        f"threshold {meta['pixel_threshold']:.5f}"
    )


if __name__ == "__main__":
    sys.exit(main())
