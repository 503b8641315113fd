"""The report's verdict: the model's (`Result.verdict`) with what the reviewer decided on top.

A report written after the review must say what the reviewer decided: a series whose every
finding was rejected is not "Flagged for review" any more, even though the model flagged it
(which the detail line still says). Not assessed stays "Not assessed", whatever was decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctviewer.feedback.store import Decision
from ctviewer.volume import Result

# headline colour by state: never green for a series that was not assessed
STATE_COLOURS = {
    "not_assessed": "#555555",
    "flagged": "#a03000",
    "listed": "#8a5a00",
    "clear": "#1e6b2e",
    "reviewed": "#1f4e9a",  # the reviewer's decision replaced the model's verdict
}


@dataclass
class ReportVerdict:
    headline: str
    detail: str
    state: str  # a `Result.state`, or "reviewed"

    @property
    def colour(self) -> str:
        return STATE_COLOURS[self.state]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def review_counts(result: Result, decisions: dict[int | None, Decision]) -> str:
    """`Reviewer: 1 accepted, 2 rejected, 0 not reviewed.` ("" when nothing was decided)."""
    kinds = [decisions[f.id].decision for f in result.findings if f.id in decisions]
    if not kinds:
        return ""
    accepted, rejected = kinds.count("accept"), kinds.count("reject")
    unreviewed = len(result.findings) - len(kinds)
    return f"Reviewer: {accepted} accepted, {rejected} rejected, {unreviewed} not reviewed."


def report_verdict(result: Result, decisions: dict[int | None, Decision]) -> ReportVerdict:
    """Headline, detail and colour state of the report (see the module docstring)."""
    headline, detail = result.verdict()
    if not result.assessed:
        return ReportVerdict(headline, detail, result.state)
    decided = {f.id: decisions[f.id] for f in result.findings if f.id in decisions}
    accepted = [d for d in decided.values() if d.decision == "accept"]
    rejected = [d for d in decided.values() if d.decision == "reject"]
    series = decisions.get(None)
    model_line = f"Model verdict: {headline}. {detail}"
    counts = review_counts(result, decisions)
    reviewers = ", ".join(sorted({d.reviewer for d in rejected}))
    if accepted:  # a confirmed region outweighs a series-level "normal"
        n = len(result.findings)
        return ReportVerdict(
            f"Reviewed: {len(accepted)} of {_plural(n, 'finding')} accepted",
            f"{model_line} {counts}",
            "flagged",
        )
    if series is not None and series.decision == "accept":
        return ReportVerdict(
            f"Reviewed: marked abnormal by {series.reviewer}", f"{model_line} {counts}", "flagged"
        )
    if series is not None and series.decision == "normal":
        return ReportVerdict(
            f"Reviewed: marked normal by {series.reviewer}", f"{model_line} {counts}", "reviewed"
        )
    if result.findings and len(rejected) == len(result.findings):
        return ReportVerdict(
            f"Reviewed: every finding rejected by {reviewers}", f"{model_line} {counts}", "reviewed"
        )
    return ReportVerdict(headline, f"{detail} {counts}".strip(), result.state)
