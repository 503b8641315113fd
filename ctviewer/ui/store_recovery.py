"""At start: when the feedback database is damaged, offer to restore the last good backup.

The check and the restore are core calls (`feedback.recovery`); this only asks and tells. The
viewer works either way: detection does not need the database (`feedback.versions`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from ctviewer.errors import CTViewerError
from ctviewer.feedback.recovery import RestoreOutcome, StoreHealth, check_store, restore_store

TITLE = "Feedback database damaged"


class RecoveryQuestion(QMessageBox):
    """'Restore the last good backup?' with what will happen, Restore / Not now."""

    def __init__(self, health: StoreHealth, parent: QWidget | None = None) -> None:
        super().__init__(QMessageBox.Icon.Warning, TITLE, "", parent=parent)
        newest = health.backups[0].describe() if health.backups else None
        source = f"the last good backup ({newest})" if newest else "an empty database"
        self.setText(f"The feedback database cannot be read whole: {health.problem}")
        self.setInformativeText(
            f"Restore it from {source}, adding every decision still readable from the damaged"
            " file? The damaged file is kept beside it, not deleted.\n\nWithout a restore the"
            " viewer still analyses images, but cannot record decisions."
        )
        self.restore_button = self.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        self.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.restore_button)


def _ask(question: RecoveryQuestion) -> bool:
    question.exec()
    return question.clickedButton() is question.restore_button


def _tell(parent: QWidget | None, text: str, failed: bool) -> None:
    icon = QMessageBox.Icon.Critical if failed else QMessageBox.Icon.Information
    QMessageBox(icon, TITLE, text, parent=parent).exec()


def offer_store_recovery(
    parent: QWidget | None = None,
    ask: Callable[[RecoveryQuestion], bool] = _ask,
    tell: Callable[[QWidget | None, str, bool], None] = _tell,
) -> RestoreOutcome | None:
    """Check the store; when damaged, ask, restore and say what came back. None: nothing done."""
    health = check_store()
    if health.ok or not ask(RecoveryQuestion(health, parent)):
        return None
    try:
        outcome = restore_store()
    except CTViewerError as error:
        tell(parent, str(error), True)
        return None
    tell(parent, outcome.summary(), False)
    return outcome
