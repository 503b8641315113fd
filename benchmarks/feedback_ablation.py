"""Merge `simulate_review.py --folds K --only-folds …` parts and split the feedback's effect.

Per fold, on the untouched held-out images: the base model, the control (fine-tune without
feedback), the learned model (feedback), what the user has after the promotion guard, and
`threshold only` (the base model's scores at the threshold `learn` chose, i.e. what the bagged
threshold buys without the network fine-tune). Mean ± sd over folds; needs the per-image scores
that `simulate_review.py` records.

    .venv/bin/python benchmarks/feedback_ablation.py part1.json part2.json --json merged.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ctviewer.feedback.validation import metrics

ARMS = ("before", "control", "after", "active", "threshold_only")


def threshold_only(split: dict) -> dict:
    """The base model's held-out scores at the learned model's threshold."""
    before = split["before"]
    scores, labels = np.asarray(before["scores"]), np.asarray(before["labels"])
    return metrics(scores, labels, split["after"]["threshold"])


def summarise(splits: list[dict]) -> dict:
    """Mean ± sd over folds of accuracy and AUROC per arm, and each arm's gain over control."""
    rows = {}
    for arm in ARMS:
        per_fold = [s[arm] for s in splits if arm in s]
        if not per_fold:
            continue
        acc = np.array([m["accuracy"] for m in per_fold])
        auc = np.array([m["auroc"] for m in per_fold], dtype=float)
        row = {
            "accuracy": round(float(acc.mean()), 4),
            "accuracy_sd": round(float(acc.std(ddof=1)), 4) if acc.size > 1 else None,
            "auroc": round(float(np.nanmean(auc)), 4),
            "auroc_sd": round(float(np.nanstd(auc, ddof=1)), 4) if auc.size > 1 else None,
        }
        if all("control" in s for s in splits):
            gain = 100 * (acc - np.array([s["control"]["accuracy"] for s in splits]))
            row["gain_over_control_points"] = round(float(gain.mean()), 1)
            row["gain_over_control_sd"] = (
                round(float(gain.std(ddof=1)), 1) if gain.size > 1 else None
            )
        rows[arm] = row
    return {"folds": len(splits), "arms": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", type=Path, nargs="+", help="simulate_review.py JSON outputs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    splits = []
    for part in args.parts:
        for dataset in json.loads(part.read_text()):
            splits += dataset["splits"]
    for split in splits:
        split["threshold_only"] = threshold_only(split)
    summary = summarise(splits)
    for arm, row in summary["arms"].items():
        print(f"{arm:15s} {row}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "splits": splits}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
