"""`ctviewer screen` over a folder of phantoms with the bundled models: 2 pool workers, kill -9
mid-way and resume (every series exactly once), Ctrl-C stops cleanly and resumes, the worklist
puts the phantoms with a nodule first and the air volume (no model fits) after the verdicts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from screen_archive import PYTHON, SICK, subprocess_env, write_archive

from ctviewer.cli.main import main
from ctviewer.screen import Worklist
from ctviewer.screen.analyst import Analyst, ModelSpec
from ctviewer.volume import SeriesInfo

N_SERIES = 8  # 6 DICOM + 2 NIfTI
WAIT_S = 300.0


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("archive"))


def final_rows(db: Path) -> dict[str, tuple]:
    """key → (status, finished_utc, score) of the rows already final ({} before the DB exists)."""
    if not db.is_file():
        return {}
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            rows = conn.execute(
                "SELECT key, status, finished_utc, score FROM series"
                " WHERE status IN ('done', 'failed')"
            ).fetchall()
    except sqlite3.OperationalError:  # created but no table yet
        return {}
    return {key: (status, when, score) for key, status, when, score in rows}


def start_screen(archive: Path, db: Path, home: Path, *extra: str) -> subprocess.Popen:
    command = [PYTHON, "-m", "ctviewer", "screen", str(archive), "--out", str(db), *extra]
    return subprocess.Popen(
        command,
        env=subprocess_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches the pool too
        preexec_fn=interruptible,
    )


def interruptible() -> None:
    """Ctrl-C reaches the child even when this test runs in the background (where the shell
    makes it ignore SIGINT, and Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_first_outcomes(process: subprocess.Popen, db: Path) -> dict[str, tuple]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done = final_rows(db)
        if done:
            return done
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"no series screened within {WAIT_S:.0f} s")


def test_kill_9_mid_way_then_resume_screens_every_series_once(
    archive: Path, tmp_path: Path, ctviewer_home: Path, capsys
) -> None:
    db = tmp_path / "wl.sqlite"
    process = start_screen(archive, db, ctviewer_home, "--workers", "2")
    wait_for_first_outcomes(process, db)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    before = final_rows(db)  # whatever was committed until the kill
    assert 0 < len(before) < N_SERIES, "the kill came too late to test resuming"

    assert main(["screen", str(archive), "--out", str(db), "--workers", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["found"] == N_SERIES and summary["added"] == 0
    assert summary["screened"] == N_SERIES - len(before)
    after = final_rows(db)
    assert len(after) == N_SERIES
    for key, row in before.items():
        assert after[key] == row, f"{key} was screened again after the kill"
    with Worklist(db) as worklist:
        rows = worklist.rows()
        outcomes = [run["outcome"] for run in worklist.runs()]
    assert {r.results_written for r in rows} == {1}, "a series was written twice"
    assert outcomes == ["died", "finished"]

    # the worklist: the nodules first, the verdicts by score/threshold, the air volume last
    sick = {f"p{n}" for n in SICK}
    assert {Path(r.source).name for r in rows[:2]} == sick
    ratios = [r.priority for r in rows if r.assessed]
    assert ratios == sorted(ratios, reverse=True) and len(ratios) == N_SERIES - 1
    assert Path(rows[-1].source).name == "air.nii.gz" and not rows[-1].assessed
    assert "body part" in rows[-1].not_assessed_reason
    assert all(r.worker_peak_rss_mb and r.worker_peak_rss_mb > 50 for r in rows)
    assert len({r.model.version for r in rows if r.assessed}) == 1


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(
    archive: Path, tmp_path: Path, ctviewer_home: Path, capsys
) -> None:
    db = tmp_path / "wl.sqlite"
    process = start_screen(archive, db, ctviewer_home)  # one worker: this process
    wait_for_first_outcomes(process, db)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted: run the same command again to resume" in err
    assert "Traceback" not in err
    with Worklist(db) as worklist:
        statuses = {r.status for r in worklist.rows()}
        left = len(worklist.pending())
    assert "running" not in statuses, "an interrupted run kept its claims"
    assert 0 < left < N_SERIES
    assert main(["screen", str(archive), "--out", str(db)]) == 0
    assert f"this run: {left} screened (0 new)" in capsys.readouterr().out
    assert len(final_rows(db)) == N_SERIES


def test_a_series_that_cannot_be_read_is_a_failed_row(archive: Path, tmp_path: Path) -> None:
    spec, _ = ModelSpec.for_run(None)
    gone = SeriesInfo(
        key="1.2.3.gone", series_uid="1.2.3.gone", modality="CT", description="gone",
        files=[str(tmp_path / "gone" / f"{i}.dcm") for i in range(3)], n_images=3, rows=96,
        cols=96, spacing=(1.0, 1.0, 1.0),
    )  # fmt: skip
    outcome = Analyst(spec, threads=1).screen(gone)
    assert outcome.status == "failed" and str(tmp_path / "gone") in outcome.error
    assert "\n" not in outcome.error and outcome.score is None


def test_screen_bad_inputs_are_one_line_errors(archive: Path, tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "wl.sqlite")
    assert main(["screen", str(tmp_path / "nothing"), "--out", db]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    assert main(["screen", str(empty), "--out", db]) == 1
    assert "nothing to screen" in capsys.readouterr().err
    assert main(["screen", "pacs://node?modality=CT", "--out", db]) == 1
    assert "unknown PACS node 'node'" in capsys.readouterr().err  # tests/test_screen_pacs.py
    assert main(["screen", str(archive), "--out", db, "--workers", "0"]) == 1
    assert "--workers must be 1 or more" in capsys.readouterr().err
    assert main(["screen", str(archive), "--out", db, "--model", str(tmp_path / "x.pt")]) == 1
    assert "no such model file" in capsys.readouterr().err
