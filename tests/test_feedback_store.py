"""The feedback store: decisions committed at once, latest per finding, history, versions."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ctviewer import paths
from ctviewer.cli.main import main as cli_main
from ctviewer.errors import CTViewerError
from ctviewer.feedback import versions
from ctviewer.feedback.store import FeedbackStore
from ctviewer.volume import Finding, ModelInfo, Result


def make_result(source: str = "/data/a.png", uid: str | None = None, n: int = 2) -> Result:
    findings = [
        Finding(
            id=i + 1,
            slice_start=0,
            slice_end=0,
            bbox=(0, 10 * i, 10 * i, 1, 10 * i + 8, 10 * i + 8),
            centroid_mm=(10.0 * i + 4, 10.0 * i + 4, 0.0),
            voxels=64,
            size_mm3=None,
            area_mm2=64.0,
            peak=0.5 + i,
            mean=0.3,
        )
        for i in range(n)
    ]
    empty = np.zeros((1, 32, 32), np.float32)
    return Result(
        source=source,
        series_uid=uid,
        model=ModelInfo(name="cae", version="1.0", threshold=0.1),
        score=0.2,
        threshold=0.1,
        abnormal=True,
        slice_scores=np.array([0.2], np.float32),
        anomaly_map=empty,
        labels=empty.astype(np.int32),
        findings=findings,
    )


def test_record_latest_and_history() -> None:
    result = make_result(uid="1.2.3")
    with FeedbackStore() as store:
        first = store.record(result, result.findings[0], "accept", "dr a")
        store.record(result, result.findings[1], "reject", "dr a", comment="vessel")
        store.record(result, result.findings[0], "reject", "dr b")  # changes its mind
        latest = {d.finding_id: d for d in store.decisions("1.2.3")}
        assert {k: d.decision for k, d in latest.items()} == {1: "reject", 2: "reject"}
        assert latest[1].reviewer == "dr b"
        assert latest[2].comment == "vessel"
        assert latest[2].bbox == result.findings[1].bbox
        assert [d.decision for d in store.history("1.2.3")] == ["accept", "reject", "reject"]
        assert store.history("/data/a.png")[0] == first  # found by source too
        assert store.decisions("other") == []
    assert paths.feedback_db_path().is_file()


def test_second_store_sees_decisions_and_bad_input_is_one_line(tmp_path: Path) -> None:
    result = make_result()
    FeedbackStore().record(result, None, "normal", "dr a")
    other = FeedbackStore()
    [decision] = other.decisions()
    assert decision.finding_id is None and decision.decision == "normal"
    with pytest.raises(CTViewerError, match="unknown decision"):
        other.record(result, result.findings[0], "maybe", "dr a")
    with pytest.raises(CTViewerError, match="reject decision needs a finding"):
        other.record(result, None, "reject", "dr a")
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CTViewerError, match="corrupt.sqlite") as info:
        FeedbackStore(corrupt)
    assert "\n" not in str(info.value)
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(CTViewerError, match="newer than this ctviewer"):
        FeedbackStore(newer)


def test_locked_database_is_a_one_line_error() -> None:
    result = make_result()
    holder = FeedbackStore()
    waiter = FeedbackStore(busy_timeout_s=0.1)
    with holder.transaction() as conn:  # another window in the middle of a write
        conn.execute("DELETE FROM decisions")
        with pytest.raises(CTViewerError, match="busy"):
            waiter.record(result, None, "normal", "dr")
    assert waiter.record(result, None, "normal", "dr").id > 0  # and works once it is free


def test_kill_9_keeps_committed_decisions(tmp_path: Path) -> None:
    """A process recording decisions is killed hard; every decision it reported survives."""
    db = tmp_path / "fb.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_feedback_store import make_result
        from ctviewer.feedback.store import FeedbackStore
        store = FeedbackStore({str(db)!r})
        result = make_result()
        for i in range(10_000):
            d = store.record(result, result.findings[i % 2], ("accept", "reject")[i % 2], "dr")
            print(d.id, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = [int(proc.stdout.readline()) for _ in range(20)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ids = {d.id for d in FeedbackStore(db).history()}
    assert set(seen) <= ids


def test_versions_promote_and_rollback(tmp_path: Path) -> None:
    store = FeedbackStore()
    assert versions.active_model_path(store) == paths.default_model_path()
    files = []
    for name in ("a", "b"):
        files.append(tmp_path / f"{name}.pt")
        shutil.copyfile(paths.default_model_path(), files[-1])  # promotion loads the file
    v1 = versions.register_version(files[0], None, {"decisions": [1]}, {"auroc": 0.7}, True)
    v2 = versions.register_version(files[1], v1.version, {}, {"auroc": 0.6}, False, "worse")
    assert versions.active_model_path(store) == files[0].resolve()
    assert [v.version for v in versions.list_versions(store)] == [v1.version, v2.version]
    assert versions.get_version(v1.version).lineage == {"decisions": [1]}
    versions.promote(v2.version, store)
    assert versions.active_model_path(store) == files[1].resolve()
    assert versions.rollback(store).version == v1.version
    assert versions.active_model_path(store) == files[0].resolve()
    assert versions.rollback(store) is None
    assert versions.active_model_path(store) == paths.default_model_path()
    with pytest.raises(CTViewerError, match="nothing to roll back"):
        versions.rollback(store)


def test_cli_review_records_into_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = make_result(source=str(tmp_path / "x.png"))
    results_json = tmp_path / "results.json"
    model = {"name": "cae", "version": "1.0", "threshold": 0.1}
    results_json.write_text(json.dumps({"model": model, "items": [result.to_json()]}))
    assert cli_main(["review", str(results_json), "--accept", "1", "--reject", "2"]) == 0
    latest = {d.finding_id: d.decision for d in FeedbackStore().decisions(result.source)}
    assert latest == {1: "accept", 2: "reject"}
    assert cli_main(["review", str(results_json), "--reject", "7"]) == 1
    assert "no finding with id [7]" in capsys.readouterr().err
    assert cli_main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["versions"] == [] and listed["active_path"] == str(paths.default_model_path())


def test_measurements_survive_reopening_edits_and_a_schema_1_store(tmp_path: Path) -> None:
    from ctviewer.measurement import Measurement

    path = tmp_path / "old.sqlite"
    with FeedbackStore(path) as store:  # make it look like a store from before measurements
        store.query("DROP TABLE measurements")
        store.query("PRAGMA user_version=1")
    length = Measurement("length", 3, ((1, 2), (4, 6)), values={"length": 5.0})
    roi = Measurement("ellipse", 4, ((0, 0), (9, 9)))
    with FeedbackStore(path) as store:
        store.save_measurement("uid-a", length)
        store.save_measurement("uid-a", roi)
        store.save_measurement("uid-b", Measurement("rectangle", 0, ((0, 0), (1, 1))))
        length.points_yx = ((1, 2), (7, 10))  # edited: same id, same place in the list
        store.save_measurement("uid-a", length)
    with FeedbackStore(path) as store:
        kept = store.measurements("uid-a")
        assert [m.id for m in kept] == [length.id, roi.id]
        assert kept[0].points_yx == ((1.0, 2.0), (7.0, 10.0)) and kept[0].values == {"length": 5.0}
        store.delete_measurement(roi.id)
        assert [m.id for m in store.measurements("uid-a")] == [length.id]
        assert len(store.measurements("uid-b")) == 1
        assert store.query("PRAGMA user_version")[0][0] == 2
