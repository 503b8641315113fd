"""Non-modal banners above the views: the series' reading warnings, and why images of the open
study were not assessed — each reason once per study, however many images share it (a folder
of PNGs and a model trained on CT in HU: one line, not one dialog per image)."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel

from ctviewer.errors import CTViewerError

BANNER_STYLE = "background: #fff3cd; color: #664d03; padding: 3px; border: 1px solid #e0c36c;"


def banner_label() -> QLabel:
    """A hidden, word-wrapped warning strip."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet(BANNER_STYLE)
    label.setVisible(False)
    return label


def without_path(text: str, path: str | None) -> str:
    """The reason alone: `PATH: reason` → `reason`, so images of a study share one reason."""
    prefix = f"{path}: " if path else ""
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


def error_reason(error: CTViewerError) -> str:
    return without_path(str(error), error.path)


class NoticeBanner:
    """The distinct not-assessed reasons of the open study, shown in `label` until the user hides
    it; a reason seen again (the next image) adds nothing and does not bring it back."""

    def __init__(self) -> None:
        self.label = banner_label()
        self.label.linkActivated.connect(lambda _link: self.label.setVisible(False))
        self.reasons: list[str] = []

    def clear(self) -> None:
        """A new study: every reason may be told again."""
        self.reasons.clear()
        self.label.setVisible(False)

    def add(self, reason: str) -> bool:
        """Show `reason` unless this study already did; True if it is new."""
        if reason in self.reasons:
            return False
        self.reasons.append(reason)
        lines = "<br>".join(f"⚠ Not assessed: {html.escape(r)}" for r in self.reasons)
        self.label.setText(f'{lines} <a href="hide">hide</a>')
        self.label.setVisible(True)
        return True
