"""File → Open worklist: a screening worklist's rows by priority, beside the viewer.

Rows are coloured by verdict (as the findings panel colours it) and say whether a reviewer has
decided on the series yet (the decision store). Double click (or Enter) opens the series with its
stored result, without analysing it again (Analysis → Run does, when asked); N and Shift+N go to
the next and previous case nobody has reviewed. The panel computes nothing: it reads the worklist
(`screen.worklist`) and the store.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ctviewer.errors import CTViewerError
from ctviewer.screen.worklist import Worklist, WorklistRow
from ctviewer.ui.findings_panel import STATE_COLOURS, verdict_text

COLUMNS = ("#", "Verdict", "Score / threshold", "Findings", "Reviewed", "Series")
STATE_TEXT = {
    "flagged": "Flagged",
    "listed": "Regions listed",
    "clear": "Below threshold",
    "not_assessed": "Not assessed",
    "failed": "Failed",
    "pending": "Pending",
}
OTHER_COLOURS = {"failed": "#6d4c41", "pending": "#777777"}


def open_worklist(window, path: str | Path | None = None) -> WorklistPanel | None:
    """Show the worklist at `path` (asked for when None) docked in `window` (a MainWindow)."""
    if path is None:
        path, _ = QFileDialog.getOpenFileName(
            window, "Open worklist", "", "Worklists (*.sqlite *.db);;All files (*)"
        )
        if not path:
            return None
    try:
        panel = WorklistPanel(window, Path(path))
    except CTViewerError as error:
        window.show_error(error)
        return None
    previous = getattr(window, "worklist_panel", None)
    if previous is not None:
        window.removeDockWidget(previous)
        previous.deleteLater()
    window.worklist_panel = panel
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
    panel.show()
    return panel


def step_worklist(window, step: int) -> None:
    """The next (1) / previous (−1) unreviewed case of the open worklist (`viewer.bindings`)."""
    panel = getattr(window, "worklist_panel", None)
    if panel is None:
        window.message("No worklist open (File → Open worklist)")
        return
    panel.step_unreviewed(step)


def reviewed_keys(store) -> set[str]:
    """The series (item keys) someone has decided on, in any analysis."""
    return {decision.item_key for decision in store.decisions()}


class WorklistPanel(QDockWidget):
    """The rows of one worklist; `rowOpened(key)` once a row's series and result are asked for."""

    rowOpened = Signal(str)

    def __init__(self, window, path: Path) -> None:
        super().__init__(f"Worklist — {path.name}", window)
        self.setObjectName("worklistPanel")
        self.window_ = window
        self.path = path
        self.rows: list[WorklistRow] = []
        self.reviewed: set[str] = set()
        self._pending_result = None  # the slot waiting for the opened series' volume
        self.summary = QLabel("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(lambda row, _column: self.open_row(row))
        buttons = QHBoxLayout()
        for text, slot in (
            ("◀ Previous unreviewed", lambda: self.step_unreviewed(-1)),
            ("Next unreviewed ▶", lambda: self.step_unreviewed(1)),
            ("Refresh", self.load),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(self.summary)
        column.addWidget(self.table, 1)
        column.addLayout(buttons)
        self.setWidget(body)
        enter = QShortcut(QKeySequence("Return"), self.table)
        enter.setContext(Qt.ShortcutContext.WidgetShortcut)
        enter.activated.connect(lambda: self.open_row(self.table.currentRow()))
        window.findings.decisionRequested.connect(self._on_decision)  # after the window's slot
        self.load()

    def load(self) -> None:
        """(Re)read the worklist and the reviewed status; a worklist still being screened
        shows what is done so far."""
        with Worklist(self.path, create=False) as worklist:
            self.rows = worklist.rows()
        self.reviewed = reviewed_keys(self.window_.store)
        self.table.setRowCount(len(self.rows))
        for index, row in enumerate(self.rows):
            self._fill(index, row)
        self.table.resizeColumnsToContents()
        done = sum(r.status in ("done", "failed") for r in self.rows)
        todo = sum(r.item_key not in self.reviewed and r.status == "done" for r in self.rows)
        self.summary.setText(f"{len(self.rows)} series, {done} screened, {todo} not reviewed")

    def _fill(self, index: int, row: WorklistRow) -> None:
        if row.score is not None and row.threshold is not None:
            score = f"{row.score:.4g} / {row.threshold:.4g}"
        else:
            score = row.not_assessed_reason or row.error or "–"
        reviewed = "yes" if row.item_key in self.reviewed else "–"
        series = f"{row.info.description} — {row.source}"
        cells = (str(index + 1), STATE_TEXT[row.state], score, str(len(row.findings)), reviewed)
        colour = QBrush(QColor(STATE_COLOURS.get(row.state) or OTHER_COLOURS[row.state]))
        for column, text in enumerate((*cells, series)):
            item = QTableWidgetItem(text)
            item.setToolTip(row.not_assessed_reason or row.error or row.source)
            if column == 1:
                item.setForeground(colour)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.table.setItem(index, column, item)

    def open_row(self, index: int) -> None:
        """Open row `index`'s series in the viewer with its stored result (no analysis)."""
        if not 0 <= index < len(self.rows):
            return
        row = self.rows[index]
        self.table.selectRow(index)
        result = None
        if row.status == "done":
            with Worklist(self.path, create=False) as worklist:
                result = worklist.result(row)
        self._show_stored(row, result)
        self.rowOpened.emit(row.key)

    def _show_stored(self, row: WorklistRow, result) -> None:
        window = self.window_
        if self._pending_result is not None:
            window.volumeShown.disconnect(self._pending_result)
            self._pending_result = None
        if result is not None:

            def show() -> None:
                window.volumeShown.disconnect(show)
                self._pending_result = None
                window.show_result(result)  # ignored if another series came meanwhile
                if window.result is result:
                    when = (row.finished_utc or "").replace("T", " ")[:16]
                    window.message(
                        f"Stored result from the worklist ({when} UTC): {verdict_text(result)}"
                    )

            self._pending_result = show
            window.volumeShown.connect(show)
        window.load_series(row.info, auto_run=False)  # the stored result, not a new analysis
        window.message(f"Worklist: opening {STATE_TEXT[row.state].lower()} series {row.source}")

    def _on_decision(self, *_decision) -> None:
        """A decision was just recorded in the viewer: show the reviewed status now."""
        self.refresh_reviewed()

    def refresh_reviewed(self) -> None:
        self.reviewed = reviewed_keys(self.window_.store)
        for index in range(len(self.rows)):
            self._fill(index, self.rows[index])

    def step_unreviewed(self, step: int) -> None:
        """Open the next (step 1) or previous (−1) screened row nobody has decided on."""
        self.refresh_reviewed()
        current = self.table.currentRow()
        order = range(current + 1, len(self.rows)) if step > 0 else range(current - 1, -1, -1)
        for index in order:
            row = self.rows[index]
            if row.status == "done" and row.item_key not in self.reviewed:
                self.open_row(index)
                return
        window = self.window_
        window.message("Worklist: no " + ("next" if step > 0 else "previous") + " unreviewed case")
