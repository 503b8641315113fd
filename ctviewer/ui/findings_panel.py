"""The series verdict (decision support wording), the findings list, and Accept/Reject/Normal."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ctviewer.feedback.store import Decision
from ctviewer.viewer.model import Decisions
from ctviewer.volume import Finding, Result

FINDING_ROLE = Qt.ItemDataRole.UserRole
DISCLAIMER = "Decision support only — the diagnosis is the radiologist's decision."
STATE_COLOURS = {  # not assessed is never green: grey-blue, like a pending study
    "not_assessed": "#4a5a78",
    "flagged": "#c0392b",
    "listed": "#a66a00",
    "clear": "#2e7d32",
}


def verdict_text(result: Result) -> str:
    """One line for the panel and the status bar: the headline and its detail."""
    headline, detail = result.verdict()
    return f"{headline}: {detail}"


def decision_tooltip(decision: Decision) -> str:
    return f"{decision.describe()}, model {decision.model_version}"


class FindingsPanel(QWidget):
    findingSelected = Signal(object)  # Finding
    decisionRequested = Signal(str, object)  # "accept" | "reject" | "normal", Finding | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: Result | None = None
        self.verdict = QLabel("No analysis yet.")
        self.verdict.setWordWrap(True)
        self.verdict.setObjectName("verdict")
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        disclaimer = QLabel(DISCLAIMER)
        disclaimer.setWordWrap(True)
        disclaimer.setStyleSheet("color: gray; font-style: italic;")
        self.reviewer = QLineEdit()
        self.reviewer.setPlaceholderText("your name (recorded with each decision)")
        self.series_decision = QLabel("")
        self.series_decision.setWordWrap(True)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["#", "Slices", "Size", "Peak", "Decision"])
        self.tree.setRootIsDecorated(False)
        for column, width in enumerate((30, 60, 80, 50)):
            self.tree.setColumnWidth(column, width)
        self.tree.currentItemChanged.connect(self._on_current)

        self.accept_button = QPushButton("Accept (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.normal_button = QPushButton("Mark image normal")
        self.accept_button.setToolTip("Confirm the selected finding as a real anomaly")
        self.reject_button.setToolTip("The selected finding is normal anatomy (false alarm)")
        self.normal_button.setToolTip("The whole series is normal")
        self.accept_button.clicked.connect(lambda: self.request("accept"))
        self.reject_button.clicked.connect(lambda: self.request("reject"))
        self.normal_button.clicked.connect(lambda: self.request("normal"))

        form = QFormLayout()
        form.addRow("Reviewer", self.reviewer)
        buttons = QHBoxLayout()
        for button in (self.accept_button, self.reject_button, self.normal_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addWidget(disclaimer)
        layout.addWidget(self.model_label)
        layout.addLayout(form)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.series_decision)
        self.set_result(None)

    def set_result(self, result: Result | None, decisions: Decisions | None = None) -> None:
        self.result = result
        self.tree.clear()
        enabled = result is not None
        for button in (self.accept_button, self.reject_button, self.normal_button):
            button.setEnabled(enabled)
        if result is None:
            self.verdict.setText("No analysis yet.")
            self.model_label.setText("")
            self.series_decision.setText("")
            return
        colour = STATE_COLOURS[result.state]
        self.verdict.setText(f"<b style='color:{colour}'>{verdict_text(result)}</b>")
        for button in (self.accept_button, self.reject_button, self.normal_button):
            button.setEnabled(result.assessed)  # nothing to accept or reject without a verdict
        model = result.model
        part = f" ({model.body_part})" if model.body_part else ""
        self.model_label.setText(
            f"Model {model.name} {model.version}{part} on {model.device}"
            if result.assessed or model.version
            else "No installed model fits this series."
        )
        for finding in result.findings:
            item = QTreeWidgetItem(
                self.tree,
                [
                    str(finding.id),
                    f"{finding.slice_start + 1}–{finding.slice_end + 1}",
                    finding.size_text(),
                    f"{finding.peak:.3g}",
                    "",
                ],
            )
            item.setData(0, FINDING_ROLE, finding)
        self.show_decisions(decisions or {})
        if result.findings:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))

    def show_decisions(self, by_finding: Decisions) -> None:
        """Write the decision of each finding (and of the whole series) into the panel."""
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            decision = by_finding.get(item.data(0, FINDING_ROLE).id)
            item.setText(4, decision.describe(with_time=False) if decision else "")
            item.setToolTip(4, decision_tooltip(decision) if decision else "")
        whole = by_finding.get(None)
        self.series_decision.setText(f"Series: {whole.describe(with_time=False)}" if whole else "")
        self.series_decision.setToolTip(decision_tooltip(whole) if whole else "")

    def current_finding(self) -> Finding | None:
        item = self.tree.currentItem()
        return item.data(0, FINDING_ROLE) if item is not None else None

    def select_finding(self, finding_id: int) -> None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item.data(0, FINDING_ROLE).id == finding_id:
                self.tree.setCurrentItem(item)

    def request(self, decision: str) -> None:
        """Ask the window to record `decision` for the selected finding (or the series)."""
        if self.result is None:
            return
        finding = None if decision == "normal" else self.current_finding()
        self.decisionRequested.emit(decision, finding)

    def _on_current(self, item: QTreeWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.findingSelected.emit(item.data(0, FINDING_ROLE))
