"""COVID-CT: which display window each 8-bit slice is in, and cross-validated AUROC by window.

Window class per image from `ctviewer.model.preprocess.black_share` (share of black pixels inside
the chest: lungs are grey in a lung window, black in a soft-tissue window); counts per class and
folder. Given crossval result files (`benchmarks/crossval.py --dataset covid`), their per-image
scores are re-read per fold: AUROC over all held-out images (the headline) and over the
lung-window images only (what a lung model can judge; soft-tissue-window images "not assessed"),
model and no-learning control, mean ± sd over folds and seeds.

    PYTHONPATH=. python benchmarks/research/covid_windows.py \
        --json benchmarks/results/covid_windows.json --control-recipe default chest-8bit \
        --crossval benchmarks/results/crossval_covid_chest8bit_v1.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from crossval import (  # noqa: E402
    _PREPARED,
    DATA,
    ConstantModel,
    load_dataset,
    parse_override,
    prepared_score,
    stratified_folds,
)

from ctviewer.anomaly.score import auroc  # noqa: E402
from ctviewer.model.preprocess import SOFT_WINDOW_BLACK, black_share  # noqa: E402
from ctviewer.pipeline import load_inputs  # noqa: E402


def windows(data: Path) -> dict[str, dict]:
    """Per image (keyed as crossval keys them: 'split/class/name'): label, black share, window."""
    ds = load_dataset("covid", data)
    out = {}
    for path, label in zip(ds.paths, ds.labels, strict=True):
        share = black_share(next(load_inputs([path])).array[0])
        key = str(path.relative_to(path.parents[2]))
        window = "soft" if share >= SOFT_WINDOW_BLACK else "lung"
        out[key] = {"label": int(label), "black_share": round(share, 4), "window": window}
    return out


def by_window(crossval: dict, info: dict) -> dict:
    """Per fold AUROC (model, control) over all held-out images and over lung-window ones."""
    rows = {f"{who}_{subset}": [] for who in ("model", "control") for subset in ("all", "lung")}
    soft_share = []
    for run in crossval["runs"]:
        items = run["images"]
        keys = list(items)
        y = np.array([items[k][0] for k in keys])
        lung = np.array([info[k]["window"] == "lung" for k in keys])
        soft_share.append(float((~lung).mean()))
        for col, who in ((1, "model"), (2, "control")):
            s = np.array([items[k][col] for k in keys])
            rows[f"{who}_all"].append(auroc(s, y))
            rows[f"{who}_lung"].append(auroc(s[lung], y[lung]))
    out = {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1))} for k, v in rows.items()}
    out["not_assessed_share"] = {
        "mean": float(np.mean(soft_share)),
        "sd": float(np.std(soft_share)),
    }
    return out


def control_runs(
    recipe_name: str, data: Path, folds: int, seeds: list[int], scoring: str = ""
) -> dict:
    """Crossval-shaped runs of the no-learning control alone (no training: its scores do not
    depend on the fold), for `by_window`; `scoring`: 'key=value,...' overrides of its Scoring."""
    from dataclasses import replace

    from ctviewer.model.preprocess import Preprocessing
    from ctviewer.model.train import recipe

    ds = load_dataset("covid", data)
    config = recipe(recipe_name)
    overrides = dict(parse_override(t) for t in scoring.split(",")) if scoring else {}
    pre = config.preprocessing or Preprocessing(kind="image")
    control = ConstantModel(pre, replace(config.scoring, **overrides))
    volumes = [next(load_inputs([p])) for p in ds.paths]  # alive: the cache keys on id()
    scores = [prepared_score(v, control) for v in volumes]
    _PREPARED.clear()
    keys = [str(p.relative_to(p.parents[2])) for p in ds.paths]
    runs = []
    for seed in seeds:
        fold = stratified_folds(ds.labels, folds, seed)
        for k in range(folds):
            held = np.flatnonzero(fold == k)
            items = {keys[i]: [int(ds.labels[i]), scores[i], scores[i]] for i in held}
            runs.append({"seed": seed, "fold": k, "images": items})
    return {"runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, default=None, help="write the per-image table here")
    parser.add_argument("--crossval", type=Path, nargs="*", default=[])
    parser.add_argument("--control-recipe", nargs="*", default=[], help="control alone, per fold")
    parser.add_argument(
        "--control-scoring", nargs="*", default=[""], help="'k=v,...' scorings of the control"
    )
    args = parser.parse_args(argv)
    info = windows(args.data)
    for folder in ("train/noncovid", "dev/noncovid", "dev/covid"):
        mine = [v for k, v in info.items() if k.startswith(folder)]
        soft = sum(v["window"] == "soft" for v in mine)
        print(f"{folder}: {len(mine)} images, {soft} soft-tissue window, {len(mine) - soft} lung")
    shares = sorted(v["black_share"] for v in info.values())
    gap = [s for s in shares if 0.05 < s < 0.3]
    print(f"black shares between 0.05 and 0.3 (threshold {SOFT_WINDOW_BLACK}): {gap}")
    record = {"threshold": SOFT_WINDOW_BLACK, "images": info, "crossval": {}}
    for path in args.crossval:
        result = by_window(json.loads(path.read_text()), info)
        record["crossval"][path.name] = result
        text = ", ".join(f"{k} {v['mean']:.3f} ± {v['sd']:.3f}" for k, v in result.items())
        print(f"{path.name}: {text}")
    for name in args.control_recipe:
        for scoring in args.control_scoring:
            result = by_window(control_runs(name, args.data, 5, [0, 1], scoring), info)
            result = {k: v for k, v in result.items() if not k.startswith("model_")}
            record["crossval"][f"control_{name}|{scoring}"] = result
            text = ", ".join(f"{k} {v['mean']:.3f} ± {v['sd']:.3f}" for k, v in result.items())
            print(f"control of {name} [{scoring}] (5 folds, seeds 0 1): {text}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
