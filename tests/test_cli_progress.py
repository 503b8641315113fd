"""The progress line every long CLI command (train, detect, learn, ...) shows on stderr."""

from __future__ import annotations

import io

from ctviewer.cli.common import ProgressLine, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_gets_a_bar_with_the_message_and_an_eta() -> None:
    out, clock = io.StringIO(), Clock()
    line = ProgressLine(stream=out, clock=clock, tty=True)
    line(0.0, "epoch 1/12 loss 0.0000")
    clock.now += 30.0
    line(0.25, "epoch 3/12 loss 0.0123")
    drawn = out.getvalue().split("\r")[-1]
    assert "█████░" in drawn and "25% epoch 3/12 loss 0.0123" in drawn
    assert drawn.rstrip().endswith("ETA 1:30")  # a quarter in 30 s: 90 s to go
    line.close()
    assert out.getvalue().endswith("\n")


def test_without_a_terminal_a_long_job_prints_a_line_every_few_seconds() -> None:
    out, clock = io.StringIO(), Clock()
    line = ProgressLine(stream=out, clock=clock, tty=False)
    for step in range(61):  # 60 steps of 0.5 s: 30 s in all
        line(step / 60, f"epoch {step // 10 + 1}/6 loss 0.01")
        clock.now += 0.5
    line.close()
    lines = out.getvalue().splitlines()
    assert 5 <= len(lines) <= 7 and "\r" not in out.getvalue()
    assert lines[0].startswith("[ 17% epoch 2/6 loss 0.01 · ETA 0:25")
    quick = io.StringIO()
    ProgressLine(stream=quick, clock=Clock(), tty=False)(0.5, "done in no time")
    assert quick.getvalue() == ""  # a command of a second or two stays quiet


def test_durations_read_as_clock_time() -> None:
    assert [format_duration(s) for s in (7, 272, 3723)] == ["0:07", "4:32", "1:02:03"]
