"""Decisions → training pool rule, and carrying decisions over to a re-analysis."""

from __future__ import annotations

import dataclasses

from test_feedback_store import make_result

from ctviewer.feedback.carry import carry_decisions
from ctviewer.feedback.pool import build_pool
from ctviewer.feedback.store import FeedbackStore


def test_pool_rule() -> None:
    store = FeedbackStore()
    rejected_all = make_result("/d/normal_flagged.png")
    for f in rejected_all.findings:
        store.record(rejected_all, f, "reject", "dr")
    marked_normal = make_result("/d/normal_quiet.png", n=0)
    store.record(marked_normal, None, "normal", "dr")
    mixed = make_result("/d/bleed.png")  # one real finding, one false alarm on the same slice
    store.record(mixed, mixed.findings[0], "accept", "dr")
    store.record(mixed, mixed.findings[1], "reject", "dr")
    partial = make_result("/d/partial.png")  # one of two findings rejected, no verdict
    store.record(partial, partial.findings[1], "reject", "dr")
    missed = make_result("/d/missed.png", n=0)
    store.record(missed, None, "accept", "dr")
    series = make_result("/d/series", uid="1.2.9", n=3)
    spans = [(0, 4), (10, 12), (3, 6)]
    series.findings = [
        dataclasses.replace(f, slice_start=a, slice_end=b)
        for f, (a, b) in zip(series.findings, spans, strict=True)
    ]
    store.record(series, series.findings[0], "accept", "dr")
    store.record(series, series.findings[1], "reject", "dr")  # slices 10-12: clear of the accept
    store.record(series, series.findings[2], "reject", "dr")  # slices 3-6 overlap it: kept out

    pool = build_pool(store.decisions())
    labels = {item.source: item.label for item in pool.labelled}
    assert labels == {
        "/d/normal_flagged.png": 0,
        "/d/normal_quiet.png": 0,
        "/d/bleed.png": 1,
        "/d/missed.png": 1,
        "/d/series": 1,
    }
    normal = {(r.source, r.slices) for r in pool.normal}
    assert normal == {
        ("/d/normal_flagged.png", None),
        ("/d/normal_quiet.png", None),
        ("/d/partial.png", (0, 0)),
        ("/d/series", (10, 12)),
    }
    [part] = [r for r in pool.normal if r.source == "/d/partial.png"]
    assert part.bboxes == [partial.findings[1].bbox]
    exposure = {item.source: item.bboxes for item in pool.labelled if item.label == 1}
    assert exposure == {  # where fine-tuning must not reconstruct: the accepted boxes only
        "/d/bleed.png": [mixed.findings[0].bbox],
        "/d/missed.png": [],  # accepted without a finding: no place to learn from
        "/d/series": [series.findings[0].bbox],
    }
    assert sorted(pool.decision_ids) == [d.id for d in store.history()]


def test_changed_decision_changes_the_pool() -> None:
    store = FeedbackStore()
    result = make_result("/d/a.png", n=1)
    store.record(result, result.findings[0], "reject", "dr")
    assert [r.source for r in build_pool(store.decisions()).normal] == ["/d/a.png"]
    store.record(result, result.findings[0], "accept", "dr")
    pool = build_pool(store.decisions())
    assert pool.normal == [] and [i.label for i in pool.labelled] == [1]


def test_carry_decisions_follow_the_place() -> None:
    store = FeedbackStore()
    old = make_result("/d/a.png", n=2)  # findings at (0..8) and (10..18)
    store.record(old, old.findings[0], "accept", "dr")
    store.record(old, old.findings[1], "reject", "dr")
    store.record(old, None, "accept", "dr")
    new = make_result("/d/a.png", n=3)
    # new finding 1 moved onto the old finding 2's place; new 2 sits where old 1 was; new 3 is new
    new.findings[0] = dataclasses.replace(
        new.findings[0], bbox=old.findings[1].bbox, centroid_mm=old.findings[1].centroid_mm
    )
    new.findings[1] = dataclasses.replace(
        new.findings[1], bbox=(0, 1, 1, 1, 9, 9), centroid_mm=(5.0, 5.0, 0.0)
    )
    new.findings[2] = dataclasses.replace(
        new.findings[2], bbox=(0, 60, 60, 1, 70, 70), centroid_mm=(65.0, 65.0, 0.0)
    )
    carried = carry_decisions(store.decisions(), new)
    assert {k: d.decision for k, d in carried.items()} == {1: "reject", 2: "accept", None: "accept"}
    assert carried[2].finding_id == 1
    assert carry_decisions(store.decisions(), make_result("/d/other.png")) == {}
