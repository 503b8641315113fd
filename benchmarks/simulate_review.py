"""Simulated review → learn → before/after metrics on dev images the feedback never touched.

For each data set: train a base model on `train/` normals with the engine's recipe for it; for
each of `--splits` random stratified splits of `dev/` in two halves, let a simulated radiologist
review the first half through the feedback store (accept every finding on an abnormal image — or
accept the image when nothing was found —, reject every finding on a normal one, and mark normal
images normal), run `learn_from_feedback`, and compare accuracy (at each model's own threshold)
and AUROC on the second half; report each split and the mean.

With `--folds K` the review is cross-validated instead (`cv_splits`): all labelled images in K
stratified folds, the base model trained per fold on the other folds' normals, the review covering
every other-fold image, the held-out fold untouched; `--control` adds the same fine-tune without
feedback, and the summary its accuracy and the gain over it (mean ± sd over folds).

    .venv/bin/python benchmarks/simulate_review.py --dataset head covid --json out.json
    .venv/bin/python benchmarks/simulate_review.py --dataset head --folds 5 --control --json cv.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "anomaly"
DATASETS = {  # folder, train normals, dev normals, dev abnormals, the engine's training recipe
    "head": ("head_ct_hemorrhage", "train/normal", "dev/normal", "dev/hemorrhage", "head-ct"),
    "covid": ("covid_ct", "train/noncovid", "dev/noncovid", "dev/covid", "default"),
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def halves(items: list[tuple[Path, int]], seed: int) -> tuple[list, list]:
    """Stratified random halves (review, test) of (path, label) pairs."""
    rng = np.random.default_rng(seed)
    review, test = [], []
    for label in (0, 1):
        group = [it for it in items if it[1] == label]
        order = rng.permutation(len(group))
        cut = len(group) // 2
        review += [group[i] for i in order[:cut]]
        test += [group[i] for i in order[cut:]]
    return review, test


def evaluate(model, items: list[tuple[Path, int]]) -> dict:
    from ctviewer.feedback.validation import metrics
    from ctviewer.pipeline import detect, load_inputs

    results = [detect(next(load_inputs([path])), model) for path, _ in items]
    # a not-assessed image has no verdict: counted as not flagged (and counted)
    scores = [r.score if r.assessed else 0.0 for r in results]
    labels = np.array([label for _, label in items])
    out = metrics(np.asarray(scores), labels, model.threshold)
    out["not_assessed"] = sum(not r.assessed for r in results)
    # kept for the ablations (e.g. the base model's scores at the learned threshold)
    out["threshold"] = float(model.threshold)
    out["scores"] = [round(float(s), 6) for s in scores]
    out["labels"] = labels.tolist()
    return out


def simulate_review(store, model, items: list[tuple[Path, int]], reviewer: str) -> dict:
    """The simulated radiologist; returns how many decisions of each kind it recorded."""
    from ctviewer.pipeline import detect, load_inputs

    counts = {"accept": 0, "reject": 0, "normal": 0, "missed": 0, "not_assessed": 0}
    for path, label in items:
        result = detect(next(load_inputs([path])), model)
        if not result.assessed:  # no verdict to review (e.g. a score below every normal's)
            counts["not_assessed"] += 1
            continue
        if label == 1:
            for finding in result.findings:
                store.record(result, finding, "accept", reviewer)
                counts["accept"] += 1
            if not result.findings:
                store.record(result, None, "accept", reviewer, comment="missed by the model")
                counts["missed"] += 1
        else:
            for finding in result.findings:
                store.record(result, finding, "reject", reviewer)
                counts["reject"] += 1
            store.record(result, None, "normal", reviewer)
            counts["normal"] += 1
    return counts


def base_model(name: str, args: argparse.Namespace, workdir: Path) -> tuple[Path, float]:
    """The base model trained on `train/` normals, kept in the work dir and reused if there."""
    from ctviewer.model.checkpoint import save_model
    from ctviewer.model.train import recipe, train_model

    folder, train_dir, _, _, recipe_name = DATASETS[name]
    recipe_name = args.recipe or recipe_name
    config = replace(recipe(recipe_name), device="cpu")
    if args.base_epochs is not None:
        config = replace(config, epochs=args.base_epochs)
    path = workdir / f"{name}_{recipe_name}_e{config.epochs}.pt"
    if path.is_file():
        return path, 0.0
    start = time.perf_counter()
    save_model(train_model([DATA / folder / train_dir], config), path)
    return path, time.perf_counter() - start


def run_split(name: str, base_path: Path, seed: int, args, workdir: Path) -> dict:
    """Review one half of dev (split `seed`), learn, and measure on the other half."""
    folder, train_dir, normal_dir, abnormal_dir, _ = DATASETS[name]
    root = DATA / folder
    dev = [(p, 0) for p in images(root / normal_dir)]
    dev += [(p, 1) for p in images(root / abnormal_dir)]
    review, test = halves(dev, seed)
    home = workdir / f"{name}_split{seed}"
    result = review_and_learn(base_path, review, test, [root / train_dir], home, args)
    return {"split": seed, **result}


def review_and_learn(
    base_path: Path, review: list, test: list, replay: list[Path], home: Path, args
) -> dict:
    """Simulated review of `review` into a fresh feedback store, learn, and metrics on `test`
    (images neither the base model nor the review touched) before and after, with the control
    (the same fine-tune without feedback) when asked."""
    from ctviewer.feedback.learn import LearnConfig, learn_from_feedback
    from ctviewer.feedback.store import FeedbackStore
    from ctviewer.model.checkpoint import load_model

    shutil.rmtree(home, ignore_errors=True)
    os.environ["CTVIEWER_HOME"] = str(home)  # a fresh feedback store per split
    base = load_model(base_path, device="cpu")
    before = evaluate(base, test)
    store = FeedbackStore()
    decisions = simulate_review(store, base, review, "simulated radiologist")
    start = time.perf_counter()
    outcome = learn_from_feedback(
        store,
        base_path,
        home / "learned.pt",
        config=LearnConfig(
            epochs=args.learn_epochs,
            device="cpu",
            positive_weight=args.positive_weight,
            positive_margin=args.positive_margin,
            positive_paste=args.positive_paste,
            validation_fraction=args.validation_fraction,
            cross_fit=args.cross_fit,
            threshold_rule=args.threshold_rule,
        ),
        replay=replay,
    )
    learn_s = time.perf_counter() - start
    after = evaluate(load_model(outcome.path, device="cpu"), test)
    extra = {"control": control(base, base_path, replay, args, test)} if args.control else {}
    return {
        **extra,
        "review_images": len(review),
        "test_images": len(test),
        "decisions": decisions,
        "before": before,
        "after": after,
        "accuracy_gain_points": round(100 * (after["accuracy"] - before["accuracy"]), 1),
        "active": after if outcome.promoted else before,  # what the user has after the guard
        "promoted": outcome.promoted,
        "reason": outcome.reason,
        "threshold": [outcome.parent_threshold, outcome.threshold],
        "validation": outcome.metrics,
        "counts": outcome.counts,
        "learn_s": round(learn_s, 1),
    }


def cv_splits(name: str, args, workdir: Path) -> list[dict]:
    """Cross-validated review: all labelled images (train + dev) in stratified folds; per fold
    the base model trains on the other folds' normals (the recipe, as crossval.py does), the
    simulated radiologist reviews every other-fold image (its archive: the normals it trained
    on and the abnormals it never saw), and the held-out fold is the untouched test set."""
    from crossval import load_dataset, stratified_folds, training_items

    from ctviewer.model.checkpoint import save_model
    from ctviewer.model.train import recipe, train_model

    data = load_dataset(name, DATA)
    recipe_name = args.recipe or DATASETS[name][4]
    out = []
    for seed in args.cv_seeds:
        fold = stratified_folds(data.labels, args.folds, seed)
        for k in range(args.folds):
            if args.only_folds is not None and k not in args.only_folds:
                continue
            normals = [data.paths[i] for i in training_items(data.labels, fold, k)]
            others = np.flatnonzero(fold != k)
            review = [(data.paths[i], int(data.labels[i])) for i in others]
            test = [(data.paths[i], int(data.labels[i])) for i in np.flatnonzero(fold == k)]
            config = replace(recipe(recipe_name), device="cpu", seed=seed * 100 + k)
            if args.base_epochs is not None:
                config = replace(config, epochs=args.base_epochs)
            home = workdir / f"{name}_cv{seed}_{k}"
            home.mkdir(parents=True, exist_ok=True)
            base_path = home.with_suffix(".pt")
            if not base_path.is_file():  # kept in the work dir, reused by a rerun
                save_model(train_model(normals, config), base_path)
            result = review_and_learn(base_path, review, test, normals, home, args)
            out.append({"split": f"seed {seed} fold {k}", **result})
            _print_split(name, out[-1])
    return out


def _print_split(name: str, r: dict) -> None:
    control = f", control {r['control']['accuracy']}" if "control" in r else ""
    print(
        f"{name} split {r['split']}: accuracy {r['before']['accuracy']} -> "
        f"{r['after']['accuracy']} ({r['accuracy_gain_points']:+} points{control}), AUROC "
        f"{r['before']['auroc']} -> {r['after']['auroc']} on {r['test_images']} untouched "
        f"images; promoted={r['promoted']} ({r['reason']})",
        flush=True,
    )


def control(base, base_path: Path, replay: list[Path], args, test: list) -> dict:
    """The same fine-tuning on the original normals only, without any feedback: how much of the
    change is just more training."""
    from ctviewer.feedback.learn import LearnConfig, fine_tune_config
    from ctviewer.model.train import train_model

    config = fine_tune_config(base, LearnConfig(epochs=args.learn_epochs, device="cpu"))
    return evaluate(train_model(replay, config, init_from=base_path), test)


def run(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    base_train_s = 0.0
    if args.folds:
        splits = cv_splits(name, args, workdir)
    else:
        base_path, base_train_s = base_model(name, args, workdir)
        splits = []
        for seed in range(args.seed, args.seed + args.splits):
            splits.append(run_split(name, base_path, seed, args, workdir))
            _print_split(name, splits[-1])

    def mean(when: str, key: str) -> float:
        return round(float(np.mean([r[when][key] for r in splits])), 4)

    summary = {
        f"{key}_{when}": mean(when, key)
        for key in ("accuracy", "auroc", "balanced_accuracy")
        for when in ("before", "after", "active") + (("control",) if args.control else ())
    }
    summary["accuracy_gain_points"] = round(
        100 * (summary["accuracy_after"] - summary["accuracy_before"]), 1
    )
    summary["promoted"] = sum(r["promoted"] for r in splits)
    for when in ("before", "after", "active") + (("control",) if args.control else ()):
        values = [r[when]["accuracy"] for r in splits]
        summary[f"accuracy_{when}_sd"] = round(float(np.std(values, ddof=1)), 4)
    if args.control:
        gains = [100 * (r["after"]["accuracy"] - r["control"]["accuracy"]) for r in splits]
        summary["gain_over_control_points"] = round(float(np.mean(gains)), 1)
        summary["gain_over_control_points_sd"] = round(float(np.std(gains, ddof=1)), 1)
    print(f"{name} mean over {len(splits)} splits: {summary}", flush=True)
    return {
        "dataset": name,
        "base_train_s": round(base_train_s, 1),
        "summary": summary,
        "splits": splits,
    }


def main() -> int:
    from ctviewer.feedback.learn import LearnConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", nargs="+", choices=sorted(DATASETS), default=["head"])
    parser.add_argument("--recipe", default=None, help="base recipe for every data set")
    parser.add_argument("--base-epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--learn-epochs", type=int, default=None, help="default: a fifth of base")
    parser.add_argument(
        "--positive-weight",
        type=float,
        default=LearnConfig.positive_weight,
        help="outlier exposure on accepted findings (0: off, for an ablation)",
    )
    parser.add_argument("--positive-margin", type=float, default=LearnConfig.positive_margin)
    parser.add_argument("--positive-paste", type=float, default=LearnConfig.positive_paste)
    parser.add_argument(
        "--validation-fraction", type=float, default=LearnConfig.validation_fraction
    )
    parser.add_argument(
        "--threshold-rule", default=LearnConfig.threshold_rule, help="see validation.recalibrate"
    )
    parser.add_argument(
        "--cross-fit", action="store_true", help="score reviewed images out of fold (slower)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first split's seed")
    parser.add_argument("--splits", type=int, default=3, help="review/test splits of dev")
    parser.add_argument(
        "--folds", type=int, default=0, help="cross-validated review over all labelled images"
    )
    parser.add_argument("--cv-seeds", type=int, nargs="+", default=[0], help="with --folds")
    parser.add_argument(
        "--only-folds", type=int, nargs="+", default=None, help="these folds only (split a run)"
    )
    parser.add_argument("--data", type=Path, default=None, help="the anomaly data folder")
    parser.add_argument("--workdir", type=Path, default=None, help="keep base models here")
    parser.add_argument("--control", action="store_true", help="also fine-tune without feedback")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    global DATA
    DATA = args.data or DATA
    if not DATA.is_dir():
        print(f"data folder {DATA} is absent", file=sys.stderr)
        return 1
    import torch

    torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in args.dataset:
            results.append(run(name, args, workdir))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
