"""Stratified k-fold cross-validation of a training recipe over every labelled image of a data set.

Dev splits of a few dozen images are too small to choose settings on (the head recipe scored AUROC
0.983 on its 40-image dev split and 0.899 on a separate test split). Here all labelled images
(train normals + dev normals + dev abnormals) are split into k folds stratified by label; each
fold trains on the *normals* of the other folds only (self-supervised: abnormal images are never
trained on), the threshold is calibrated as the app does it (the recipe's own calibration, on
normals only, inside `train_model`), and the held-out fold's normals and abnormals are scored:
AUROC, AP, accuracy / sensitivity / specificity at the model's own threshold. Repeated for each
seed (a seed changes the fold split and the training); mean ± sd over all folds and seeds.

Every run also scores a **no-learning control**: the same preprocessing, map filters and slice
score, with the network replaced by a constant reconstruction (each slice's median inside its
scoring mask) and the same calibration. The autoencoder has to beat it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crossval.py --dataset head --folds 5 --seeds 0 1
    ... --set members=3 --set calibration=empirical --tag ens3   # a recipe variant
    ... --keep-models /tmp/cv_models --alternatives '' flip=true mirror=1 slice_score=blob

`--keep-models DIR` keeps each fold's trained network (keyed by recipe, training settings, folds,
seed and fold) and reuses it on a rerun, recalibrated under the run's scoring, so scoring
variants are compared on the same networks without retraining. Each `--alternatives` scoring is
also applied to the no-learning control (`<scoring>|control`).

Results go to `benchmarks/results/crossval_<dataset>_<tag>.json` (or `--json PATH`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "anomaly"
RESULTS = ROOT / "benchmarks" / "results"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
# folder, normal sub-folders, abnormal sub-folders, the engine's recipe for it
DATASETS = {
    "head": ("head_ct_hemorrhage", ("train/normal", "dev/normal"), ("dev/hemorrhage",), "head-ct"),
    "covid": ("covid_ct", ("train/noncovid", "dev/noncovid"), ("dev/covid",), "default"),
}


@dataclass
class Dataset:
    """Labelled image paths: label 0 normal, 1 abnormal."""

    name: str
    paths: list[Path]
    labels: np.ndarray


def load_dataset(name: str, root: Path = DATA) -> Dataset:
    folder, normal, abnormal, _ = DATASETS[name]
    paths, labels = [], []
    for label, subs in ((0, normal), (1, abnormal)):
        for sub in subs:
            found = sorted(
                p for p in (root / folder / sub).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            paths += found
            labels += [label] * len(found)
    return Dataset(name, paths, np.array(labels, dtype=int))


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) of every item; each label's items are dealt round the folds in a
    random order, so every fold gets its share of normals and abnormals."""
    rng = np.random.default_rng(seed)
    fold = np.empty(labels.size, dtype=int)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold[members] = np.arange(members.size) % k
    return fold


def training_items(labels: np.ndarray, fold: np.ndarray, held_out: int) -> np.ndarray:
    """Indices a fold may train (and calibrate) on: the normals of the other folds only."""
    return np.flatnonzero((fold != held_out) & (labels == 0))


def parse_override(text: str) -> tuple[str, object]:
    """`key=value` (`scoring.percent=1`, `members=3`, `calibration=empirical`) → (key, value)."""
    key, _, raw = text.partition("=")
    if not raw:
        raise SystemExit(f"--set wants key=value, got {text!r}")
    try:
        value: object = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def apply_overrides(config, overrides: Sequence[tuple[str, object]]):
    """A copy of a TrainConfig with fields (and `scoring.` / `preprocessing.` fields) replaced."""
    for key, value in overrides:
        if key.startswith("scoring."):
            config = replace(config, scoring=replace(config.scoring, **{key[8:]: value}))
        elif key.startswith("preprocessing."):
            pre = replace(config.preprocessing, **{key[14:]: value})
            config = replace(config, preprocessing=pre)
        elif key in config.__dataclass_fields__:
            config = replace(config, **{key: tuple(value) if isinstance(value, list) else value})
        else:
            raise SystemExit(f"unknown setting {key!r}")
    return config


class ConstantModel:
    """The no-learning control: 'reconstructs' every slice as a constant, its organ level (where
    organ normalisation put it, else the slice's median inside the image), so the map is the
    preprocessed image's deviation from that level, filtered and scored like the recipe's map.
    Duck-types what `model_maps` / `calibrate` use of an AnomalyModel."""

    def __init__(self, preprocessing, scoring) -> None:
        self.preprocessing, self.scoring = preprocessing, scoring
        self.metadata: dict = {}

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        from ctviewer.model.preprocess import LEVEL

        if self.preprocessing.normalize == "organ":
            return np.full_like(images, LEVEL)
        out = np.zeros_like(images)
        for i, image in enumerate(images):
            inside = image[0] > 0
            for c in range(image.shape[0]):
                out[i, c] = np.median(image[c][inside]) if inside.any() else 0.0
        return out


def control_threshold(control: ConstantModel, normals, config) -> float:
    from ctviewer.model.train import calibrate

    return calibrate(control, normals, config.target_specificity, method=config.calibration)[
        "threshold"
    ]


def metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    from ctviewer.anomaly.score import auroc, average_precision

    flagged = scores > threshold
    sens, spec = float(flagged[labels == 1].mean()), float((~flagged[labels == 0]).mean())
    return {
        "auroc": auroc(scores, labels),
        "ap": average_precision(scores, labels),
        "accuracy": float((flagged == (labels == 1)).mean()),
        "sensitivity": sens,
        "specificity": spec,
        # the mix of the project's hidden head test split (40 normal + 70 bleeds)
        "accuracy_test_mix": (40 * spec + 70 * sens) / 110,
        "threshold": float(threshold),
    }


CALIBRATION_RULES = [  # (normals, method, specificity) tried besides the recipe's own
    (on, method, spec)
    for on in ("held_back", "all")
    for method in ("lognormal", "empirical")
    for spec in (0.95, 0.975, 0.99)
]


def held_back_split(train: list, config) -> tuple[list, list]:
    """The (training, held back) split `train_model` makes with this config (same rng)."""
    from ctviewer.model.train import _split

    return _split(train, config.holdout_fraction, np.random.default_rng(config.seed))


_PREPARED: dict = {}


def prepared_score(volume, model) -> float:
    """`score_volume` with each volume's preprocessing done once per run (it does not depend
    on the network or the scoring)."""
    from ctviewer.anomaly.maps import series_score
    from ctviewer.model.preprocess import prepare_volume
    from ctviewer.pipeline import model_maps

    key = (id(volume), json.dumps(model.preprocessing.to_dict(), sort_keys=True))
    if key not in _PREPARED:
        _PREPARED[key] = prepare_volume(volume, model.preprocessing)
    return series_score(model_maps(_PREPARED[key], model)[1])


def alternatives(model, volumes, train, test, labels, config, scorings) -> dict:
    """Metrics of the same trained network under other slice scorings and calibration rules
    (no retraining): key 'scoring-override | normals | method | specificity'; and of the
    no-learning control under each scoring at the recipe's own rule: 'scoring-override|control'."""
    from ctviewer.anomaly.score import calibrate_threshold

    fitted, held = held_back_split(train, config)
    own = model.scoring
    out = {}
    for text in scorings:
        overrides = dict(parse_override(t) for t in text.split(",")) if text else {}
        model.scoring = replace(own, **overrides)
        scores = np.array([prepared_score(volumes[i], model) for i in test])
        held_s = [prepared_score(v, model) for v in held]
        all_s = held_s + [prepared_score(v, model) for v in fitted]
        for on, method, spec in CALIBRATION_RULES:
            t = calibrate_threshold(held_s if on == "held_back" else all_s, spec, method)
            out[f"{text or 'recipe'}|{on}|{method}|{spec}"] = metrics(scores, labels, t)
        control = ConstantModel(model.preprocessing, model.scoring)
        c_scores = np.array([prepared_score(volumes[i], control) for i in test])
        normals = held + fitted if config.calibrate_on == "all" else held
        c_normal = [prepared_score(v, control) for v in normals]
        t = calibrate_threshold(c_normal, config.target_specificity, config.calibration)
        out[f"{text or 'recipe'}|control"] = metrics(c_scores, labels, t)
    model.scoring = own
    return out


SCORING_ONLY = ("scoring", "calibration", "calibrate_on", "target_specificity", "findings_quantile")


NEW_DEFAULTS = {"synthetic_kind": "lesion", "trim": 0.0}


def model_key(recipe_name: str, config, folds: int, seed: int, k: int) -> str:
    """File name of a fold's kept network: what training depends on, not how it is scored."""
    settings = {k: v for k, v in config.summary().items() if k not in SCORING_ONLY}
    for key, default in NEW_DEFAULTS.items():  # settings added later: old keys stay valid
        if settings.get(key) == default:
            settings.pop(key)
    settings["preprocessing"] = config.preprocessing.to_dict() if config.preprocessing else None
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return f"{recipe_name}_{digest[:10]}_k{folds}_seed{seed}_fold{k}.pt"


def trained_model(train: list, config, keep: Path | None, name: str):
    """Train on `train`, or load the network kept under `keep/name` and recalibrate it under
    this config's scoring exactly as `train_model` does (same held-back split)."""
    from ctviewer.model.checkpoint import load_model, save_model
    from ctviewer.model.train import calibrate, train_model

    path = keep / name if keep else None
    if path is None or not path.is_file():
        model = train_model(train, config)
        if path is not None:
            save_model(model, path)
        return model
    model = load_model(path, device="cpu")
    model.scoring = config.scoring
    model.metadata["scoring"] = config.scoring.to_dict()
    fitted, held = held_back_split(train, config)
    normals = held + fitted if config.calibrate_on == "all" or not held else held
    model.metadata.update(
        calibrate(
            model, normals, config.target_specificity, config.findings_quantile, config.calibration
        )
    )
    return model


def run_fold(
    dataset: Dataset,
    volumes: list,
    fold: np.ndarray,
    k: int,
    config,
    seed: int,
    scorings,
    keep: Path | None = None,
    recipe_name: str = "recipe",
):
    """Train on the other folds' normals (or reuse the network kept in `keep`), score fold k;
    (model metrics, control metrics, other scorings/thresholds, per-image scores)."""
    train = [volumes[i] for i in training_items(dataset.labels, fold, k)]
    test = np.flatnonzero(fold == k)
    config = replace(config, seed=seed * 100 + k, device="cpu")
    name = model_key(recipe_name, config, int(fold.max()) + 1, seed, k)
    model = trained_model(train, config, keep, name)
    labels = dataset.labels[test]
    scores = np.array([prepared_score(volumes[i], model) for i in test])
    control = ConstantModel(model.preprocessing, model.scoring)
    control_scores = np.array([prepared_score(volumes[i], control) for i in test])
    threshold = control_threshold(control, train, config)
    other = alternatives(model, volumes, train, test, labels, config, scorings) if scorings else {}
    per_image = {
        str(dataset.paths[i].relative_to(dataset.paths[i].parents[2])): [int(y), float(s), float(c)]
        for i, y, s, c in zip(test, labels, scores, control_scores, strict=True)
    }
    return (
        metrics(scores, labels, model.threshold),
        metrics(control_scores, labels, threshold),
        other,
        per_image,
    )


def summarise(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k != "threshold"]
    return {
        k: {
            "mean": float(np.mean([r[k] for r in rows])),
            "sd": float(np.std([r[k] for r in rows], ddof=1)) if len(rows) > 1 else 0.0,
        }
        for k in keys
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="head")
    parser.add_argument("--recipe", default=None, help="training recipe (default: the dataset's)")
    parser.add_argument("--set", action="append", default=[], help="key=value recipe override")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", default="recipe", help="names the results file")
    parser.add_argument("--json", type=Path, default=None, help="results file (default: by tag)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--keep-models",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep each fold's trained network in DIR and reuse it when there",
    )
    parser.add_argument(
        "--alternatives",
        nargs="*",
        default=None,
        metavar="SCORING",
        help="also score other calibration rules (and slice scorings, e.g. percent=1) "
        "with the same trained networks; '' = the recipe's scoring",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from ctviewer.model.train import recipe
    from ctviewer.pipeline import load_inputs

    dataset = load_dataset(args.dataset, args.data)
    recipe_name = args.recipe or DATASETS[args.dataset][3]
    config = apply_overrides(recipe(recipe_name), [parse_override(s) for s in args.set])
    volumes = [next(load_inputs([p])) for p in dataset.paths]
    print(
        f"{args.dataset}: {int((dataset.labels == 0).sum())} normal, "
        f"{int(dataset.labels.sum())} abnormal; recipe {recipe_name} {args.set}",
        flush=True,
    )
    start = time.time()
    runs, model_rows, control_rows = [], [], []
    for seed in args.seeds:
        fold = stratified_folds(dataset.labels, args.folds, seed)
        for k in range(args.folds):
            m, c, other, per_image = run_fold(
                dataset,
                volumes,
                fold,
                k,
                config,
                seed,
                args.alternatives,
                args.keep_models,
                recipe_name,
            )
            model_rows.append(m)
            control_rows.append(c)
            runs.append(
                {
                    "seed": seed,
                    "fold": k,
                    "model": m,
                    "control": c,
                    "alternatives": other,
                    "images": per_image,
                }
            )
            print(
                f"seed {seed} fold {k}: AUROC {m['auroc']:.3f} AP {m['ap']:.3f} "
                f"acc {m['accuracy']:.3f} (sens {m['sensitivity']:.2f} spec "
                f"{m['specificity']:.2f}) | control AUROC {c['auroc']:.3f} acc "
                f"{c['accuracy']:.3f} [{time.time() - start:.0f}s]",
                flush=True,
            )
    summary = {"model": summarise(model_rows), "control": summarise(control_rows)}
    for who, stats in summary.items():
        text = ", ".join(f"{k} {v['mean']:.3f} ± {v['sd']:.3f}" for k, v in stats.items())
        print(f"RESULT {args.tag} {who}: {text}")
    alt_keys = runs[0]["alternatives"].keys()
    summary["alternatives"] = {
        key: summarise([r["alternatives"][key] for r in runs]) for key in alt_keys
    }
    for key, stats in summary["alternatives"].items():
        text = ", ".join(
            f"{k} {stats[k]['mean']:.3f} ± {stats[k]['sd']:.3f}"
            for k in ("auroc", "accuracy", "sensitivity", "specificity")
        )
        print(f"ALT {key}: {text}")
    out = args.json or RESULTS / f"crossval_{args.dataset}_{args.tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "dataset": args.dataset,
        "recipe": recipe_name,
        "overrides": args.set,
        "folds": args.folds,
        "seeds": args.seeds,
        "command": "python benchmarks/crossval.py " + " ".join(argv or sys.argv[1:]),
        "wall_s": round(time.time() - start, 1),
        "summary": summary,
        "runs": runs,
    }
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
