"""Re-analysis: carry decisions over to the findings of a new analysis of the same series.

After a new model is promoted, a re-analysed series gets new findings with new ids. A decision made
on an old finding carries over to the new finding at the same place: bounding boxes overlapping
with IoU >= `MIN_IOU`, or centroids within `MAX_CENTROID_MM`. Matching is one-to-one, best
overlap first. Whole-image decisions ("normal", or "accept" of a missed anomaly) carry over as they
are, under the key None.
"""

from __future__ import annotations

import numpy as np

from ctviewer.feedback.store import Decision
from ctviewer.volume import Finding, Result

MIN_IOU = 0.3
MAX_CENTROID_MM = 10.0


def box_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """IoU of two (z0, y0, x0, z1, y1, x1) boxes, ends exclusive."""
    lo = np.maximum(a[:3], b[:3])
    hi = np.minimum(a[3:], b[3:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    vol_a = float(np.prod(np.subtract(a[3:], a[:3])))
    vol_b = float(np.prod(np.subtract(b[3:], b[:3])))
    union = vol_a + vol_b - inter
    return inter / union if union > 0 else 0.0


def _closeness(decision: Decision, finding: Finding) -> float:
    """How well an old decided finding matches a new one: IoU, or a small value for centroid-only
    matches (so any real overlap wins); -1 when they are not at the same place."""
    iou = box_iou(decision.bbox, finding.bbox) if decision.bbox else 0.0
    if iou >= MIN_IOU:
        return iou
    if decision.centroid_mm is not None:
        distance = float(np.linalg.norm(np.subtract(decision.centroid_mm, finding.centroid_mm)))
        if distance <= MAX_CENTROID_MM:
            return 1e-3 * (1.0 - distance / (MAX_CENTROID_MM + 1.0))
    return -1.0


def carry_decisions(
    old_decisions: list[Decision], new_result: Result
) -> dict[int | None, Decision]:
    """Map new finding ids (None: the whole image) to the old decisions that still apply.

    `old_decisions` are typically `store.decisions(uid)` for this series; decisions of other series
    are ignored. The returned Decisions are the old rows: record them again against `new_result`
    (with `store.record`) if they should be stored under the new model version.
    """
    key = new_result.item_key
    mine = [d for d in old_decisions if d.item_key == key]
    carried: dict[int | None, Decision] = {}
    whole = [d for d in mine if d.finding_id is None]
    if whole:
        carried[None] = max(whole, key=lambda d: d.id)
    pairs = sorted(
        (
            (_closeness(d, f), d.id, d, f)
            for d in mine
            if d.finding_id is not None
            for f in new_result.findings
        ),
        key=lambda p: (p[0], p[1]),
        reverse=True,
    )
    used: set[int] = set()
    for closeness, _, decision, finding in pairs:
        if closeness < 0:
            break
        if finding.id in carried or decision.id in used:
            continue
        carried[finding.id] = decision
        used.add(decision.id)
    return carried
