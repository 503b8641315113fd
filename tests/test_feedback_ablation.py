"""The feedback ablation's threshold-only arm and its summary over folds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _ablation():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "feedback_ablation.py"
    spec = importlib.util.spec_from_file_location("feedback_ablation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _split(before_threshold: float, learned_threshold: float, control_acc: float) -> dict:
    scores, labels = [0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]
    before = {"scores": scores, "labels": labels, "threshold": before_threshold}
    before |= {"accuracy": 0.5, "auroc": 1.0}
    after = {"threshold": learned_threshold, "accuracy": 1.0, "auroc": 1.0}
    return {"before": before, "after": after, "control": {"accuracy": control_acc, "auroc": 1.0}}


def test_threshold_only_rescores_the_base_model_at_the_learned_threshold():
    ab = _ablation()
    assert ab.threshold_only(_split(0.35, 0.25, 0.5))["accuracy"] == 1.0
    assert ab.threshold_only(_split(0.25, 0.45, 0.5))["accuracy"] == 0.5


def test_summary_gives_gain_over_the_control_per_arm():
    ab = _ablation()
    splits = [_split(0.35, 0.25, 0.5), _split(0.35, 0.45, 0.75)]
    for split in splits:
        split["threshold_only"] = ab.threshold_only(split)
    arms = ab.summarise(splits)["arms"]
    assert arms["after"]["gain_over_control_points"] == pytest.approx(37.5)
    assert arms["threshold_only"]["accuracy"] == pytest.approx(0.75)
    assert arms["control"]["gain_over_control_points"] == 0.0
