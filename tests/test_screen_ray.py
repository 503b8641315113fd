"""Screening through a real local Ray instance (started by `--ray local`: 2 actor processes,
127.0.0.1) gives the same verdicts as the local process pool, each series once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from screen_archive import write_archive

from ctviewer.cli.main import main
from ctviewer.screen import Worklist
from ctviewer.screen.runners import RAY_INSTALL

pytest.importorskip("ray", reason=f"Ray is not installed: {RAY_INSTALL}")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("archive"), dicom=4)


def screened(archive: Path, db: Path, capsys, *options: str) -> tuple[dict, dict]:
    assert main(["screen", str(archive), "--out", str(db), "--json", *options]) == 0
    summary = json.loads(capsys.readouterr().out)
    with Worklist(db) as worklist:
        return summary, {row.key: row for row in worklist.rows()}


def test_ray_gives_the_same_verdicts_as_the_process_pool(
    archive: Path, tmp_path: Path, capsys
) -> None:
    import ray

    pool, pool_rows = screened(archive, tmp_path / "pool.sqlite", capsys, "--workers", "2")
    on_ray, ray_rows = screened(
        archive, tmp_path / "ray.sqlite", capsys, "--ray", "local", "--workers", "2"
    )
    assert not ray.is_initialized(), "the Ray instance this run started was left running"
    assert (pool["runner"], on_ray["runner"], on_ray["workers"]) == ("pool", "ray", 2)
    assert on_ray["screened"] == pool["screened"] == len(pool_rows) == 6
    assert ray_rows.keys() == pool_rows.keys()
    for key, expected in pool_rows.items():
        got = ray_rows[key]
        assert (got.status, got.assessed, got.abnormal) == (
            expected.status, expected.assessed, expected.abnormal,
        ), key  # fmt: skip
        assert got.not_assessed_reason == expected.not_assessed_reason
        if expected.assessed:
            assert got.score == pytest.approx(expected.score, rel=1e-5), key
            assert len(got.findings) == len(expected.findings)
            assert got.model.version == expected.model.version
        assert got.results_written == 1
    pids = {row.worker for row in ray_rows.values()}
    assert len(pids) == 2 and all(not p.endswith(f":{os.getpid()}") for p in pids)
