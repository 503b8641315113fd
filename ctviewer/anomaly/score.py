"""Image/series scores from anomaly maps, threshold calibration, and detection metrics.

Scores are "higher = more unusual". Labels are 1 for abnormal, 0 for normal. All functions take
plain sequences or numpy arrays and return floats, so the CLI, tests and research share them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, rankdata

ArrayLike = Sequence[float] | np.ndarray
CALIBRATION_METHODS = ("empirical", "lognormal")


def _scores_labels(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if y.all() or not y.any():
        raise ValueError("need both normal (0) and abnormal (1) labels")
    return s, y


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count one half)."""
    s, y = _scores_labels(scores, labels)
    ranks = rankdata(s)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(scores: ArrayLike, labels: ArrayLike) -> float:
    """Mean precision at the rank of each abnormal case (ties ranked pessimistically)."""
    s, y = _scores_labels(scores, labels)
    # a positive tied with negatives is ranked after them, so ties never flatter the model
    order = np.lexsort((y, -s))
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision[hits].mean())


def accuracy(scores: ArrayLike, labels: ArrayLike, threshold: float) -> float:
    """Fraction classified correctly when `score > threshold` means abnormal."""
    s, y = _scores_labels(scores, labels)
    return float(((s > threshold) == y).mean())


def sensitivity_at_specificity(scores: ArrayLike, labels: ArrayLike, specificity: float) -> float:
    """Sensitivity at the threshold calibrated on the normals for `specificity`."""
    s, y = _scores_labels(scores, labels)
    threshold = calibrate_threshold(s[~y], specificity)
    return float((s[y] > threshold).mean())


def calibrate_threshold(
    normal_scores: ArrayLike, target_specificity: float = 0.95, method: str = "empirical"
) -> float:
    """Threshold for `target_specificity` on normal scores (`score > threshold` flags a case).

    "empirical": the smallest threshold keeping that share of the normals at or below it.
    "lognormal": the quantile of a log-normal fitted robustly (median, MAD) to the scores; with
    few normals the empirical quantile is just the most extreme one, this one is steadier.
    """
    s = np.sort(np.asarray(normal_scores, dtype=float).ravel())
    if s.size == 0:
        raise ValueError("no normal scores to calibrate on")
    if not 0.0 < target_specificity <= 1.0:
        raise ValueError(f"target specificity {target_specificity} is not in (0, 1]")
    if method == "lognormal" and s.size >= 3 and s.min() > 0 and target_specificity < 1.0:
        logs = np.log(s)
        centre = np.median(logs)
        spread = 1.4826 * np.median(np.abs(logs - centre))
        return float(np.exp(centre + norm.ppf(target_specificity) * spread))
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {method!r}")
    k = int(np.ceil(target_specificity * s.size)) - 1
    return float(s[max(k, 0)])


def youden_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The threshold maximising sensitivity + specificity - 1 (ties: the lowest such threshold)."""
    s, y = _scores_labels(scores, labels)
    candidates = np.unique(s)
    best, best_j = float(candidates[0]), -np.inf
    for t in candidates:
        j = (s[y] > t).mean() + (s[~y] <= t).mean() - 1.0
        if j > best_j:
            best, best_j = float(t), j
    return best


def accuracy_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The threshold with the fewest errors on these labelled scores, i.e. at their own mix of
    normal and abnormal cases (ties: the lowest such threshold, the more sensitive)."""
    s, y = _scores_labels(scores, labels)
    candidates = np.unique(s)
    correct = [((s > t) == y).sum() for t in candidates]
    return float(candidates[int(np.argmax(correct))])


def top_percent_mean(values: np.ndarray, percent: float) -> float:
    """Mean of the largest `percent` % of `values` (at least one value); 0 for an empty array."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    if flat.size == 0:
        return 0.0
    k = max(1, int(round(flat.size * percent / 100.0)))
    return float(np.partition(flat, flat.size - k)[flat.size - k :].mean())
