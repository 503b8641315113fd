"""A damaged feedback store: rotating backups, and a restore that keeps what is still readable."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from test_feedback_store import make_result

from ctviewer import paths
from ctviewer.cli.main import main as cli_main
from ctviewer.feedback.store import FeedbackStore, StoreDamaged

BEFORE, AFTER = 40, 40  # decisions before and after the backup: several pages each


def marker(i: int) -> bytes:
    """Each decision's comment: unique bytes that say which page holds its (whole) row; the
    comment is the row's last column, so where the marker is whole, the row is whole."""
    return f"decision-{i:04d}".encode()


def record(store: FeedbackStore, first: int, count: int) -> None:
    result = make_result(uid="1.2.3", n=1)
    for i in range(first, first + count):
        verdict = "accept" if i % 2 else "reject"
        store.record(result, result.findings[0], verdict, "dr a", comment=marker(i).decode())


def store_with_a_backup() -> tuple[Path, dict[int, tuple]]:
    """Decisions 1..BEFORE, a backup, decisions after it; closed. → db path, every decision."""
    db = paths.feedback_db_path()
    with FeedbackStore() as store:
        record(store, 1, BEFORE)
        store.backup("test")
        record(store, BEFORE + 1, AFTER)
        everything = {d.id: astuple(d) for d in store.history()}
    assert len(everything) == BEFORE + AFTER
    return db, everything


def astuple(decision) -> tuple:
    return tuple(decision.to_json().values())


def restored_decisions() -> dict[int, tuple]:
    with FeedbackStore() as store:
        return {d.id: astuple(d) for d in store.history()}


def page_of(data: bytes, i: int, page_size: int = 4096) -> int:
    return data.index(marker(i)) // page_size


def expected_after_restore(damaged: bytes, everything: dict[int, tuple]) -> set[int]:
    """The decisions in the backup, plus those whose row is still whole in the damaged file."""
    return set(range(1, BEFORE + 1)) | {i for i in everything if marker(i) in damaged}


@pytest.mark.parametrize("damage", ["page overwritten", "truncated mid-page", "header garbled"])
def test_restore_keeps_the_backup_and_every_readable_decision(
    damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db, everything = store_with_a_backup()
    data = bytearray(db.read_bytes())
    if damage == "page overwritten":  # a page of decisions made after the backup
        page = page_of(data, BEFORE + AFTER // 2)
        data[page * 4096 : (page + 1) * 4096] = b"\xa5" * 4096
    elif damage == "truncated mid-page":
        data = data[: data.index(marker(BEFORE + AFTER // 2)) + 2000]
    else:
        data[:100] = b"garbage!" * 12 + b"junk"
    db.write_bytes(bytes(data))
    lost = set(everything) - expected_after_restore(bytes(data), everything)
    assert damage == "header garbled" or lost, "the damage should cost some decisions"
    with pytest.raises(StoreDamaged, match="store restore"), FeedbackStore() as store:
        record(store, 999, 1)  # no write goes into a damaged file
    assert cli_main(["store", "check"]) == 1
    assert "DAMAGED" in capsys.readouterr().out
    assert cli_main(["store", "restore"]) == 0
    summary = capsys.readouterr().out
    restored = restored_decisions()
    expected = expected_after_restore(bytes(data), everything)
    assert expected <= set(restored)
    assert all(restored[i] == everything[i] for i in restored)  # nothing invented or altered
    assert set(restored) - expected <= lost  # (a row may survive beyond what the marker shows)
    kept = sorted(db.parent.glob("feedback.before-restore-*.sqlite"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)  # kept aside, untouched
    assert str(kept[0]) in summary and "recovered from the damaged file" in summary
    lost_now = set(everything) - set(restored)
    assert (f"not readable anywhere: {len(lost_now)} decisions" in summary) == bool(lost_now)
    assert cli_main(["store", "check"]) == 0
    with FeedbackStore() as store:  # the restored store is a working store
        record(store, 1000, 1)
        assert len(store.history()) == len(restored) + 1
        assert max(d.id for d in store.history()) > max(everything)  # no id handed out twice


def test_restore_without_a_backup_keeps_the_readable_rows() -> None:
    db = paths.feedback_db_path()
    with FeedbackStore() as store:
        record(store, 1, BEFORE)
        everything = {d.id: astuple(d) for d in store.history()}
    data = bytearray(db.read_bytes())
    data[:100] = bytes(100)
    db.write_bytes(bytes(data))
    for backup in db.parent.glob("backups/*"):
        backup.unlink()  # the daily one
    cli_main(["store", "restore"])
    assert restored_decisions() == everything


def test_restore_reads_decisions_only_in_the_wal(tmp_path: Path) -> None:
    """A crash leaves committed decisions in `-wal`; they are recovered too."""
    live = tmp_path / "live" / "feedback.sqlite"
    store = FeedbackStore(live)  # kept open: the WAL is not checkpointed into the file
    record(store, 1, 30)
    everything = {d.id: astuple(d) for d in store.history()}
    db = paths.feedback_db_path()
    shutil.copyfile(live, db)  # what a kill -9 leaves behind
    shutil.copyfile(live.with_name("feedback.sqlite-wal"), db.with_name("feedback.sqlite-wal"))
    store.close()
    data = bytearray(db.read_bytes())
    data[:100] = bytes(100)
    db.write_bytes(bytes(data))
    cli_main(["store", "restore"])
    assert restored_decisions() == everything
    assert list(db.parent.glob("feedback.before-restore-*.sqlite-wal"))  # kept with its file


def test_a_whole_garbage_file_gives_back_the_backup() -> None:
    db, everything = store_with_a_backup()
    db.write_bytes(b"\x00garbage" * 5000)
    cli_main(["store", "restore"])
    assert restored_decisions() == {i: everything[i] for i in range(1, BEFORE + 1)}


def test_backups_rotate_and_a_damaged_store_is_never_backed_up() -> None:
    from ctviewer.feedback import backups

    db = paths.feedback_db_path()
    with FeedbackStore() as store:
        assert backups.list_backups(db) == []  # an empty store: nothing to keep
        record(store, 1, 3)
        for _ in range(backups.KEEP + 2):
            store.backup("test")
    kept = backups.list_backups(db)
    assert len(kept) == backups.KEEP and all(b.reason == "test" for b in kept)
    for backup in kept:
        with sqlite3.connect(backup.path) as conn:  # each is a whole database on its own
            assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 3
        assert not backup.path.with_name(backup.path.name + "-wal").exists()
    data = bytearray(db.read_bytes())
    data[4096:8192] = b"\xff" * 4096
    db.write_bytes(bytes(data))
    for backup in kept:
        backup.path.unlink()  # the daily backup is due again
    with contextlib.suppress(StoreDamaged):  # whether opening fails depends on the page
        FeedbackStore().close()
    assert backups.list_backups(db) == []  # a damaged store pushes no good backup out


def test_daily_backup_at_open_and_backup_before_learn(tmp_path: Path) -> None:
    from ctviewer.errors import ModelError
    from ctviewer.feedback import backups
    from ctviewer.feedback.learn import learn_from_feedback

    db = paths.feedback_db_path()
    with FeedbackStore() as store:
        record(store, 1, 2)
    FeedbackStore().close()
    FeedbackStore().close()
    assert [b.reason for b in backups.list_backups(db)] == ["daily"]  # once a day
    with FeedbackStore() as store, pytest.raises(ModelError):
        learn_from_feedback(store, tmp_path / "no-such-model.pt", tmp_path / "new.pt")
    assert [b.reason for b in backups.list_backups(db)] == ["before-learn", "daily"]


def test_cli_store_backups_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["store", "backups"]) == 0
    assert "no backups yet" in capsys.readouterr().out
    with FeedbackStore() as store:
        record(store, 1, 2)
    assert cli_main(["store", "backup"]) == 0
    capsys.readouterr()
    assert cli_main(["store", "backups"]) == 0
    assert "by-hand" in capsys.readouterr().out
    assert cli_main(["store", "restore", "no-such-backup.sqlite"]) == 1
    assert "no such backup" in capsys.readouterr().err


def test_restore_keeps_measurements_from_the_backup_and_the_damaged_file() -> None:
    from ctviewer.measurement import Measurement

    db = paths.feedback_db_path()
    before = Measurement("length", 0, ((1, 1), (5, 5)), label="before the backup")
    after = Measurement("ellipse", 2, ((3, 3), (9, 12)), label="after the backup")
    with FeedbackStore() as store:
        store.save_measurement("1.2.3", before)
        store.backup("test")
        store.save_measurement("1.2.3", after)
    data = bytearray(db.read_bytes())
    data[:100] = b"garbage!" * 12 + b"junk"
    db.write_bytes(bytes(data))
    assert cli_main(["store", "restore"]) == 0
    with FeedbackStore() as store:
        kept = store.measurements("1.2.3")
    assert [m.label for m in kept] == ["before the backup", "after the backup"]
    assert kept[1] == after


def test_restore_from_a_backup_older_than_measurements() -> None:
    db = paths.feedback_db_path()
    with FeedbackStore() as store:
        record(store, 1, 3)
        store.backup("test")
    backup = sorted(db.parent.glob("backups/*test*"))[-1]
    with contextlib.closing(sqlite3.connect(backup)) as conn:  # as schema 1 wrote it
        conn.execute("DROP TABLE measurements")
        conn.execute("PRAGMA user_version=1")
        conn.commit()
    db.write_bytes(b"not a database at all" * 100)
    assert cli_main(["store", "restore", str(backup)]) == 0
    assert len(restored_decisions()) == 3
