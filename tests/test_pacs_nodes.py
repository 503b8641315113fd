"""PACS nodes, settings and secrets, queries and the local cache (no PACS needed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ctviewer.cli.main import main
from ctviewer.errors import InputError
from ctviewer.pacs.cache import StudyCache
from ctviewer.pacs.config import PacsConfig
from ctviewer.pacs.credentials import PASSWORD_ENV, SERVICE, secret_for
from ctviewer.pacs.nodes import PacsError, parse_node_url
from ctviewer.pacs.records import StudyQuery
from ctviewer.pacs.retrieve import dicom_files
from ctviewer.paths import pacs_cache_dir, user_data_dir


def test_urls_name_dicomweb_and_dimse_nodes() -> None:
    web = parse_node_url("https://alice@pacs.example.org/dicom-web/")
    assert (web.protocol, web.host, web.port, web.user, web.auth) == (
        "dicomweb",
        "pacs.example.org",
        443,
        "alice",
        "basic",
    )
    assert web.url == "https://pacs.example.org/dicom-web"  # no user, no trailing slash
    dimse = parse_node_url("dicom://ORTHANC@10.0.0.5:4242")
    assert (dimse.protocol, dimse.called_aet, dimse.host, dimse.port) == (
        "dimse",
        "ORTHANC",
        "10.0.0.5",
        4242,
    )


@pytest.mark.parametrize(
    "url, reason",
    [
        ("https://alice:secret@pacs/dicom-web", "password does not belong in a URL"),
        ("dicom://pacs:4242", "not a PACS URL"),  # no AE title
        ("dicom://ORTHANC@pacs", "not a PACS URL"),  # no port
        ("dicom://AN_AE_TITLE_TOO_LONG@pacs:104", "at most 16"),
        ("ftp://pacs/x", "not a PACS URL"),
    ],
)
def test_bad_urls_are_one_line_errors(url: str, reason: str) -> None:
    with pytest.raises(PacsError, match=reason) as error:
        parse_node_url(url)
    assert "\n" not in str(error.value)
    assert "secret" not in str(error.value)


def test_password_goes_to_keyring_never_to_the_ini(memory_keyring, monkeypatch, capsys) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cr3t-pw")
    url = "http://127.0.0.1:8042/dicom-web"
    assert main(["pacs", "add", "hospital", url, "--user", "alice"]) == 0
    assert memory_keyring.secrets[(SERVICE, "hospital")] == "s3cr3t-pw"
    ini = (user_data_dir() / "pacs.ini").read_text()
    assert "hospital" in ini and "alice" in ini and "s3cr3t-pw" not in ini
    monkeypatch.delenv(PASSWORD_ENV)
    node = PacsConfig().resolve("hospital")
    assert (node.url, node.user, node.auth) == (url, "alice", "basic")
    assert secret_for(node) == "s3cr3t-pw"  # from the keyring, the env var is gone
    assert main(["pacs", "list", "--json"]) == 0
    assert "s3cr3t-pw" not in capsys.readouterr().out
    assert main(["pacs", "remove", "hospital"]) == 0
    assert (SERVICE, "hospital") not in memory_keyring.secrets
    assert "hospital" not in PacsConfig().names()


def test_add_without_a_password_is_one_line(memory_keyring, monkeypatch, capsys) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["pacs", "add", "h", "http://127.0.0.1:1/dicom-web", "--user", "u"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no password given" in err and "\n" not in err


def test_unknown_node_lists_the_known_ones(capsys) -> None:
    PacsConfig().add("archive", "dicom://ARCH@127.0.0.1:104")
    assert main(["pacs", "echo", "nosuch"]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown PACS node 'nosuch'" in err and "archive" in err and "\n" not in err


def test_query_keys_and_date_ranges() -> None:
    keys = StudyQuery(patient_name="DOE", study_date="20240101-20240131", modality="CT").keys()
    assert keys == {
        "PatientName": "DOE*",
        "StudyDate": "20240101-20240131",
        "ModalitiesInStudy": "CT",
    }
    assert StudyQuery(patient_name="D?E").keys() == {"PatientName": "D?E"}  # pattern kept
    StudyQuery(study_date="20240101-")  # open ranges are fine
    for bad in ("2024-01-01", "20240101-2024", "-", "yesterday"):
        with pytest.raises(PacsError, match="expected YYYYMMDD"):
            StudyQuery(study_date=bad)


def _study(root: Path, name: str, megabytes: float, used: float) -> Path:
    folder = root / name
    (folder / "series").mkdir(parents=True)
    (folder / "series" / "1.dcm").write_bytes(b"\0" * int(megabytes * 1024 * 1024))
    (folder / ".complete").touch()
    os.utime(folder / ".complete", (used, used))
    return folder


def test_cache_evicts_least_recently_used_first(tmp_path: Path) -> None:
    root = pacs_cache_dir()
    assert root.parent == user_data_dir() and root.name == "pacs_cache"
    mine = tmp_path / "my_studies"  # a user's own folder beside it is never touched
    _study(mine, "own", 1, 0)
    now = time.time()
    old, middle, new = (
        _study(root, n, 1, now - age) for n, age in (("a", 300), ("b", 200), ("c", 100))
    )
    cache = StudyCache(limit_bytes=int(2.5 * 1024 * 1024), root=root)
    cache.touch(old)  # opening the oldest makes it the most recently used
    assert cache.evict(keep=new) == [middle]
    assert old.is_dir() and new.is_dir() and (mine / "own").is_dir()
    assert StudyCache(limit_bytes=0, root=root).evict(keep=new) == [old]  # keep stays


def test_sending_a_non_dicom_file_is_one_line(tmp_path: Path) -> None:
    note = tmp_path / "notes.txt"
    note.write_text("not an image")
    with pytest.raises(InputError, match="not a DICOM file") as error:
        dicom_files([note])
    assert str(note) in str(error.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no DICOM file to send"):
        dicom_files([empty])


def test_a_cancelled_move_writes_nothing_more_even_if_the_sender_is_ahead() -> None:
    """C-MOVE sub-operations arrive on our SCP faster than the replies that would carry
    the cancel: the receiver itself refuses them once cancelled."""
    from types import SimpleNamespace

    from pydicom.dataset import Dataset, FileMetaDataset

    from ctviewer.errors import Cancelled
    from ctviewer.pacs.dimse import _Receiver
    from ctviewer.progress import new_cancel_flag

    received: list[Dataset] = []
    cancel = new_cancel_flag()
    receiver = _Receiver(received.append, cancel)
    event = SimpleNamespace(dataset=Dataset(), file_meta=FileMetaDataset())
    assert receiver.on_store(event) == 0x0000 and len(received) == 1
    cancel.set()
    assert receiver.on_store(event) != 0x0000
    assert len(received) == 1 and isinstance(receiver.error, Cancelled)
