"""How a new model version is judged: folds, metrics, threshold recalibration, promotion guard.

Pure numpy on scores and labels, so the rules can be read (and tested) apart from the training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ctviewer.anomaly.score import auroc, calibrate_threshold, youden_threshold
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


def recalibrate(
    pos: np.ndarray, neg: np.ndarray, fallback: float, target_specificity: float
) -> tuple[float, str]:
    """The new threshold from labelled scores (see step 4 of the module docstring)."""
    if pos.size and neg.size:
        scores = np.r_[pos, neg]
        best = youden_threshold(scores, np.r_[np.ones(pos.size), np.zeros(neg.size)])
        above = scores[scores > best]
        # halfway to the next score: the same split of the reviewed images, with a margin
        threshold = (best + above.min()) / 2 if above.size else best
        return float(threshold), "Youden on reviewed images (midpoint)"
    if neg.size:
        return (
            max(fallback, calibrate_threshold(neg, target_specificity)),
            "target specificity on held-back and reviewed normals",
        )
    return fallback, "target specificity on held-back normals"


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
