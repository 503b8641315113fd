"""What the decisions teach: the normal training pool and the labelled images.

The rule, per image/series (its latest decisions, over every model version that analysed it):

- An **accepted** finding (or a whole-image "accept" of a missed anomaly) makes the image a
  labelled **positive**. It never joins the normal pool; it is used to calibrate the threshold, to
  validate a new model, and — when it is a finding, so that we know where — as an
  outlier-exposure example in fine-tuning: the network is pushed to *not* reconstruct the
  accepted finding's box, so that its reconstruction error, the anomaly score, rises there.
- A **rejected** finding is normal anatomy the model wrongly flagged: the slices it spans (its
  region, `Region.bbox`, recorded beside them) join the **normal pool** — unless an accepted finding
  of the same series spans any of those slices (then the slice holds a real anomaly and stays out).
- When the reviewer marks the whole image "normal", or rejects every finding of an analysis, the
  whole image/series joins the normal pool and is a labelled **negative**.
- An image with some findings rejected and others undecided has no image-level label.

The autoencoder trains on whole slices, so a rejected region enters training as the slice(s) that
hold it; the bounding box is kept in the pool so the lineage says exactly what was learned from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ctviewer.feedback.store import Decision


@dataclass
class Region:
    """Slices of one image/series that join the normal pool, and why."""

    source: str
    series_uid: str | None
    slices: tuple[int, int] | None  # inclusive slice range; None = the whole image/series
    bboxes: list[tuple[int, ...]] = field(default_factory=list)  # the rejected findings' boxes
    decision_ids: list[int] = field(default_factory=list)

    @property
    def item_key(self) -> str:
        return self.series_uid or self.source


@dataclass
class Labelled:
    """An image/series with an image-level label from the reviewer (1 = abnormal)."""

    source: str
    series_uid: str | None
    label: int
    decision_ids: list[int] = field(default_factory=list)
    bboxes: list[tuple[int, ...]] = field(default_factory=list)  # the accepted findings' boxes

    @property
    def item_key(self) -> str:
        return self.series_uid or self.source


@dataclass
class TrainingPool:
    """The decisions turned into training and calibration material."""

    normal: list[Region] = field(default_factory=list)
    labelled: list[Labelled] = field(default_factory=list)
    decision_ids: list[int] = field(default_factory=list)  # every decision used


def _rejected_regions(decisions: list[Decision], accepted: list[Decision]) -> list[Region]:
    """One region per rejected finding whose slices no accepted finding touches."""
    regions = []
    for d in decisions:
        if d.decision != "reject" or d.slice_start is None or d.slice_end is None:
            continue
        if any(
            a.slice_start is None or (a.slice_start <= d.slice_end and d.slice_start <= a.slice_end)
            for a in accepted
        ):
            continue  # a whole-image accept (no slices) also keeps every slice out
        regions.append(
            Region(
                d.source,
                d.series_uid,
                (d.slice_start, d.slice_end),
                [d.bbox] if d.bbox else [],
                [d.id],
            )
        )
    return regions


def _all_rejected(decisions: list[Decision]) -> bool:
    """Every finding of one analysis (one model version) was rejected."""
    by_version: dict[str, list[Decision]] = {}
    for d in decisions:
        if d.finding_id is not None:
            by_version.setdefault(d.model_version, []).append(d)
    return any(
        ds[0].n_findings > 0
        and len({d.finding_id for d in ds if d.decision == "reject"}) >= ds[0].n_findings
        for ds in by_version.values()
    )


def build_pool(decisions: list[Decision]) -> TrainingPool:
    """Apply the rule of the module docstring to the latest decisions (`store.decisions()`)."""
    by_item: dict[str, list[Decision]] = {}
    for d in decisions:
        by_item.setdefault(d.item_key, []).append(d)
    pool = TrainingPool()
    for item in by_item.values():
        first = item[0]
        ids = [d.id for d in item]
        accepted = [d for d in item if d.decision == "accept"]
        if accepted:
            boxes = [d.bbox for d in accepted if d.bbox]
            pool.labelled.append(Labelled(first.source, first.series_uid, 1, ids, boxes))
            pool.normal += _rejected_regions(item, accepted)
        elif any(d.decision == "normal" for d in item) or _all_rejected(item):
            boxes = [d.bbox for d in item if d.bbox]
            pool.normal.append(Region(first.source, first.series_uid, None, boxes, ids))
            pool.labelled.append(Labelled(first.source, first.series_uid, 0, ids))
        else:
            pool.normal += _rejected_regions(item, [])
        pool.decision_ids += ids
    return pool
