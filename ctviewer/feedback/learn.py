"""Incremental learning: the reviewers' decisions make a new model version.

1. The latest decisions become a training pool and labelled images (`pool.py` states the rule:
   rejected findings' slices and images marked normal join the normal pool; accepted findings make
   labelled positives and never enter it).
2. Labelled images are split, deterministically by a hash of their UID/source, into a learning fold
   and a validation fold (`validation_fraction`); the original training normals ("replay", given,
   or inherited from the parent version's lineage) likewise into replay and held-back normals.
3. The model is fine-tuned from its checkpoint (`train_model(init_from=...)`, with the recipe
   recorded in its metadata, a fifth of its epochs and of its learning rate) on the learning
   fold's normal pool, oversampled, mixed with the replay normals so that nothing learned before
   is forgotten. The learning fold's accepted findings teach too (outlier exposure): a hinge
   pushes the reconstruction error inside their boxes above twice the parent's threshold
   (`positive_weight`, `positive_margin`), and their pixels are pasted into a share of the normal
   slices, which the network must restore (`positive_paste`). An image accepted without a
   finding gives no place to learn from: it serves the threshold and the validation only.
4. The threshold is recalibrated on the reviewed images (`threshold_rule`): by default the one
   with the fewest errors on them, i.e. at the mix of normal and abnormal cases the reviewers
   actually see ("youden": best sensitivity + specificity whatever the mix), halfway to the next
   score for a margin, and bagged (the median over bootstrap resamples: a few dozen reviewed
   images move a single estimate a lot); with one label only, the parent's target specificity on
   the reviewed normals plus normals the new model did not train on. The new model scores the
   normals it trained on lower than unseen ones (head CT: by about 10 %), which can misplace the
   threshold; `cross_fit` scores the learning fold out of fold instead, by two more fine-tunes
   that each leave one half out. Off by default: in the head-CT simulation it cost 3x the time
   and did not do better overall (see the README).
5. Guarded promotion: on the validation set (held-back normals + the validation fold) the new
   model, with its threshold from the learning fold only, must not be worse than its parent:
   balanced accuracy (mean of sensitivity and specificity, each model at its own threshold) not
   lower, AUROC not lower by more than `max_auroc_drop`. Balanced, because the set's prevalence
   is an artefact of how many normals were held back, not the clinic's. Passing, it becomes the
   active version; failing, it is kept (listed, promotable by hand) with the reason.
6. Having validated the procedure, the threshold the new version ships with is recalibrated on
   every reviewed image (both folds): small review sets need every label they have.

The checkpoint is written atomically (temp file + rename), after the last cancel check, so a
cancelled run leaves no model file behind. File paths (replay, decided images) are kept in the
feedback database's lineage only, never in the checkpoint, which may be shared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctviewer import paths
from ctviewer.errors import CTViewerError, InputError
from ctviewer.feedback import versions
from ctviewer.feedback.pool import Labelled, Region, TrainingPool, build_pool
from ctviewer.feedback.store import FeedbackStore
from ctviewer.feedback.validation import (
    THRESHOLD_RULES,
    guard,
    hold_out,
    metrics,
    recalibrate,
    split_labelled,
)
from ctviewer.model.autoencoder import AnomalyModel
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.train import Positive, TrainConfig, train_model
from ctviewer.pipeline import detect, load_inputs
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.volume import Volume


@dataclass
class LearnConfig:
    """Fine-tuning and promotion settings."""

    epochs: int | None = None  # None: a fifth of the parent's training epochs (at least 5)
    learning_rate_scale: float = 0.2  # of the parent's training learning rate
    pool_share: float = 0.5  # feedback normals are oversampled to about this share of replay
    max_pool_repeat: int = 8
    validation_fraction: float = 0.3  # of labelled images and of replay normals
    target_specificity: float = 0.95
    threshold_rule: str = "accuracy"  # or "youden", "specificity" (see validation.recalibrate)
    cross_fit: bool = False  # score reviewed images with fine-tunes that did not train on them
    max_auroc_drop: float = 0.02
    positive_weight: float = 0.5  # outlier exposure on accepted findings; 0 turns it off
    positive_margin: float = 2.0  # times the parent's threshold
    positive_paste: float = 0.3  # share of normal slices given an accepted finding to remove
    device: str = "auto"
    seed: int = 0


@dataclass
class LearnOutcome:
    """What `learn_from_feedback` made, and whether it was promoted (and why)."""

    version: str
    path: str
    parent: str
    promoted: bool
    reason: str
    threshold: float
    parent_threshold: float
    metrics: dict[str, Any]  # {"parent": {...}, "new": {...}} on the validation set
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        state = "promoted (now active)" if self.promoted else "kept, NOT promoted"
        old, new = self.metrics.get("parent", {}), self.metrics.get("new", {})
        lines = [
            f"new model version {self.version} ({state}): {self.reason}",
            f"  file: {self.path}",
            f"  parent {self.parent}:"
            f" threshold {self.parent_threshold:.4g} -> {self.threshold:.4g}",
            f"  validation balanced accuracy {old.get('balanced_accuracy')}"
            f" -> {new.get('balanced_accuracy')},"
            f" AUROC {old.get('auroc')} -> {new.get('auroc')}",
            "  " + ", ".join(f"{k} {v}" for k, v in self.counts.items()),
        ]
        return "\n".join(lines + [f"  warning: {w}" for w in self.warnings])


# -- reading --------------------------------------------------------------------------------


class _Reader:
    """Loads decided images once each; skips (with a warning) those that cannot be read any more
    and those of another kind than the model's (CT in HU vs 8-bit images)."""

    def __init__(self, cancel: CancelFlag | None, is_hu: bool) -> None:
        self.cancel = cancel
        self.is_hu = is_hu
        self.cache: dict[str, Volume | None] = {}
        self.warnings: list[str] = []

    def volume(self, source: str, series_uid: str | None) -> Volume | None:
        key = series_uid or source
        if key not in self.cache:
            volume = self._load(source, series_uid)
            if volume is not None and volume.is_hu != self.is_hu:
                self.warnings.append(f"skipped {source}: not the kind of image this model reads")
                volume = None
            self.cache[key] = volume
        return self.cache[key]

    def _load(self, source: str, series_uid: str | None) -> Volume | None:
        try:
            for volume in load_inputs([source], cancel=self.cancel):
                if series_uid is None or volume.series_uid == series_uid:
                    return volume
        except InputError as error:
            self.warnings.append(f"skipped a decided image that cannot be read: {error}")
            return None
        self.warnings.append(f"skipped {source}: series {series_uid} not found there any more")
        return None

    def region(self, region: Region) -> Volume | None:
        volume = self.volume(region.source, region.series_uid)
        if volume is None or region.slices is None:
            return volume
        start, end = region.slices
        return dataclasses.replace(
            volume,
            array=volume.array[start : end + 1],
            origin=volume.index_to_mm(start, 0, 0),
            files=volume.files[start : end + 1],
        )


# -- scoring --------------------------------------------------------------------------------


def _scores(model: AnomalyModel, volumes: list[Volume], cancel: CancelFlag | None) -> np.ndarray:
    out = []
    for volume in volumes:
        check_cancel(cancel)
        out.append(detect(volume, model).score)
    return np.asarray(out, dtype=float)


# -- the job --------------------------------------------------------------------------------


def _span(progress: ProgressFn | None, start: float, stop: float) -> ProgressFn:
    return lambda fraction, message: report(progress, start + (stop - start) * fraction, message)


def _replay_sources(base_path: Path, replay: Sequence[str | Path] | None, store) -> list[str]:
    """Replay given, else inherited from the registered version whose file is `base_path`."""
    if replay is not None:
        return [str(p) for p in replay]
    for version in versions.list_versions(store):
        if Path(version.path) == base_path.resolve():
            return list(version.lineage.get("replay", []))
    return []


@dataclass
class _Material:
    """Everything the fine-tuning and the validation read, split into folds."""

    normals: list[Volume]  # feedback normal pool (learning fold and unlabelled regions)
    positives: list[Positive]  # the learning fold's confirmed anomalies
    replay: list[Volume]  # original training normals to mix in
    held_normals: list[Volume]  # original training normals kept for validation
    learning: list[Labelled]
    validation: list[Labelled]
    normal_keys: list[str] = field(default_factory=list)  # the image each normal comes from
    positive_keys: list[str] = field(default_factory=list)

    def without(self, keys: set[str]) -> _Material:
        """The same material less everything from the images `keys` (for cross-fitting)."""
        normals = [(k, v) for k, v in zip(self.normal_keys, self.normals, strict=True)]
        positives = [(k, p) for k, p in zip(self.positive_keys, self.positives, strict=True)]
        normals = [(k, v) for k, v in normals if k not in keys]
        positives = [(k, p) for k, p in positives if k not in keys]
        return dataclasses.replace(
            self,
            normals=[v for _, v in normals],
            normal_keys=[k for k, _ in normals],
            positives=[p for _, p in positives],
            positive_keys=[k for k, _ in positives],
            learning=[i for i in self.learning if i.item_key not in keys],
        )


def _gather(pool: TrainingPool, replay_sources: list[str], reader: _Reader, config) -> _Material:
    learning, validation = split_labelled(pool.labelled, config.validation_fraction)
    held_out = {i.item_key for i in validation}
    regions = [(r.item_key, reader.region(r)) for r in pool.normal if r.item_key not in held_out]
    regions = [(k, v) for k, v in regions if v is not None]
    positives = [
        (item.item_key, Positive(volume, item.bboxes))
        for item in learning
        if item.label == 1
        and item.bboxes  # an image accepted without a finding does not say where
        and (volume := reader.volume(item.source, item.series_uid)) is not None
    ]
    replay = list(load_inputs(replay_sources, cancel=reader.cancel))
    held_keys = hold_out([v.item_key for v in replay], config.validation_fraction)
    if not replay_sources:
        reader.warnings.append("no replay of the original training normals: forgetting is likely")
    return _Material(
        normals=[v for _, v in regions],
        positives=[p for _, p in positives],
        replay=[v for v in replay if v.item_key not in held_keys],
        held_normals=[v for v in replay if v.item_key in held_keys],
        learning=learning,
        validation=validation,
        normal_keys=[k for k, _ in regions],
        positive_keys=[k for k, _ in positives],
    )


def fine_tune_config(base: AnomalyModel, config: LearnConfig) -> TrainConfig:
    """The recipe the parent was trained with (from its metadata), shorter and gentler."""
    recorded = base.metadata.get("training", {}).get("config", {})
    known = {k: v for k, v in recorded.items() if k in TrainConfig.__dataclass_fields__}
    known.pop("preprocessing", None)
    known.pop("scoring", None)
    parent = TrainConfig(**known)
    epochs = config.epochs if config.epochs is not None else max(5, round(parent.epochs / 5))
    return dataclasses.replace(
        parent,
        epochs=epochs,
        learning_rate=parent.learning_rate * config.learning_rate_scale,
        positive_weight=config.positive_weight,
        positive_margin=config.positive_margin,
        positive_paste=config.positive_paste,
        device=config.device,
        seed=config.seed,
        name=str(base.metadata.get("name", parent.name)),
    )


def _fine_tune(
    base: AnomalyModel, base_path: Path, material: _Material, config: LearnConfig, progress, cancel
) -> tuple[AnomalyModel, int]:
    """The fine-tuned model, and how often each feedback normal was repeated."""
    if not material.normals and not material.replay:
        raise CTViewerError("nothing to fine-tune on: no normal images in the feedback or replay")
    repeat = 1
    if material.normals and material.replay:
        wanted = config.pool_share * len(material.replay) / len(material.normals)
        repeat = int(min(config.max_pool_repeat, max(1, round(wanted))))
    train_config = fine_tune_config(base, config)
    model = train_model(
        material.normals * repeat,
        train_config,
        progress=progress,
        cancel=cancel,
        init_from=base_path,
        extra_normals=material.replay,
        positives=material.positives,
    )
    return model, repeat


def _labelled_scores(model: AnomalyModel, items: list[Labelled], reader: _Reader):
    pairs = [(reader.volume(i.source, i.series_uid), i.label) for i in items]
    pairs = [(v, label) for v, label in pairs if v is not None]
    scores = _scores(model, [v for v, _ in pairs], reader.cancel)
    return scores, np.array([label for _, label in pairs], dtype=int)


def _out_of_fold_scores(
    base: AnomalyModel,
    base_path: Path,
    material: _Material,
    config: LearnConfig,
    reader: _Reader,
    progress: ProgressFn,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Scores of the learning fold's reviewed images, each from a fine-tune that did not train on
    it (two halves, each left out once). Scores of images the model trained on are biased (a
    normal in the pool scores lower than an unseen one), so a threshold set on them misplaces
    the operating point. None when a half leaves nothing to fine-tune on."""
    halves = split_labelled(material.learning, 0.5)
    scores, labels = [], []
    for k, half in enumerate(halves):
        if not half:
            continue
        rest = material.without({i.item_key for i in half})
        if not rest.normals and not rest.replay:
            return None
        span = _span(progress, k / len(halves), (k + 1) / len(halves))
        model, _ = _fine_tune(base, base_path, rest, config, span, reader.cancel)
        half_scores, half_labels = _labelled_scores(model, half, reader)
        scores.append(half_scores)
        labels.append(half_labels)
    return (np.concatenate(scores), np.concatenate(labels)) if scores else None


def _calibrate(
    model: AnomalyModel,
    scored: tuple[np.ndarray, np.ndarray],
    other_normals: Sequence[float],
    config: LearnConfig,
) -> tuple[float, str]:
    """The threshold from reviewed images' (scores, labels) for `model` (see `recalibrate`)."""
    scores, labels = scored
    calibration = model.metadata.get("calibration", {})
    return recalibrate(
        scores[labels == 1],
        scores[labels == 0],
        [*calibration.get("normal_scores", []), *other_normals],
        model.threshold,
        model.metadata.get("target_specificity", config.target_specificity),
        calibration.get("method", "empirical"),
        config.threshold_rule,
    )


def _validation_scores(
    model: AnomalyModel, material: _Material, reader: _Reader
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores and labels of the validation fold, and scores of the held-back normals."""
    scores, labels = _labelled_scores(model, material.validation, reader)
    return scores, labels, _scores(model, material.held_normals, reader.cancel)


def _validate(
    base: AnomalyModel,
    threshold: float,
    new_scores: tuple[np.ndarray, np.ndarray, np.ndarray],
    material: _Material,
    reader: _Reader,
) -> dict[str, dict[str, Any]]:
    """Metrics of the parent and the new model (its `_validation_scores` given, at `threshold`)
    on held-back normals + the validation fold."""
    out = {}
    parent_scores = _validation_scores(base, material, reader)
    for name, (fold, labels, held), t in (
        ("parent", parent_scores, base.threshold),
        ("new", new_scores, threshold),
    ):
        out[name] = metrics(np.r_[fold, held], np.r_[labels, np.zeros(held.size, dtype=int)], t)
    return out


def learn_from_feedback(
    store: FeedbackStore,
    base_model_path: str | Path,
    out_path: str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    config: LearnConfig | None = None,
    replay: Sequence[str | Path] | None = None,
) -> LearnOutcome:
    """Fine-tune `base_model_path` on the recorded decisions → a new, registered model version.

    `replay`: the original training normals (files/folders); default: the parent's lineage.
    `out_path`: the new checkpoint, which must not exist yet (default: `<models dir>/<version>.pt`).
    """
    config = config or LearnConfig()
    if config.threshold_rule not in THRESHOLD_RULES:
        raise CTViewerError(
            f"unknown threshold rule {config.threshold_rule!r}; choose one of "
            + ", ".join(THRESHOLD_RULES)
        )
    base_path = Path(base_model_path)
    if out_path is not None and Path(out_path).exists():
        raise CTViewerError("already exists; choose a new file for the new model version", out_path)
    report(progress, 0.0, "reading decisions")
    pool = build_pool(store.decisions())
    if not pool.normal and not pool.labelled:
        raise CTViewerError("no decisions to learn from yet: accept or reject some findings first")
    store.backup("before-learn")  # learning writes a version and may promote it
    base = load_model(base_path, device=config.device)
    reader = _Reader(cancel, is_hu=base.preprocessing.kind == "hu")
    report(progress, 0.02, "reading the images behind the decisions")
    replay_sources = _replay_sources(base_path, replay, store)
    material = _gather(pool, replay_sources, reader, config)
    model, repeat = _fine_tune(
        base, base_path, material, config, _span(progress, 0.05, 0.45), cancel
    )
    report(progress, 0.45, "scoring reviewed images with models that did not train on them")
    learning = None
    if config.cross_fit:
        learning = _out_of_fold_scores(
            base, base_path, material, config, reader, _span(progress, 0.45, 0.8)
        )
    scored_by = "fine-tunes that did not train on them (2-fold cross-fitting)"
    if learning is None:  # off, or too little material: in-sample scores (biased)
        learning = _labelled_scores(model, material.learning, reader)
        scored_by = "the new model, which trained on them"
    new_scores = _validation_scores(model, material, reader)  # never trained on

    report(progress, 0.82, "recalibrating the threshold on reviewed images")
    validated, _ = _calibrate(model, learning, [], config)
    report(progress, 0.86, "validating against the parent model")
    metric_report = _validate(base, validated, new_scores, material, reader)
    promoted, reason = guard(metric_report["parent"], metric_report["new"], config.max_auroc_drop)
    report(progress, 0.94, "final threshold from every reviewed image")
    fold, labels, held = new_scores  # validation is over: the held-back normals count too
    everything = (np.r_[learning[0], fold], np.r_[learning[1], labels])
    threshold, how = _calibrate(model, everything, held, config)
    check_cancel(cancel)  # the last point where stopping is allowed: nothing written yet

    counts = {
        "decisions": len(pool.decision_ids),
        "normal_regions": len(material.normals),
        "confirmed_anomalies": len(material.positives),
        "pool_repeat": repeat,
        "replay_normals": len(material.replay),
        "labelled_learning": len(material.learning),
        "labelled_validation": len(material.validation),
        "held_back_normals": len(material.held_normals),
    }
    lineage = {
        "parent": base.info.version,
        "decision_ids": pool.decision_ids,
        "threshold_rule": how,
        "reviewed_images_scored_by": scored_by,
        "validated_threshold": validated,
        "counts": counts,
        "config": dataclasses.asdict(config),
    }
    model.metadata.update(threshold=float(threshold), lineage=lineage, feedback=metric_report)
    version = model.info.version
    out = Path(out_path) if out_path is not None else paths.models_dir() / f"{version}.pt"
    report(progress, 0.97, "saving the new model version")
    save_model(model, out)
    private = {"parent_path": str(base_path.resolve()), "replay": replay_sources}
    try:
        versions.register_version(
            out,
            base.info.version,
            {**lineage, **private, "sources": _sources(pool)},
            metric_report,
            promoted,
            reason,
            version=version,
            store=store,
        )
    except CTViewerError:
        out.unlink(missing_ok=True)  # an unregistered model would be an orphan
        raise
    report(progress, 1.0, "promoted" if promoted else "kept, not promoted")
    return LearnOutcome(
        version=version,
        path=str(out),
        parent=base.info.version,
        promoted=promoted,
        reason=reason,
        threshold=float(threshold),
        parent_threshold=base.threshold,
        metrics=metric_report,
        counts=counts,
        warnings=reader.warnings,
    )


def _sources(pool: TrainingPool) -> list[str]:
    return sorted({r.source for r in pool.normal} | {i.source for i in pool.labelled})
