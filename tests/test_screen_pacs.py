"""`ctviewer screen pacs://NODE?...` against a real Orthanc: the query's studies are retrieved into
the PACS cache and screened; a re-run fetches and analyses nothing again (a study whole in the
cache, or done in the worklist though evicted), and a new study on the PACS is the only one
fetched. A bad node or query is one line, and no worklist is made."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from orthanc_fixture import PacsSetup, free_port, write_phantom_study

import ctviewer.pacs.retrieve as pacs_retrieve
from ctviewer.cli.main import main
from ctviewer.paths import pacs_cache_dir
from ctviewer.screen import Worklist
from ctviewer.screen.pacs_source import fetch, parse_source

pytestmark = pytest.mark.shared_data
PREFIX = "SCRPACS"  # this module's patients: other tests add studies of the same date
QUERY = f"modality=CT&study-date=20260115-20260115&patient-id={PREFIX}-*"


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The study UIDs retrieved from the PACS (not from the cache) while the test runs."""
    calls: list[str] = []
    real = pacs_retrieve.retrieve

    def counting(node, study_uid, *args, **kwargs):
        calls.append(study_uid)
        return real(node, study_uid, *args, **kwargs)

    monkeypatch.setattr(pacs_retrieve, "retrieve", counting)
    return calls


def screen_json(capsys, source: str, db: Path) -> dict:
    assert main(["screen", source, "--out", str(db), "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def one_line_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ctviewer: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_screen_a_pacs_query_and_resume(
    pacs: PacsSetup, fetches: list[str], tmp_path: Path, capsys
) -> None:
    for n in (1, 2):
        pacs.server.upload(write_phantom_study(tmp_path / f"p{n}", f"{PREFIX}-{n}", 40 + n))
    db, source = tmp_path / "wl.sqlite", f"pacs://web?{QUERY}"

    first = screen_json(capsys, source, db)
    assert (first["found"], first["screened"], len(fetches)) == (2, 2, 2)
    with Worklist(db, create=False) as worklist:
        rows = worklist.rows()
    assert {row.status for row in rows} == {"done"} and len(rows) == 2
    cache = pacs_cache_dir()
    assert all(Path(row.source).is_relative_to(cache) for row in rows)
    assert all(row.info.n_images == 16 for row in rows)

    again = screen_json(capsys, source, db)  # both studies whole in the cache
    assert (again["found"], again["added"], again["screened"], len(fetches)) == (2, 0, 0, 2)

    for study in cache.iterdir():  # as if evicted: done in the worklist, so not fetched
        shutil.rmtree(study)
    evicted = screen_json(capsys, source, db)
    assert (evicted["screened"], len(fetches)) == (0, 2)
    assert any("all done already" in note for note in evicted["notes"])

    pacs.server.upload(write_phantom_study(tmp_path / "p3", f"{PREFIX}-3", 43))
    grown = screen_json(capsys, source, db)
    assert (grown["found"], grown["added"], grown["screened"], len(fetches)) == (1, 1, 1, 3)
    assert grown["counts"]["total"] == 3 and grown["counts"]["pending"] == 0


def test_fetch_over_dimse_into_the_cache(pacs: PacsSetup, tmp_path: Path) -> None:
    pacs.server.upload(write_phantom_study(tmp_path / "d", f"{PREFIX}-DIMSE", 49))
    source = parse_source(f"pacs://dimse?patient-id={PREFIX}-DIMSE&modality=CT")
    fetched = fetch(source, config=pacs.config)
    assert (fetched.studies, fetched.skipped, len(fetched.folders)) == (1, 0, 1)
    (folder,) = fetched.folders
    assert folder.parent == pacs_cache_dir() and (folder / ".complete").is_file()
    assert len(list(folder.rglob("*.dcm"))) == 16


def test_bad_nodes_and_queries_are_one_line(pacs: PacsSetup, tmp_path: Path, capsys) -> None:
    db = tmp_path / "wl.sqlite"
    dead = quote(f"dicom://PACS@127.0.0.1:{free_port()}", safe="")  # nobody listens there
    for source, reason in (
        ("pacs://nosuch?modality=CT", "unknown PACS node 'nosuch'"),
        ("pacs://web?modality=CT&date=20260115", "unknown query key 'date'"),
        ("pacs://web?study-date=2026", "expected YYYYMMDD"),
        ("pacs://web?modality", "unreadable query"),
        ("pacs://?modality=CT", "no PACS node named"),
        (f"pacs://{dead}?modality=CT", "cannot connect to 127.0.0.1"),
    ):
        err = one_line_error(capsys, "screen", source, "--out", str(db))
        assert reason in err and source in err
    assert not db.exists()
    nothing = screen_json(capsys, f"pacs://web?patient-id={PREFIX}-NOBODY", db)  # an answer
    assert nothing["found"] == 0 and nothing["counts"]["total"] == 0
    assert any("no study found" in note for note in nothing["notes"])


def test_a_cache_too_small_for_the_query_resumes_on_the_next_run(
    pacs: PacsSetup, fetches: list[str], tmp_path: Path, capsys
) -> None:
    for n in (1, 2):
        pacs.server.upload(write_phantom_study(tmp_path / f"e{n}", f"{PREFIX}-EV-{n}", 50 + n))
    pacs.config.set_local(dataclasses.replace(pacs.config.local(), cache_mb=0))  # one study fits
    db, source = tmp_path / "wl.sqlite", f"pacs://web?patient-id={PREFIX}-EV-*"

    first = screen_json(capsys, source, db)  # the second retrieve evicted the first study
    assert (first["found"], first["screened"], len(fetches)) == (1, 1, 2)
    assert any("did not fit in the PACS cache" in note for note in first["notes"])
    second = screen_json(capsys, source, db)  # only the evicted study, fetched again
    assert (second["found"], second["screened"], len(fetches)) == (1, 1, 3)
    assert second["counts"]["total"] == 2 and second["counts"]["pending"] == 0
    assert screen_json(capsys, source, db)["screened"] == 0 and len(fetches) == 3  # all done
