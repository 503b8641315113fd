"""Engine subcommands: train, calibrate, detect, evaluate, bench."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ctviewer import paths
from ctviewer.anomaly.score import CALIBRATION_METHODS
from ctviewer.cli.common import ProgressLine, print_json
from ctviewer.errors import InputError
from ctviewer.model.anatomy import BODY_PARTS

MAP_FORMATS = ("nii.gz", "npy")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add train, calibrate, detect, evaluate and bench."""
    p = subparsers.add_parser("train", help="train a model on normal images")
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM folders, NIfTI, PNG/JPG")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument(
        "--recipe", default="default", help="default (CT volumes or images), head-ct, chest-8bit"
    )
    p.add_argument("--members", type=int, default=None, help="ensemble size (default: recipe)")
    p.add_argument(
        "--body-part",
        action="append",
        choices=BODY_PARTS,
        help="what the images show (repeatable; default: what the anatomy check sees)",
    )
    p.add_argument("--init-from", type=Path, default=None, metavar="MODEL", help="fine-tune")
    p.add_argument("--specificity", type=float, default=0.95, help="target for the threshold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the model metadata as JSON")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("calibrate", help="re-choose a model's threshold")
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--normal", nargs="+", required=True, metavar="PATH")
    p.add_argument("--abnormal", nargs="*", default=[], metavar="PATH")
    p.add_argument("--specificity", type=float, default=0.95, help="used without --abnormal")
    p.add_argument("--method", choices=CALIBRATION_METHODS, default="empirical")
    p.add_argument(
        "--findings-quantile",
        type=float,
        default=None,
        help="findings threshold: this quantile of the normals' map peaks (default: the model's)",
    )
    p.add_argument("--out", type=Path, default=None, help="write here (default: in place)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = subparsers.add_parser("detect", help="analyse series/images, write results.json + maps")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--map-format", choices=MAP_FORMATS, default="nii.gz")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print results.json to stdout too")
    p.set_defaults(func=cmd_detect)

    p = subparsers.add_parser("evaluate", help="AUROC, AP, accuracy on labelled folders")
    p.add_argument("--normal", nargs="+", required=True, metavar="PATH")
    p.add_argument("--abnormal", nargs="+", required=True, metavar="PATH")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser("bench", help="detection speed on a synthetic 300-slice series")
    p.add_argument("--slices", type=int, default=300)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)


def model_path(given: Path | None) -> Path:
    """The model to use: the given one, else the active learned version, else the bundled one."""
    if given is not None:
        return given
    try:
        from ctviewer.feedback.versions import active_model_path
    except ImportError:
        return paths.default_model_path()
    return active_model_path()


def _scores(items: list[str], model, progress: ProgressLine) -> list[float]:
    from ctviewer.pipeline import load_inputs, score_volume

    scores = []
    for volume in load_inputs(items):
        scores.append(score_volume(volume, model)[0])
        progress(0.0, f"scored {len(scores)} items")
    if not scores:
        raise InputError("no images found", ", ".join(items))
    return scores


def cmd_train(args: argparse.Namespace) -> int:
    from ctviewer.model.checkpoint import save_model
    from ctviewer.model.train import recipe, train_model

    config = recipe(args.recipe)
    config.device, config.seed, config.target_specificity = args.device, args.seed, args.specificity
    if args.epochs is not None:
        config.epochs = args.epochs
    if args.members is not None:
        config.members = args.members
    if args.body_part:
        config.body_parts = tuple(args.body_part)
    progress = ProgressLine()
    try:
        model = train_model(args.paths, config, progress=progress, init_from=args.init_from)
    finally:
        progress.close()
    save_model(model, args.out)
    if args.json:
        print_json(model.metadata)
    else:
        info, calibration = model.info, model.metadata["calibration"]
        print(f"wrote {args.out}: {info.name} {info.version}")
        print(
            f"threshold {info.threshold:.6f} ({calibration['method']}, specificity "
            f"{model.metadata['target_specificity']} on {calibration['normals']} normals)"
        )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ctviewer.anomaly.score import youden_threshold
    from ctviewer.model.checkpoint import load_model, save_model
    from ctviewer.model.thresholds import SPACING_KEY
    from ctviewer.model.train import calibrate
    from ctviewer.pipeline import load_inputs

    model = load_model(args.model, device="cpu")
    normals = list(load_inputs(args.normal))
    if not normals:
        raise InputError("no normal images found", ", ".join(args.normal))
    quantile = args.findings_quantile
    if quantile is None:
        quantile = model.metadata.get("calibration", {}).get("findings_quantile", 0.9)
    seed = float(model.metadata.get("calibration", {}).get("findings_seed", 0.0))
    update = calibrate(model, normals, args.specificity, quantile, args.method, seed)
    calibration = update["calibration"]
    calibration["method"] = f"{args.method} at specificity {args.specificity}"
    if args.abnormal:
        normal = calibration["normal_scores"]
        abnormal = _scores(args.abnormal, model, ProgressLine())
        labels = [0] * len(normal) + [1] * len(abnormal)
        update["threshold"] = youden_threshold(normal + abnormal, labels)
        calibration.update(method="youden", abnormals=len(abnormal))
    out = args.out or args.model
    dropped = len(model.metadata.get(SPACING_KEY) or [])
    save_model(model, out, update)
    threshold, method = update["threshold"], calibration["method"]
    if args.json:
        print_json({"model": str(out), "threshold": threshold, **calibration, "dropped": dropped})
    else:
        counts = f"{len(normals)} normal, {calibration.get('abnormals', 0)} abnormal"
        print(f"threshold {threshold:.6f} ({method}; {counts})")
        if dropped:
            print(f"dropped {dropped} calibrations per slice spacing: this one judges every series")
        print(f"wrote {out}")
    return 0


def _write_map(result, volume, out_dir: Path, index: int, fmt: str) -> str:
    name = f"map_{index:03d}.{fmt}"
    if fmt == "npy":
        np.save(out_dir / name, result.anomaly_map.astype(np.float32))
    else:
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(result.anomaly_map.astype(np.float32))
        image.SetSpacing(tuple(float(v) for v in volume.spacing[::-1]))
        image.SetOrigin(tuple(float(v) for v in volume.origin))
        image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction).ravel()))
        sitk.WriteImage(image, str(out_dir / name), useCompression=True)
    return name


def installed_catalog():
    """The installed models, with a one-line warning on stderr for each that cannot be used."""
    from ctviewer.model.catalog import ModelCatalog

    catalog = ModelCatalog.installed()
    for problem in catalog.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return catalog


def verdict_line(item: dict) -> str:
    """One line per results.json item, as `detect` prints it."""
    if not item["assessed"]:
        return f"{item['source']}: NOT ASSESSED: {item['not_assessed_reason']}"
    flag = "FLAGGED for review" if item["abnormal"] else "below threshold"
    model = item["model"]
    part = f", {model['body_part']} model" if model.get("body_part") else ""
    found = len(item["findings"])
    score = f"score {item['score']:.6f} {flag}"
    return f"{item['source']}: {score}, {found} findings ({model['name']}{part})"


def cmd_detect(args: argparse.Namespace) -> int:
    from ctviewer.pipeline import ModelCache, analyse, load_inputs

    cache = ModelCache()
    model = cache.load(args.model, args.device) if args.model else None
    catalog = None if model is not None else installed_catalog()
    args.out.mkdir(parents=True, exist_ok=True)
    items, models = [], {}
    progress = ProgressLine()
    try:
        for index, volume in enumerate(load_inputs(args.paths)):
            result = analyse(volume, model, catalog, args.device, cache, progress)
            map_path = _write_map(result, volume, args.out, index, args.map_format)
            items.append(result.to_json(map_path if result.assessed else None))
            if result.assessed:
                models[(result.model.name, result.model.version)] = result.model
    finally:
        progress.close()
    if not items:
        raise InputError("no images found", ", ".join(args.paths))
    results: dict = {"items": items}
    if len(models) == 1:  # a single-model run keeps the top-level model
        results = {"model": asdict(next(iter(models.values()))), **results}
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    if args.json:
        print_json(results)
    else:
        for item in items:
            print(verdict_line(item))
        print(f"wrote {args.out / 'results.json'} ({len(items)} items)")
    return 0


def evaluation(normal: list[float], abnormal: list[float], threshold: float) -> dict:
    """The numbers `ctviewer evaluate` prints."""
    from ctviewer.anomaly import score

    s = normal + abnormal
    y = [0] * len(normal) + [1] * len(abnormal)
    return {
        "normal": len(normal),
        "abnormal": len(abnormal),
        "auroc": score.auroc(s, y),
        "average_precision": score.average_precision(s, y),
        "threshold": threshold,
        "accuracy": score.accuracy(s, y, threshold),
        "sensitivity_at_90_specificity": score.sensitivity_at_specificity(s, y, 0.90),
        "sensitivity_at_95_specificity": score.sensitivity_at_specificity(s, y, 0.95),
    }


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ctviewer.model.checkpoint import load_model

    model = load_model(model_path(args.model), device=args.device)
    progress = ProgressLine()
    try:
        normal = _scores(args.normal, model, progress)
        abnormal = _scores(args.abnormal, model, progress)
    finally:
        progress.close()
    numbers = evaluation(normal, abnormal, model.threshold)
    if args.json:
        print_json({"model": asdict(model.info), **numbers})
    else:
        print(f"model {model.info.name} {model.info.version}")
        for key, value in numbers.items():
            print(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ctviewer.model.bench import run_bench

    figures = run_bench(args.slices, args.size, model_path(args.model), threads=args.threads)
    if args.json:
        print_json(figures)
    else:
        for key, value in figures.items():
            print(f"{key:34s} {value}")
    return 0
