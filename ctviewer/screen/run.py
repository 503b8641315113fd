"""`screen(sources, out)`: discover the series, list them in the worklist, analyse what is not done.

The loop here is the one writer of the worklist: it claims a series, hands it to the runner
(this process, a process pool or Ray actors) and commits each Outcome as it comes back, one
transaction per series. Stopping: the cancel flag or a first Ctrl-C stops handing out series and
waits for those in flight (their results are kept); a second Ctrl-C aborts them. Either way the
claims still held go back to pending, and the same command resumes.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from ctviewer.progress import CancelFlag, ProgressFn, report, subrange
from ctviewer.screen.analyst import ModelSpec
from ctviewer.screen.outcome import Outcome
from ctviewer.screen.runners import Runner, make_runner
from ctviewer.screen.sources import find_series
from ctviewer.screen.worklist import Worklist

POLL_S = 0.5  # how long the loop waits for an outcome before looking at the cancel flag again
DISCOVERY_SHARE = 0.05  # of the progress bar


@dataclass
class ScreenSummary:
    """What one `screen` call did."""

    worklist: str
    runner: str
    workers: int
    found: int  # series under the sources
    added: int  # of them, new to the worklist
    screened: int  # outcomes written by this call
    counts: dict[str, int]  # the whole worklist by state (see Worklist.counts)
    seconds: float
    series_per_hour: float  # this call's outcomes over its analysis time
    interrupted: bool = False
    set_aside: int = 0
    notes: list[str] = field(default_factory=list)


class _Tally:
    """Progress text: counts of the whole worklist, this run's rate, for `ProgressLine`."""

    def __init__(self, worklist: Worklist, progress: ProgressFn | None) -> None:
        counts = worklist.counts()
        self.total, self.final = counts["total"], counts["total"] - counts["pending"]
        self.states = Counter(
            flagged=counts["flagged"],
            not_assessed=counts["not_assessed"],
            failed=counts["failed"],
        )
        self.progress = subrange(progress, DISCOVERY_SHARE, 1.0)
        self.written, self.started = 0, time.monotonic()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return 3600.0 * self.written / elapsed if elapsed > 0 else 0.0

    def add(self, outcome: Outcome) -> None:
        self.written += 1
        self.final += 1
        if outcome.status == "failed":
            self.states["failed"] += 1
        elif not outcome.assessed:
            self.states["not_assessed"] += 1
        elif outcome.abnormal:
            self.states["flagged"] += 1
        self.show()

    def show(self, note: str = "") -> None:
        s = self.states
        text = (
            f"{self.final}/{self.total} series · {s['flagged']} flagged · "
            f"{s['not_assessed']} not assessed · {s['failed']} failed · "
            f"{self.rate():.0f} series/h{note}"
        )
        report(self.progress, self.final / max(1, self.total), text)


def screen(
    sources: list[str],
    out: str | Path,
    workers: int | None = None,
    ray: str | None = None,
    model: str | Path | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> ScreenSummary:
    """Screen every series under `sources` into the worklist `out` (see the module docstring)."""
    started = time.monotonic()
    final = _final_series(Path(out))
    found = find_series(
        sources, subrange(progress, 0.0, DISCOVERY_SHARE), cancel, final.__contains__
    )
    spec, problems = ModelSpec.for_run(model, device)
    runner = make_runner(spec, workers, ray, threads)
    with Worklist(out) as worklist:
        added = worklist.add(found.series)
        run = worklist.start_run(runner.name, runner.workers)
        tally = _Tally(worklist, progress)
        outcome, interrupted = "failed", False
        try:
            interrupted = _screen_pending(worklist, run, runner, tally, cancel)
            outcome = "interrupted" if interrupted else "finished"
        finally:
            worklist.end_run(run, outcome)
        return ScreenSummary(
            worklist=str(out),
            runner=runner.name,
            workers=runner.workers,
            found=len(found.series),
            added=added,
            screened=tally.written,
            counts=worklist.counts(),
            seconds=round(time.monotonic() - started, 2),
            series_per_hour=round(tally.rate(), 1),
            interrupted=interrupted,
            set_aside=found.set_aside,
            notes=found.notes + problems,
        )


def _final_series(out: Path) -> set[str]:
    """The series UIDs an earlier run of this worklist finished (none before the first run)."""
    if not out.is_file():
        return set()
    with Worklist(out, create=False) as worklist:
        return worklist.final_series_uids()


def _screen_pending(
    worklist: Worklist, run: str, runner: Runner, tally: _Tally, cancel: CancelFlag | None
) -> bool:
    """Hand out and collect every pending series; True when stopped before the end."""
    queue = deque(worklist.pending())
    if not queue:
        return False
    stopping = aborted = False
    runner.start()
    tally.started = time.monotonic()  # the rate counts analysis, not worker start-up
    try:
        while True:
            try:
                while queue and not stopping and runner.in_flight() < runner.capacity:
                    series = queue.popleft()
                    if worklist.claim(series.key, run):
                        runner.submit(series)
                if not runner.in_flight():
                    break
                for outcome in runner.done(POLL_S):
                    if worklist.record(outcome, run):  # else no longer ours: not counted
                        tally.add(outcome)
                if cancel is not None and cancel.is_set() and not stopping:
                    stopping = True
                    tally.show(f" · stopping: finishing {runner.in_flight()} in flight")
            except KeyboardInterrupt:
                if stopping:
                    aborted = True
                    break
                stopping = True
                tally.show(f" · stopping: finishing {runner.in_flight()} (Ctrl-C again: abort)")
    finally:
        runner.close(abort=aborted)
    return stopping and tally.final < tally.total
