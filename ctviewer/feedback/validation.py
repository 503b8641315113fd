"""How a new model version is judged: folds, metrics, threshold recalibration, promotion guard.

Pure numpy on scores and labels, so the rules can be read (and tested) apart from the training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ctviewer.anomaly.score import (
    accuracy_threshold,
    auroc,
    calibrate_threshold,
    youden_threshold,
)
from ctviewer.feedback.pool import Labelled


def _hash(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def hold_out(keys: Sequence[str], fraction: float) -> set[str]:
    """Keys of the validation fold: the `fraction` with the smallest hashes (none of a single)."""
    if len(keys) < 2 or fraction <= 0:
        return set()
    n = min(len(keys) - 1, max(1, round(fraction * len(keys))))
    return set(sorted(keys, key=_hash)[:n])


def split_labelled(labelled: list[Labelled], fraction: float) -> tuple[list, list]:
    """(learning, validation) folds, stratified by label."""
    validation: set[str] = set()
    for label in (0, 1):
        validation |= hold_out([i.item_key for i in labelled if i.label == label], fraction)
    return (
        [i for i in labelled if i.item_key not in validation],
        [i for i in labelled if i.item_key in validation],
    )


def metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    """Balanced accuracy, accuracy, AUROC (None without both labels), sensitivity and specificity
    at `threshold` (`score > threshold` flags)."""
    flagged = scores > threshold
    pos, neg = labels == 1, labels == 0
    both = bool(pos.any() and neg.any())
    sensitivity = float(flagged[pos].mean()) if pos.any() else None
    specificity = float((~flagged[neg]).mean()) if neg.any() else None
    known = [v for v in (sensitivity, specificity) if v is not None]
    return {
        "balanced_accuracy": round(float(np.mean(known)), 4) if known else None,
        "accuracy": round(float((flagged == pos).mean()), 4) if labels.size else None,
        "auroc": round(auroc(scores, labels), 4) if both else None,
        "sensitivity": None if sensitivity is None else round(sensitivity, 4),
        "specificity": None if specificity is None else round(specificity, 4),
        "n": int(labels.size),
    }


THRESHOLD_RULES = ("accuracy", "youden", "specificity")


def _midpoint(scores: np.ndarray, labels: np.ndarray, rule: str) -> float:
    """The rule's threshold on labelled scores, halfway to the next score above (a margin)."""
    best = (accuracy_threshold if rule == "accuracy" else youden_threshold)(scores, labels)
    above = scores[scores > best]
    return float((best + above.min()) / 2) if above.size else float(best)


def bagged_threshold(
    scores: np.ndarray, labels: np.ndarray, rule: str, resamples: int = 200
) -> float:
    """The median of the rule's threshold over bootstrap resamples of the labelled images: a
    review of a few dozen images moves a single threshold a lot; bagging steadies it."""
    rng = np.random.default_rng(0)  # deterministic: the same decisions give the same model
    found = [_midpoint(scores, labels, rule)]
    for _ in range(resamples):
        pick = rng.integers(0, scores.size, scores.size)
        if labels[pick].min() != labels[pick].max():
            found.append(_midpoint(scores[pick], labels[pick], rule))
    return float(np.median(found))


def recalibrate(
    pos: np.ndarray,
    neg: np.ndarray,
    other_normals: Sequence[float],
    fallback: float,
    target_specificity: float,
    method: str = "empirical",
    rule: str = "accuracy",
) -> tuple[float, str]:
    """The new threshold (see step 4 of `learn`'s docstring), and how it was chosen.

    With reviewed images of both labels: "accuracy", the fewest errors on them (at the mix of
    cases the reviewers saw), or "youden", the best sensitivity + specificity whatever the mix;
    either halfway to the next score above, bagged over bootstrap resamples. "specificity", or a
    review with one label only: the target specificity, by `method`, on the reviewed normals plus
    `other_normals` (normals the model did not train on); with no normals at all, `fallback`."""
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; choose one of {THRESHOLD_RULES}")
    if rule != "specificity" and pos.size and neg.size:
        scores = np.r_[pos, neg]
        labels = np.r_[np.ones(pos.size, dtype=int), np.zeros(neg.size, dtype=int)]
        what = "fewest errors" if rule == "accuracy" else "Youden's J"
        return bagged_threshold(scores, labels, rule), f"{what} on {scores.size} reviewed images"
    normals = np.r_[neg, np.asarray(other_normals, dtype=float)]
    if normals.size:
        threshold = calibrate_threshold(normals, target_specificity, method)
        return threshold, f"{target_specificity:.0%} specificity on {normals.size} normals"
    return fallback, "the fine-tuning's own calibration"


def guard(parent: dict[str, Any], new: dict[str, Any], max_auroc_drop: float) -> tuple[bool, str]:
    """Is the new model not worse than its parent on the validation set? (and why)"""
    if not parent.get("n"):
        return False, "no validation data (give replay normals or record more decisions)"
    if new["balanced_accuracy"] < parent["balanced_accuracy"]:
        old_value, new_value = parent["balanced_accuracy"], new["balanced_accuracy"]
        return False, f"validation balanced accuracy fell {old_value} -> {new_value}"
    if (
        parent["auroc"] is not None
        and new["auroc"] is not None
        and new["auroc"] < parent["auroc"] - max_auroc_drop
    ):
        return False, f"validation AUROC fell {parent['auroc']} -> {new['auroc']}"
    return True, "not worse than its parent on the validation set"
