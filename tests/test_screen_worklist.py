"""The worklist database without a model: rows added once, outcomes written only by the run that
claimed them and only once, dead runs' claims handed back, priority order, stored results read
back, and `ctviewer worklist` as text, JSON and CSV."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ctviewer.cli.main import main
from ctviewer.screen.outcome import Outcome, decode_maps, encode_maps
from ctviewer.screen.worklist import Worklist
from ctviewer.volume import Finding, ModelInfo, Result, SeriesInfo

SHAPE = (4, 8, 8)
MODEL = ModelInfo(name="m", version="v1", threshold=0.5, body_part="chest")


def info(key: str) -> SeriesInfo:
    return SeriesInfo(
        key=key, series_uid=key, modality="CT", description=key, files=[f"/a/{key}/1.dcm"],
        n_images=SHAPE[0], rows=SHAPE[1], cols=SHAPE[2], spacing=(1.0, 1.0, 1.0),
    )  # fmt: skip


def result(key: str, score: float, threshold: float = 0.5, findings: int = 0) -> Result:
    rng = np.random.default_rng(len(key))
    labels = np.zeros(SHAPE, dtype=np.int32)
    found = []
    for k in range(1, findings + 1):
        labels[k - 1, 2:4, 2:4] = k
        found.append(
            Finding(
                id=k, slice_start=k - 1, slice_end=k - 1, bbox=(k - 1, 2, 2, k, 4, 4),
                centroid_mm=(1.5, 2.5, float(k)), voxels=4, size_mm3=4.0, area_mm2=None,
                peak=0.123456789, mean=0.1,
            )
        )  # fmt: skip
    return Result(
        source=f"/a/{key}", series_uid=key, model=MODEL, score=score, threshold=threshold,
        abnormal=score > threshold, slice_scores=rng.random(SHAPE[0]).astype(np.float32),
        anomaly_map=rng.random(SHAPE).astype(np.float32), labels=labels, findings=found,
    )  # fmt: skip


def screened(worklist: Worklist, outcomes: list[Outcome]) -> str:
    run = worklist.start_run("test", 1)
    for outcome in outcomes:
        assert worklist.claim(outcome.key, run)
        assert worklist.record(outcome, run)
    worklist.end_run(run, "finished")
    return run


@pytest.fixture
def worklist(tmp_path: Path) -> Worklist:
    wl = Worklist(tmp_path / "wl.sqlite")
    keys = ["low", "high", "mid", "na", "bad", "todo", "neg"]
    assert wl.add([(info(k), f"/a/{k}") for k in keys]) == len(keys)
    not_assessed = Result.not_assessed(_volume(), "no model fits")
    screened(
        wl,
        [
            Outcome.from_result("low", result("low", 0.2)),
            Outcome.from_result("high", result("high", 0.9, findings=2)),
            Outcome.from_result("mid", result("mid", 0.45, findings=1)),
            Outcome.from_result("neg", result("neg", 0.4, threshold=-1.0)),  # priority 1.4
            Outcome.from_result("na", not_assessed),
            Outcome(key="bad", status="failed", error="/a/bad: truncated file"),
        ],
    )
    yield wl
    wl.close()


def _volume():
    from ctviewer.volume import Volume

    return Volume(array=np.zeros(SHAPE, np.float32), spacing=(1.0, 1.0, 1.0), source="/a/na")


def test_rows_come_by_priority_and_unjudged_last(worklist: Worklist) -> None:
    rows = worklist.rows()
    assert [r.key for r in rows] == ["high", "neg", "mid", "low", "na", "bad", "todo"]
    assert [r.state for r in rows] == [
        "flagged", "flagged", "listed", "clear", "not_assessed", "failed", "pending",
    ]  # fmt: skip
    assert rows[0].priority == pytest.approx(0.9 / 0.5)
    assert rows[4].not_assessed_reason == "no model fits" and rows[4].score is None
    assert worklist.counts() == {
        "flagged": 2, "listed": 1, "clear": 1, "not_assessed": 1, "failed": 1, "pending": 1,
        "total": 7,
    }  # fmt: skip


def test_adding_again_adds_nothing_and_keeps_outcomes(worklist: Worklist) -> None:
    assert worklist.add([(info("high"), "/elsewhere/high"), (info("new"), "/a/new")]) == 1
    high = worklist.row("high")
    assert high.status == "done" and high.source == "/a/high" and high.results_written == 1
    assert [s.key for s in worklist.pending()] == ["todo", "new"]


def test_an_outcome_is_written_once_and_only_by_its_claimant(worklist: Worklist) -> None:
    run = worklist.start_run("test", 1)
    assert not worklist.claim("high", run), "a done series was handed out again"
    again = Outcome.from_result("high", result("high", 0.1))
    assert not worklist.record(again, run)
    assert worklist.row("high").score == pytest.approx(0.9)
    other = worklist.start_run("test", 1)
    assert worklist.claim("todo", run) and not worklist.claim("todo", other)
    assert not worklist.record(Outcome.from_result("todo", result("todo", 0.3)), other)
    assert worklist.record(Outcome.from_result("todo", result("todo", 0.3)), run)
    assert {r.results_written for r in worklist.rows()} == {1}


def test_claims_of_a_dead_run_go_back_to_pending(tmp_path: Path, worklist: Worklist) -> None:
    run = worklist.start_run("test", 1)
    assert worklist.claim("todo", run)
    dead = run.split(":")[0] + ":999999999:" + run.split(":", 2)[2]
    with sqlite3.connect(worklist.path) as conn:
        conn.execute("UPDATE series SET claimed_by = ? WHERE key = 'todo'", (dead,))
    assert worklist.pending() == []
    worklist.start_run("test", 1)  # a new run finds the claim's process gone
    assert [s.key for s in worklist.pending()] == ["todo"]
    live = worklist.start_run("test", 1)
    assert worklist.claim("todo", live)
    worklist.start_run("test", 1)  # this process is alive: its claim stays
    assert worklist.pending() == []
    worklist.end_run(live, "interrupted")
    assert [s.key for s in worklist.pending()] == ["todo"]


def test_stored_result_reads_back(worklist: Worklist, tmp_path: Path) -> None:
    original = result("high", 0.9, findings=2)
    stored = worklist.result(worklist.row("high"))
    assert stored.findings == original.findings  # exact, peak included
    assert np.array_equal(stored.labels, original.labels)
    assert np.array_equal(stored.slice_scores, original.slice_scores)
    assert np.allclose(stored.anomaly_map, original.anomaly_map, rtol=1e-3, atol=1e-4)
    assert stored.score == original.score and stored.abnormal and stored.model.version == "v1"
    assert stored.state == "flagged" and stored.item_key == original.item_key
    sparse = result("sparse", 0.3, findings=1)
    sparse.anomaly_map[1:] = 0.0  # a lung map is zero almost everywhere; a label may lie
    sparse.labels[2, 0, 0] = 7  # where the map is 0 (a threshold at or below 0)
    path = tmp_path / "sparse.npz"
    path.write_bytes(encode_maps(sparse))
    amap, labels, scores = decode_maps(path)
    assert np.array_equal(labels, sparse.labels) and labels.dtype == np.int32
    assert np.array_equal(amap, sparse.anomaly_map.astype(np.float16).astype(np.float32))
    assert np.array_equal(scores, sparse.slice_scores)
    with pytest.raises(Exception, match="no stored result"):
        worklist.result(worklist.row("todo"))


def test_worklist_command_json_csv_and_text(worklist: Worklist, tmp_path: Path, capsys) -> None:
    path = str(worklist.path)
    assert main(["worklist", path, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["series_uid"] for r in rows] == ["high", "neg", "mid", "low", "na", "bad", "todo"]
    for key in ("source", "score", "threshold", "abnormal", "assessed", "findings", "status"):
        assert key in rows[0]
    assert rows[0]["findings"][0]["bbox"] == [0, 2, 2, 1, 4, 4] and rows[0]["abnormal"]
    assert rows[4]["assessed"] is False and rows[4]["score"] is None
    assert rows[5]["status"] == "failed" and "truncated" in rows[5]["error"]

    out = tmp_path / "wl.csv"
    assert main(["worklist", path, "--csv", str(out)]) == 0
    table = list(csv.DictReader(out.open()))
    assert [r["series_uid"] for r in table] == [r["series_uid"] for r in rows]
    assert table[0]["findings"] == "2" and table[0]["abnormal"] == "True"
    capsys.readouterr()

    assert main(["worklist", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1. FLAGGED score 0.9 / 0.5 (1.80×), 2 findings: /a/high")
    assert lines[4].startswith("5. NOT ASSESSED no model fits")


def test_worklist_bad_inputs_are_one_line_errors(tmp_path: Path, capsys) -> None:
    assert main(["worklist", str(tmp_path / "missing.sqlite")]) == 1
    assert "no such worklist" in capsys.readouterr().err
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    assert main(["worklist", str(junk)]) == 1
    err = capsys.readouterr().err
    assert "not a worklist database" in err and len(err.strip().splitlines()) == 1
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE decisions (id INTEGER)")
    assert main(["worklist", str(other)]) == 1
    assert "not a worklist database" in capsys.readouterr().err
