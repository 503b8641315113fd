"""The restore dialog, offscreen: a damaged store → the dialog offers the last good backup →
Restore → the decisions made after that backup that are still readable are kept."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from test_feedback_recovery import (
    AFTER,
    BEFORE,
    expected_after_restore,
    marker,
    page_of,
    restored_decisions,
    store_with_a_backup,
)

from ctviewer.feedback.backups import list_backups
from ctviewer.ui.store_recovery import TITLE, offer_store_recovery

pytestmark = pytest.mark.gui


def answer_boxes(buttons: list[str], seen: list[str]) -> None:
    """Click `buttons[k]` on the k-th message box that opens (modal, so poll for it)."""
    handled: list[QMessageBox] = []

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box not in handled and box.isVisible():
            handled.append(box)
            seen.append(f"{box.windowTitle()}\n{box.text()}\n{box.informativeText()}")
            wanted = buttons[len(handled) - 1]
            next(b for b in box.buttons() if b.text().replace("&", "") == wanted).click()
        if len(handled) < len(buttons):
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)


def test_restore_dialog_offers_the_backup_and_keeps_later_readable_decisions(qtbot) -> None:
    db, everything = store_with_a_backup()
    data = bytearray(db.read_bytes())
    page = page_of(data, BEFORE + AFTER // 2)  # a page of decisions made after the backup
    data[page * 4096 : (page + 1) * 4096] = b"\xa5" * 4096
    db.write_bytes(bytes(data))
    newest = list_backups(db)[0].describe()
    seen: list[str] = []
    answer_boxes(["Restore", "OK"], seen)
    outcome = offer_store_recovery()
    assert outcome is not None and len(seen) == 2
    question, told = seen
    assert question.startswith(TITLE) and "cannot be read whole" in question
    assert f"the last good backup ({newest})" in question
    assert "restored" in told and "recovered from the damaged file" in told
    restored = restored_decisions()
    expected = expected_after_restore(bytes(data), everything)
    assert expected <= set(restored)
    later = {i for i in expected if i > BEFORE}  # made after the backup, still readable
    assert later and later <= set(restored)
    assert all(restored[i] == everything[i] for i in restored)
    assert marker(BEFORE + AFTER // 2) not in bytes(data)  # the damage cost that one


def test_not_now_leaves_the_damaged_store_alone(qtbot) -> None:
    db, _ = store_with_a_backup()
    data = bytearray(db.read_bytes())
    data[:100] = b"garbage!" * 12 + b"junk"
    db.write_bytes(bytes(data))
    seen: list[str] = []
    answer_boxes(["Not now"], seen)
    assert offer_store_recovery() is None and len(seen) == 1
    assert db.read_bytes() == bytes(data)
