"""Incremental learning: a new version with lineage, guarded promotion, rollback, cancel."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from ctviewer import paths
from ctviewer.anomaly.score import calibrate_threshold
from ctviewer.cli.main import main as cli_main
from ctviewer.errors import Cancelled, CTViewerError
from ctviewer.feedback import learn, versions
from ctviewer.feedback.learn import LearnConfig, learn_from_feedback
from ctviewer.feedback.store import FeedbackStore
from ctviewer.feedback.validation import bagged_threshold, guard, metrics, recalibrate
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.train import TrainConfig, train_model
from ctviewer.pipeline import detect, load_inputs
from ctviewer.synth.discs import disc_slice, write_png

SIZE = 32
TINY = LearnConfig(epochs=1, device="cpu")


def write_image(path: Path, seed: int, lesion: bool) -> Path:
    """A bright disc ("head") on black, with a bright blob when `lesion`."""
    return write_png(path, disc_slice(seed, SIZE, lesion))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("learn_data")
    train = [write_image(root / "train" / f"n{i}.png", i, False) for i in range(6)]
    config = TrainConfig(
        epochs=2,
        preprocessing=Preprocessing(kind="image", size=SIZE),
        base_channels=4,
        depth=2,
        latent_channels=4,
        device="cpu",
    )
    save_model(train_model(train, config), root / "base.pt")
    return {
        "root": root,
        "base": root / "base.pt",
        "normal": [write_image(root / "dev" / f"n{i}.png", 100 + i, False) for i in range(4)],
        "abnormal": [write_image(root / "dev" / f"a{i}.png", 200 + i, True) for i in range(4)],
    }


def review(data: dict) -> FeedbackStore:
    """Mark the dev normals normal and accept the abnormal images' findings (the image itself
    where the model found nothing), as a reviewer would."""
    store = FeedbackStore()
    model = load_model(data["base"], device="cpu")
    for path in data["normal"] + data["abnormal"]:
        result = detect(next(load_inputs([path])), model)
        if path in data["normal"]:
            store.record(result, None, "normal", "dr")
        for finding in result.findings if path in data["abnormal"] else []:
            store.record(result, finding, "accept", "dr")
        if path in data["abnormal"] and not result.findings:
            store.record(result, None, "accept", "dr")
    return store


def test_learning_writes_a_version_with_lineage(
    data: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    store = review(data)
    out = data["root"] / "learned.pt"
    argv = ["learn", "--model", str(data["base"]), "--out", str(out), "--epochs", "1", "--json"]
    argv += ["--positive-weight", "0.7"]
    assert cli_main([*argv, "--replay", str(data["root"] / "train")]) == 0
    outcome = json.loads(capsys.readouterr().out)
    base = load_model(data["base"], device="cpu")
    assert outcome["parent"] == base.info.version != outcome["version"]
    [registered] = versions.list_versions(store)
    assert registered.version == outcome["version"] and registered.parent == base.info.version
    assert sorted(registered.lineage["decision_ids"]) == [d.id for d in store.history()]
    assert registered.lineage["replay"] == [str(data["root"] / "train")]
    assert registered.metrics["new"]["n"] == registered.metrics["parent"]["n"] > 0
    learned = load_model(out, device="cpu")
    assert learned.metadata["lineage"]["parent"] == base.info.version
    assert learned.threshold == pytest.approx(outcome["threshold"])
    parent_recipe, recipe = (
        base.metadata["training"]["config"],
        learned.metadata["training"]["config"],
    )
    assert recipe["learning_rate"] == pytest.approx(0.2 * parent_recipe["learning_rate"])
    assert recipe["noise_std"] == parent_recipe["noise_std"]  # the parent's recipe, gentler
    # accepted findings of the learning fold teach by exposure; validation's are kept apart
    accepted = {d.source for d in store.decisions() if d.decision == "accept" and d.bbox}
    held = {
        i.source
        for i in learn.split_labelled(
            learn.build_pool(store.decisions()).labelled, LearnConfig().validation_fraction
        )[1]
    }
    assert outcome["counts"]["confirmed_anomalies"] == len(accepted - held) > 0
    assert learned.metadata["training"]["positive_slices"] == len(accepted - held)
    assert recipe["positive_weight"] == registered.lineage["config"]["positive_weight"] == 0.7
    assert "replay" not in learned.metadata["lineage"]  # file paths stay out of the checkpoint
    assert registered.lineage["parent_path"] == str(data["base"].resolve())
    expected = out.resolve() if outcome["promoted"] else paths.default_model_path()
    assert versions.active_model_path(store) == expected


def test_threshold_rules() -> None:
    neg, pos = np.array([0.1, 0.2, 0.6]), np.array([0.3, 0.4, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99])
    threshold, how = recalibrate(pos, neg, [], 9.9, 0.95)  # one error: the normal at 0.6
    assert threshold == pytest.approx(0.25) and "fewest errors on 11 reviewed" in how
    threshold, how = recalibrate(pos, neg, [], 9.9, 0.95, rule="youden")  # 2 misses, spec 1
    assert threshold == pytest.approx(0.65) and "Youden" in how
    others = [0.05, 0.15, 0.25]
    threshold, how = recalibrate(pos, neg, others, 9.9, 0.95, rule="specificity")
    assert threshold == calibrate_threshold([*neg, *others], 0.95) and "on 6 normals" in how
    assert recalibrate(np.array([]), neg, others, 9.9, 0.95)[0] == threshold  # one label only
    assert recalibrate(pos, np.array([]), [], 9.9, 0.95) == (
        9.9,
        "the fine-tuning's own calibration",
    )
    with pytest.raises(ValueError, match="rule"):
        recalibrate(pos, neg, [], 9.9, 0.95, rule="nonsense")


def test_bagged_threshold_is_repeatable_and_does_better_on_unseen_cases() -> None:
    """Review sets of 5 normal + 15 abnormal scores from two known distributions: the bagged
    threshold's expected accuracy on new cases of the same mix beats the single estimate's."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(5, int), np.ones(15, int)]

    def expected_accuracy(threshold: float) -> float:
        return 0.25 * norm.cdf(threshold, 1.0, 0.4) + 0.75 * norm.sf(threshold, 1.8, 0.4)

    single, bagged = [], []
    for _ in range(40):
        scores = np.r_[rng.normal(1.0, 0.4, 5), rng.normal(1.8, 0.4, 15)]
        threshold = bagged_threshold(scores, labels, "accuracy")
        assert threshold == bagged_threshold(scores, labels, "accuracy")  # deterministic
        bagged.append(expected_accuracy(threshold))
        single.append(expected_accuracy(bagged_threshold(scores, labels, "accuracy", 0)))
    assert np.mean(bagged) > np.mean(single)


def test_guard_refuses_a_worse_model() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    good = metrics(np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8]), labels, 0.45)
    worse = metrics(np.array([0.1, 0.7, 0.3, 0.6, 0.2, 0.8]), labels, 0.45)
    assert good["accuracy"] == 1.0 and worse["accuracy"] < 1.0
    assert guard(good, worse, 0.02)[0] is False
    assert "accuracy fell" in guard(good, worse, 0.02)[1]
    assert guard(worse, good, 0.02)[0] is True
    assert guard(good, good, 0.02)[0] is True  # equal is "not worse"
    empty = metrics(np.array([]), np.array([], int), 0.5)
    assert guard(empty, empty, 0.02)[0] is False  # nothing to validate on: no promotion


def test_worse_model_is_kept_but_not_promoted_and_rollback(
    data: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = review(data)
    first = data["root"] / "first.pt"
    save_model(load_model(data["base"], device="cpu"), first)
    good = versions.register_version(first, None, {}, {}, promoted=True, store=store)
    monkeypatch.setattr(learn, "guard", lambda *a: (False, "validation accuracy fell 0.9 -> 0.5"))
    outcome = learn_from_feedback(
        store, data["base"], data["root"] / "worse.pt", config=TINY, replay=[data["root"] / "train"]
    )
    assert not outcome.promoted and "accuracy fell" in outcome.reason
    assert versions.active_version(store).version == good.version  # the worse one is not active
    kept = versions.get_version(outcome.version, store)
    assert not kept.eligible and "accuracy fell" in kept.reason
    versions.promote(outcome.version, store)  # the user may still promote it by hand…
    assert versions.active_model_path(store) == (data["root"] / "worse.pt").resolve()
    assert cli_main(["models", "rollback", "--json"]) == 0  # …and roll back
    listed = json.loads(capsys.readouterr().out)
    assert listed["active_path"] == str(first.resolve())


def test_cancel_leaves_no_model_behind(data: dict) -> None:
    store = review(data)
    out_dir = data["root"] / "cancelled"
    out_dir.mkdir()
    cancel = threading.Event()

    def progress(fraction: float, message: str) -> None:
        if message.startswith("epoch"):
            cancel.set()

    with pytest.raises(Cancelled):
        learn_from_feedback(
            store, data["base"], out_dir / "m.pt", progress, cancel, TINY, [data["root"] / "train"]
        )
    assert list(out_dir.iterdir()) == []
    assert versions.list_versions(store) == []
    taken = out_dir / "taken.pt"
    taken.write_bytes(b"an earlier model")
    with pytest.raises(CTViewerError, match="already exists"):  # never overwrite a version
        learn_from_feedback(store, data["base"], taken, config=TINY)


def test_review_of_detect_results_reaches_the_store(
    data: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = data["abnormal"][0]
    argv = ["detect", str(image), "--model", str(data["base"]), "--out", str(tmp_path)]
    assert cli_main([*argv, "--device", "cpu"]) == 0
    results = tmp_path / "results.json"
    [item] = json.loads(results.read_text())["items"]
    finding_ids = [f["id"] for f in item["findings"]]
    review_argv = ["review", str(results), "--reviewer", "dr cli"]
    review_argv += ["--accept", *map(str, finding_ids)] if finding_ids else ["--normal"]
    assert cli_main(review_argv) == 0
    capsys.readouterr()
    stored = FeedbackStore().decisions(item["source"])
    assert {d.finding_id for d in stored} == (set(finding_ids) or {None})
    assert {d.reviewer for d in stored} == {"dr cli"}
    assert stored[0].model_version == load_model(data["base"], device="cpu").info.version


def test_unknown_threshold_rule_is_refused_before_training(
    data: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    review(data)
    out = data["root"] / "never.pt"
    argv = ["learn", "--model", str(data["base"]), "--out", str(out)]
    assert cli_main([*argv, "--threshold-rule", "nonsense"]) != 0
    assert "unknown threshold rule 'nonsense'" in capsys.readouterr().err
    assert not out.exists()


def test_reviewed_images_are_scored_by_fine_tunes_that_did_not_see_them(
    data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = review(data)
    calls: list[set[str]] = []
    real = learn.train_model

    def recording(inputs, config, *args, positives=(), **kwargs):
        calls.append({v.source for v in inputs} | {p.volume.source for p in positives})
        return real(inputs, config, *args, positives=positives, **kwargs)

    monkeypatch.setattr(learn, "train_model", recording)
    out = data["root"] / "crossfit.pt"
    config = dataclasses.replace(TINY, cross_fit=True)
    learn_from_feedback(store, data["base"], out, config=config, replay=[data["root"] / "train"])
    folds = learn.split_labelled(
        learn.build_pool(store.decisions()).labelled, TINY.validation_fraction
    )
    learning = {i.source for i in folds[0]}
    main, *halves = calls
    assert learning <= main and len(halves) == 2  # the new model trains on every learning image
    left_out = [learning - trained for trained in halves]
    assert left_out[0] and left_out[1] and not left_out[0] & left_out[1]
    assert left_out[0] | left_out[1] == learning  # each image scored once, by a model blind to it
    lineage = load_model(out, device="cpu").metadata["lineage"]
    assert "cross-fitting" in lineage["reviewed_images_scored_by"]
