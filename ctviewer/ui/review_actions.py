"""Actions that hand a reviewed series on: PDF report, DICOM SEG + key images, and learning from
the recorded decisions (a new model version, promoted only if it is not worse). Each runs as a
worker job of the main window; the computation is the core's (`report`, `feedback.learn`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ctviewer.errors import CTViewerError
from ctviewer.feedback import versions

if TYPE_CHECKING:
    from ctviewer.ui.main_window import MainWindow


class ReviewActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.export_pdf_action = window._action("Export &report (PDF)…", self.choose_pdf)
        self.export_dicom_action = window._action(
            "Export DICOM &SEG, key images and SR…", self.choose_dicom_dir
        )
        self.deidentify_action = window._action("De-&identify exports", lambda: None, None, True)
        self.learn_action = window._action("&Learn from feedback", self.learn)
        self.rollback_action = window._action("Roll &back to the previous model", self.rollback)
        self.outcome_box: QMessageBox | None = None

    def file_actions(self) -> list[QAction]:
        return [self.export_pdf_action, self.export_dicom_action, self.deidentify_action]

    def model_actions(self) -> list[QAction]:
        return [self.learn_action, self.rollback_action]

    @property
    def deidentify(self) -> bool:
        return self.deidentify_action.isChecked()

    def _ready(self) -> bool:
        w = self.window
        if w.volume is None or w.result is None:
            w.message("Run the analysis first: exports need its findings.")
            return False
        return True

    # -- exports --------------------------------------------------------------------------------

    def choose_pdf(self) -> None:
        if not self._ready():
            return
        start = str(Path(self.window.settings.get("last_folder")) / "report.pdf")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export report", start, "PDF (*.pdf)")
        if path:
            self.export_pdf(path)

    def export_pdf(self, path: str | Path) -> None:
        """The annotated PDF (decisions, key images with this window/level, the measurements
        stored for this series) in a worker."""
        from ctviewer.report.export import export_report, reviewer_decisions, stored_measurements

        if not self._ready():
            return
        w = self.window
        decisions, measurements = reviewer_decisions(w.result), stored_measurements(w.volume)
        w._start(
            "export",
            lambda progress=None, cancel=None: export_report(
                w.volume,
                w.result,
                path,
                decisions,
                w.window_cw,
                self.deidentify,
                progress=progress,
                cancel=cancel,
                measurements=measurements,
            ),  # fmt: skip
            on_result=lambda outputs: w.message(f"Report written: {outputs.pdf}"),
            label="report",
        )

    def choose_dicom_dir(self) -> None:
        if not self._ready():
            return
        folder = QFileDialog.getExistingDirectory(
            self.window, "Export DICOM into folder", self.window.settings.get("last_folder")
        )
        if folder:
            self.export_dicom(folder)

    def export_dicom(self, folder: str | Path) -> None:
        """SEG, key images (none for rejected findings) and SR in a worker; the status bar says
        what was written and what was not (`DicomExport.summary`)."""
        from ctviewer.report.dicom_export import export_dicom
        from ctviewer.report.export import reviewer_decisions, stored_measurements

        if not self._ready():
            return
        w = self.window
        decisions, measurements = reviewer_decisions(w.result), stored_measurements(w.volume)
        w._start(
            "export",
            lambda progress=None, cancel=None: export_dicom(
                w.volume,
                w.result,
                folder,
                w.window_cw,
                self.deidentify,
                progress,
                cancel,
                decisions,
                measurements,
            ),  # fmt: skip
            on_result=lambda done: w.message(done.summary(folder)),
            label="DICOM export",
        )

    # -- models ---------------------------------------------------------------------------------

    def learn(self) -> None:
        """Fine-tune the active model on the decisions; promoted only if not worse."""
        from ctviewer.feedback.learn import learn_from_feedback

        w = self.window
        w._start(
            "learn",
            learn_from_feedback,
            w.store,
            w.model_path or versions.active_model_path(),
            on_result=self._on_learned,
            label="learning",
        )

    def _on_learned(self, outcome) -> None:
        self._show_outcome(outcome.summary())
        if outcome.promoted:
            self._reanalyse()

    def rollback(self) -> None:
        try:
            previous = versions.rollback(self.window.store)
        except CTViewerError as error:
            self.window.show_error(error)
            return
        name = previous.version if previous is not None else "the bundled default model"
        self.window.message(f"Active model is now {name}")
        self._reanalyse()

    def _reanalyse(self) -> None:
        """Analyse the open series again with the (new) active model; decisions carry over."""
        w = self.window
        if w.model_path is None and w.volume is not None:
            w.run_analysis()

    def _show_outcome(self, text: str) -> None:
        self.window.message(text.splitlines()[0])
        self.outcome_box = QMessageBox(
            QMessageBox.Icon.Information, "Learn from feedback", text, parent=self.window
        )
        self.outcome_box.open()
