"""Metrics and threshold calibration against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from ctviewer.anomaly import score


def test_auroc_matches_hand_count() -> None:
    # pairs (abnormal, normal): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 -> 3 of 4
    assert score.auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_auroc_counts_ties_as_half() -> None:
    assert score.auroc([1, 1, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.5)
    assert score.auroc([0, 2, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.875)


def test_average_precision_hand_value() -> None:
    # ranked: 0.8 (hit, precision 1), 0.4 (miss), 0.35 (hit, precision 2/3)
    assert score.average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(5 / 6)


def test_average_precision_ties_are_not_flattering() -> None:
    assert score.average_precision([1, 1], [1, 0]) == pytest.approx(0.5)


def test_calibrate_threshold_keeps_target_specificity() -> None:
    normals = np.arange(1, 21, dtype=float)  # 1..20
    threshold = score.calibrate_threshold(normals, 0.95)
    assert threshold == 19.0
    assert (normals <= threshold).mean() == pytest.approx(0.95)
    assert score.calibrate_threshold(normals, 1.0) == 20.0


def test_youden_and_accuracy_on_separable_scores() -> None:
    s = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    y = [0, 0, 0, 1, 1, 1]
    threshold = score.youden_threshold(s, y)
    assert 0.3 <= threshold < 0.7
    assert score.accuracy(s, y, threshold) == 1.0
    assert score.accuracy(s, y, 0.75) == pytest.approx(5 / 6)


def test_sensitivity_at_specificity() -> None:
    normal = list(np.linspace(0, 1, 20))
    abnormal = [0.5, 0.97, 2.0, 3.0]
    s, y = normal + abnormal, [0] * 20 + [1] * 4
    # the 95 % threshold is the 19th normal (0.947...): three abnormal scores lie above it
    assert score.sensitivity_at_specificity(s, y, 0.95) == pytest.approx(0.75)


def test_metrics_need_both_classes() -> None:
    with pytest.raises(ValueError, match="both"):
        score.auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError):
        score.calibrate_threshold([])


def test_top_percent_mean() -> None:
    values = np.arange(200, dtype=float)
    assert score.top_percent_mean(values, 1.0) == pytest.approx(198.5)
    assert score.top_percent_mean(np.array([]), 1.0) == 0.0


def test_lognormal_calibration_ignores_one_extreme_normal() -> None:
    rng = np.random.default_rng(0)
    normals = np.exp(rng.normal(0.0, 0.1, 9))
    with_outlier = np.append(normals, 50.0)
    robust = score.calibrate_threshold(with_outlier, 0.95, method="lognormal")
    assert score.calibrate_threshold(with_outlier, 0.95) == 50.0
    assert 1.0 < robust < 2.0  # about exp(1.645 * 0.1) for log-normal(0, 0.1)
    with pytest.raises(ValueError, match="method"):
        score.calibrate_threshold(normals, 0.95, method="guess")


def test_accuracy_threshold_follows_the_case_mix() -> None:
    scores = np.array([0.1, 0.2, 0.6, 0.3, 0.7, 0.8, 0.9, 0.95])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    # one error either way: the false alarm at 0.6 (the lower, more sensitive, wins the tie) ...
    assert score.accuracy_threshold(scores, labels) == 0.2
    # ... while Youden's J prefers the miss at 0.3: 4/5 + 3/3 beats 5/5 + 2/3
    assert score.youden_threshold(scores, labels) == 0.6
