"""Actions that hand a reviewed series on: PDF report, DICOM SEG + key images + SR (File → Send
to PACS: `send_to_pacs.py`), and learning from the recorded decisions (a new model version,
promoted only if it is not worse). They act on the `ViewerModel` (what is shown and decided) and
run as worker jobs of a `ReviewHost` (the main window); the computation is the core's (`report`,
`feedback.learn`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ctviewer.errors import CTViewerError
from ctviewer.feedback import versions
from ctviewer.ui.chrome import make_action
from ctviewer.ui.send_to_pacs import SendToPacs
from ctviewer.ui.settings import Settings
from ctviewer.viewer import ViewerModel

if TYPE_CHECKING:
    from ctviewer.report.dicom_export import DicomExport


class ReviewHost(Protocol):
    """What the actions need of the window that holds them."""

    settings: Settings

    def start_job(self, name: str, fn, *args, on_result, label: str | None = None): ...
    def message(self, text: str) -> None: ...
    def show_error(self, error: BaseException, dialog: bool = True) -> None: ...
    def run_analysis(self) -> None: ...


class ReviewActions(QObject):
    def __init__(self, parent: QWidget, model: ViewerModel, host: ReviewHost) -> None:
        super().__init__(parent)
        self.parent_widget, self.model, self.host = parent, model, host
        self.export_pdf_action = make_action(parent, "Export &report (PDF)…", self.choose_pdf)
        self.export_dicom_action = make_action(
            parent, "Export DICOM &SEG, key images and SR…", self.choose_dicom_dir
        )
        self.send_to_pacs = SendToPacs(parent, self)
        self.deidentify_action = make_action(
            parent, "De-&identify exports", lambda: None, None, True
        )
        self.learn_action = make_action(parent, "&Learn from feedback", self.learn)
        self.rollback_action = make_action(
            parent, "Roll &back to the previous model", self.rollback
        )
        self.outcome_box: QMessageBox | None = None

    def file_actions(self) -> list[QAction]:
        send = self.send_to_pacs.action
        return [self.export_pdf_action, self.export_dicom_action, send, self.deidentify_action]

    def model_actions(self) -> list[QAction]:
        return [self.learn_action, self.rollback_action]

    @property
    def deidentify(self) -> bool:
        return self.deidentify_action.isChecked()

    def ready(self) -> bool:
        if self.model.volume is None or self.model.result is None:
            self.host.message("Run the analysis first: exports need its findings.")
            return False
        return True

    # -- exports --------------------------------------------------------------------------------

    def choose_pdf(self) -> None:
        if not self.ready():
            return
        start = str(Path(self.host.settings.get("last_folder")) / "report.pdf")
        path, _ = QFileDialog.getSaveFileName(
            self.parent_widget, "Export report", start, "PDF (*.pdf)"
        )
        if path:
            self.export_pdf(path)

    def export_pdf(self, path: str | Path) -> None:
        """The annotated PDF (decisions, key images with this window/level, the measurements
        stored for this series) in a worker."""
        from ctviewer.report.export import export_report, reviewer_decisions

        if not self.ready():
            return
        m = self.model
        decisions = reviewer_decisions(m.result)
        measurements = list(m.measurements)
        self.host.start_job(
            "export",
            lambda progress=None, cancel=None: export_report(
                m.volume,
                m.result,
                path,
                decisions,
                m.window,
                self.deidentify,
                progress=progress,
                cancel=cancel,
                measurements=measurements,
            ),  # fmt: skip
            on_result=lambda outputs: self.host.message(f"Report written: {outputs.pdf}"),
            label="report",
        )

    def choose_dicom_dir(self) -> None:
        if not self.ready():
            return
        folder = QFileDialog.getExistingDirectory(
            self.parent_widget, "Export DICOM into folder", self.host.settings.get("last_folder")
        )
        if folder:
            self.export_dicom(folder)

    def export_dicom(self, folder: str | Path) -> None:
        """SEG, key images (none for rejected findings) and SR in a worker; the status bar says
        what was written and what was not (`DicomExport.summary`)."""
        if not self.ready():
            return
        job = self.dicom_export_job()
        self.host.start_job(
            "export",
            lambda progress=None, cancel=None: job(folder, progress, cancel),
            on_result=lambda done: self.host.message(done.summary(folder)),
            label="DICOM export",
        )

    def dicom_export_job(self) -> Callable[..., DicomExport]:
        """`job(folder, progress, cancel)`: the DICOM export of the shown result, with its
        decisions and measurements as they are now (File → Export DICOM, Send to PACS)."""
        from ctviewer.report.dicom_export import export_dicom
        from ctviewer.report.export import reviewer_decisions

        m, deidentify = self.model, self.deidentify
        volume, result, window = m.volume, m.result, m.window
        decisions, measurements = reviewer_decisions(result), list(m.measurements)

        def job(folder, progress=None, cancel=None) -> DicomExport:
            return export_dicom(
                volume, result, folder, window, deidentify, progress, cancel, decisions,
                measurements,
            )  # fmt: skip

        return job

    # -- models ---------------------------------------------------------------------------------

    def learn(self) -> None:
        """Fine-tune the active model on the decisions; promoted only if not worse."""
        from ctviewer.feedback.learn import learn_from_feedback

        self.host.start_job(
            "learn",
            learn_from_feedback,
            self.model.store,
            self.model.model_path or versions.active_model_path(),
            on_result=self._on_learned,
            label="learning",
        )

    def _on_learned(self, outcome) -> None:
        self._show_outcome(outcome.summary())
        if outcome.promoted:
            self._reanalyse()

    def rollback(self) -> None:
        try:
            previous = versions.rollback(self.model.store)
        except CTViewerError as error:
            self.host.show_error(error)
            return
        name = previous.version if previous is not None else "the bundled default model"
        self.host.message(f"Active model is now {name}")
        self._reanalyse()

    def _reanalyse(self) -> None:
        """Analyse the open series again with the (new) active model; decisions carry over."""
        if self.model.model_path is None and self.model.volume is not None:
            self.host.run_analysis()

    def _show_outcome(self, text: str) -> None:
        self.host.message(text.splitlines()[0])
        self.outcome_box = QMessageBox(
            QMessageBox.Icon.Information, "Learn from feedback", text, parent=self.parent_widget
        )
        self.outcome_box.open()
