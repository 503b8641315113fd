"""The main window: welcome page, series browser, MPR views, score plot, findings and
measurements. It binds widgets to a `ViewerModel` (the state and rules, Qt-free): user input
calls the model, the model's events redraw the widgets. Long jobs run in workers."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ctviewer.errors import CTViewerError
from ctviewer.feedback.store import FeedbackStore
from ctviewer.render import AXES, COLORMAPS
from ctviewer.ui import chrome
from ctviewer.ui.cine import Cine
from ctviewer.ui.findings_panel import FindingsPanel, verdict_text
from ctviewer.ui.measurements_panel import MeasurementsPanel
from ctviewer.ui.notice_banner import NoticeBanner, banner_label, error_reason, without_path
from ctviewer.ui.pacs_dock import show_pacs_panel
from ctviewer.ui.presets_menu import PresetsMenu
from ctviewer.ui.review_actions import ReviewActions
from ctviewer.ui.score_plot import ScorePlot
from ctviewer.ui.series_browser import SeriesBrowser
from ctviewer.ui.settings import DEVICES, Settings
from ctviewer.ui.slice_view import SliceView
from ctviewer.ui.study_opening import StudyOpening
from ctviewer.ui.welcome import WelcomePage
from ctviewer.ui.window_display import TOOLS, WindowDisplay
from ctviewer.ui.workers import Jobs, Worker
from ctviewer.ui.worklist_panel import step_worklist
from ctviewer.viewer import ViewerModel
from ctviewer.viewer.bindings import PAGE_STEP
from ctviewer.volume import Finding, Result

log = logging.getLogger(__name__)

QUIET_JOBS = ("thumbnails", "preview")  # helpers whose failure the user need not see


class MainWindow(StudyOpening, WindowDisplay, QMainWindow):
    """Emits `previewShown` when a first image of a series being loaded is on screen,
    `volumeShown` when the whole volume is, and `resultShown` when an analysis result is
    displayed (tests and benchmarks wait on them)."""

    previewShown = Signal()  # the middle image, while the whole series still loads
    volumeShown = Signal()
    resultShown = Signal()
    analysisEnded = Signal(str)  # "finished" | "cancelled" | "failed"

    def __init__(self, model_path: str | Path | None = None, settings: Settings | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.model = ViewerModel(model_path)  # None → the installed model that fits
        self.jobs = Jobs(self)
        self.jobs.changed.connect(self._update_busy)
        self.jobs.progress.connect(self._on_job_progress)
        self.jobs.failed.connect(self._on_job_error)
        self.jobs.cancelled.connect(self._on_job_cancelled)
        self.active_axis = "axial"
        self.last_message = ""
        self._auto_run_once: bool | None = None
        self._thumbnails_for = None
        self.cine = Cine(lambda: self.model.step(self.active_axis, 1, wrap=True), self)
        self.presets = PresetsMenu(
            self,
            self.apply_preset,
            lambda: self.model.window,
            lambda e: self.show_error(e, dialog=False),
        )
        self.setWindowTitle("ctviewer")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._build_pages()
        self.review_actions = ReviewActions(self, self.model, self)
        self.acts = chrome.build_actions(self)
        self.overlay_action, self.mpr_action = self.acts["overlay"], self.acts["mpr"]
        self.run_action, self.cancel_action = self.acts["run_analysis"], self.acts["cancel"]
        self.save_view_action = self.acts["save_view"]
        chrome.build_menus(self)
        chrome.build_toolbar(self)
        chrome.build_status_bar(self)
        chrome.bind_view_keys(self, self.centre)
        self._bind_model()
        self._apply_settings()
        self.show_welcome()

    # -- the model's state, as the window's (tests, exports and benchmarks read these) -------

    volume = property(lambda self: self.model.volume)
    result = property(lambda self: self.model.result)
    index = property(lambda self: self.model.index)
    series = property(lambda self: self.model.series)
    window_cw = property(lambda self: self.model.window)
    model_path = property(lambda self: self.model.model_path)
    store: FeedbackStore = property(lambda self: self.model.store)  # type: ignore[assignment]

    def commands(self) -> dict:
        """What each `viewer.bindings` action does (chrome binds the keys to these)."""
        step = self.step_active
        return {
            "open_folder": self.choose_folder, "open_file": self.choose_file,
            "pacs": lambda: show_pacs_panel(self),
            "save_view": self.save_view, "copy_view": self.copy_view,
            "close_study": self.close_study, "quit": self.close,
            "previous_slice": lambda: step(-1), "next_slice": lambda: step(1),
            "page_up": lambda: step(-PAGE_STEP), "page_down": lambda: step(PAGE_STEP),
            "first_slice": lambda: step(-10**6), "last_slice": lambda: step(10**6),
            "cine": self.cine.toggle, "zoom_fit": lambda: self.active_view().zoom_fit(),
            "zoom_1to1": lambda: self.active_view().zoom_1to1(), "reset_view": self.reset_view,
            "default_window": self.model.reset_window, "roi_window": self.roi_window,
            "overlay": self.set_overlay_visible, "mpr": self.set_mpr, "oblique": self.set_oblique,
            "corner_text": self.set_corner_text, "deidentified": self.set_deidentified,
            **{name: (lambda on, n=name: self.set_tool(TOOLS[n] if on else "")) for name in TOOLS},
            "delete_measurement": self.delete_measurement, "run_analysis": self.run_analysis,
            "cancel": self.cancel, "accept": lambda: self.findings.request("accept"),
            "reject": lambda: self.findings.request("reject"), "help_bindings": self.show_bindings,
            "next_unreviewed": lambda: step_worklist(self, 1),
            "previous_unreviewed": lambda: step_worklist(self, -1),
        }  # fmt: skip

    # -- layout -------------------------------------------------------------------------------

    def _build_pages(self) -> None:
        self.welcome = WelcomePage()
        self.welcome.openFolderRequested.connect(self.choose_folder)
        self.welcome.openFileRequested.connect(self.choose_file)
        self.welcome.demoRequested.connect(self.open_demo)
        self.welcome.recentChosen.connect(self.open_path)
        self.browser = SeriesBrowser()
        self.browser.seriesActivated.connect(self.load_series)
        self.views = {axis: SliceView(axis) for axis in AXES}
        self.plot = ScorePlot()
        self.findings = FindingsPanel()
        self.measurements = MeasurementsPanel()
        self.view_area = QWidget()
        grid = QGridLayout(self.view_area)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.views["axial"], 0, 0, 2, 1)
        grid.addWidget(self.views["coronal"], 0, 1)
        grid.addWidget(self.views["sagittal"], 1, 1)
        self._add_oblique(grid, 1, 1)  # shares the sagittal view's place
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 1)
        self.centre = QWidget()  # the viewing area: slice keys work wherever the focus is in it
        column = QVBoxLayout(self.centre)
        column.setContentsMargins(0, 0, 0, 0)
        self.warnings_label = banner_label()  # this series' reading warnings
        self.notices = NoticeBanner()  # why images of this study were not assessed, once each
        for widget in (self.warnings_label, self.notices.label, self.view_area, self.plot):
            column.addWidget(widget, 1 if widget is self.view_area else 0)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.findings)
        right.addWidget(self.measurements)
        right.setSizes([560, 240])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.browser, self.centre, right):
            self.splitter.addWidget(widget)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([320, 790, 390])
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.splitter)
        self.setCentralWidget(self.pages)

    def _bind_model(self) -> None:
        """User input → model; model events → widgets."""
        m, axial = self.model, self.views["axial"]
        for view in self.views.values():
            view.windowDragged.connect(self._on_window_drag)
            view.cursorText.connect(self.cursor_label.setText)
            view.activated.connect(self._set_active_axis)
            view.voxelClicked.connect(m.set_position)
            view.crosshairDragged.connect(m.set_position)
            view.indexChanged.connect(lambda i, a=view.axis: m.set_index(a, i))
            view.corner_source = self._corner_text
        self.plot.sliceClicked.connect(lambda i: m.set_index("axial", i))
        self.findings.findingSelected.connect(m.select_finding)
        self.findings.decisionRequested.connect(self.record_decision)
        self.findings.reviewer.editingFinished.connect(
            lambda: self.settings.set("reviewer", self.findings.reviewer.text().strip())
        )
        axial.viewbox.drawn.connect(self._on_drawn)
        axial.measures.created.connect(lambda new: self._store_call(m.add_measurement, new))
        axial.measures.edited.connect(lambda i, p: self._store_call(m.update_measurement, i, p))
        axial.measures.picked.connect(self.measurements.select)
        self.measurements.measurementSelected.connect(self._on_measurement_selected)
        self.measurements.deleteRequested.connect(
            lambda i: self._store_call(m.remove_measurement, i)
        )
        self.measurements.roiWindowRequested.connect(m.window_from_roi)
        self.fps_box.valueChanged.connect(self._set_fps)
        m.events.volume.connect(self._show_volume)
        m.events.result.connect(self._show_result)
        m.events.decisions.connect(self.findings.show_decisions)
        m.events.window.connect(self._show_window)
        m.events.position.connect(self._show_position)
        m.events.selection.connect(self._show_selection)
        m.events.measurements.connect(self._show_measurements)
        m.events.display.connect(self._show_display)

    def _apply_settings(self) -> None:
        s = self.settings
        self.auto_run_action.setChecked(s.get("auto_run"))
        self.overlay_action.setChecked(s.get("overlay_visible"))
        self.mpr_action.setChecked(s.get("mpr"))
        self.opacity_slider.setValue(round(s.get("overlay_opacity") * 100))
        colormap = s.get("colormap") if s.get("colormap") in COLORMAPS else "hot"
        self.colormap_box.setCurrentText(colormap)
        self.set_colormap(colormap)
        self.findings.reviewer.setText(s.get("reviewer"))
        device = s.get("device") if s.get("device") in DEVICES else "auto"
        for action in self.device_group.actions():
            action.setChecked(action.text() == device)
        self.model.device = device
        self.fps_box.setValue(round(s.get("cine_fps")))
        self._set_fps(self.fps_box.value())
        self.set_overlay_visible(self.overlay_action.isChecked())
        self.set_mpr(self.mpr_action.isChecked())
        self.set_corner_text(s.get("corner_text"))
        self.set_deidentified(s.get("deidentified_display"))
        self._refresh_recent()

    # -- pages -----------------------------------------------------------------------------------

    def show_welcome(self) -> None:
        self.welcome.set_recent(self.settings.recent())
        self.pages.setCurrentWidget(self.welcome)
        self.toolbar.setVisible(False)
        self.statusBar().setVisible(False)

    def show_viewer(self) -> None:
        self.pages.setCurrentWidget(self.splitter)
        self.toolbar.setVisible(True)
        self.statusBar().setVisible(True)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.settings.recent()))

    # -- analysis and decisions ------------------------------------------------------------------

    @property
    def auto_run(self) -> bool:
        return self.auto_run_action.isChecked()

    @property
    def device(self) -> str:
        checked = self.device_group.checkedAction()
        return checked.text() if checked is not None else "auto"

    def run_analysis(self) -> None:
        if self.model.volume is None or self.is_busy("analysis"):
            return
        self._start(
            "analysis",
            self.model.analyse,
            self.model.volume,
            on_result=self.show_result,
            label="analysis",
        )

    def show_result(self, result: Result) -> None:
        """Show an analysis of the shown series (ignored when another series is shown now)."""
        if not self.model.set_result(result):
            return  # a different series was opened meanwhile
        self.message(f"Analysis done on {result.model.device}: {verdict_text(result)}")
        if not result.assessed:
            self.notices.add(without_path(result.not_assessed_reason, result.source))
        self.resultShown.emit()
        self.analysisEnded.emit("finished")

    def record_decision(self, decision: str, finding: Finding | None) -> None:
        """Record via the model's store (committed before this returns) and show it."""
        reviewer = self.findings.reviewer.text().strip()
        if not reviewer:
            self.findings.reviewer.setFocus()
            self.message("Enter your name as reviewer first; it is recorded with each decision.")
            return
        if self.model.result is None:
            return
        self.settings.set("reviewer", reviewer)
        if self._store_call(self.model.decide, decision, finding, reviewer):
            what = f"finding {finding.id}" if finding is not None else "series"
            self.message(f"Recorded: {what} {decision} by {reviewer}")

    def _store_call(self, fn, *args) -> bool:
        """A model call that writes the store; its error is one line in the status bar."""
        try:
            fn(*args)
        except CTViewerError as error:
            self.show_error(error, dialog=False)
            return False
        return True

    # -- jobs, messages ---------------------------------------------------------------------------

    def _start(self, name: str, fn, *args, on_result, label: str | None = None) -> Worker:
        return self.jobs.start(name, fn, *args, on_result=on_result, label=label)

    def start_job(self, name: str, fn, *args, on_result, label: str | None = None) -> Worker:
        """A worker job (what `ReviewActions` runs its exports and learning as)."""
        return self._start(name, fn, *args, on_result=on_result, label=label)

    def _on_job_progress(self, label: str, fraction: float, text: str) -> None:
        self.progress_bar.setValue(round(fraction * 1000))
        self.progress_bar.setFormat(f"{label} %p%")
        if text:
            self.message(text)

    def _on_job_error(self, name: str, error: BaseException) -> None:
        if name in QUIET_JOBS:
            log.info("%s failed: %s", name, error)
            return
        if name == "analysis":
            self.analysisEnded.emit("failed")
            if isinstance(error, CTViewerError):  # e.g. no model fits these images: every image
                self.message(f"Not assessed: {error}")  # of the study would say it again, so
                self.notices.add(error_reason(error))  # a banner tells it once, no dialog
                return
        self.show_error(error)

    def _on_job_cancelled(self, name: str) -> None:
        if name == "analysis":
            self.analysisEnded.emit("cancelled")
        if name not in QUIET_JOBS:
            self.message(f"{name} cancelled")

    def _update_busy(self) -> None:
        busy = self.jobs.visible()
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.run_action.setEnabled(not self.jobs.is_running("analysis"))
        if not busy:
            self.progress_bar.setValue(0)

    def cancel(self) -> None:
        """Esc: stop running jobs, cine and the measuring tool."""
        self.cancel_jobs()
        self.cine.stop()
        self.set_tool("")

    def cancel_jobs(self, names: tuple[str, ...] | None = None) -> None:
        self.jobs.cancel(names)

    def is_busy(self, name: str) -> bool:
        return self.jobs.is_running(name)

    def message(self, text: str) -> None:
        self.last_message = text
        self.statusBar().showMessage(text)

    def show_error(self, error: BaseException, dialog: bool = True) -> None:
        """A user-caused error as one line; anything else is logged with its traceback."""
        if isinstance(error, CTViewerError):
            text = str(error)
        else:
            log.error("unexpected error", exc_info=error)
            text = f"Unexpected error ({type(error).__name__}: {error}); details are in the log."
        self.message(text)
        if dialog:
            self.error_box = QMessageBox(QMessageBox.Icon.Warning, "ctviewer", text, parent=self)
            self.error_box.open()  # not modal-blocking: workers and tests keep running

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About ctviewer",
            "ctviewer: a CT viewer with self-supervised anomaly flags.\n"
            "Decision support only — the diagnosis is the radiologist's.",
        )

    # -- Qt events --------------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_path(paths[0])

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cancel_jobs()
        self.cine.stop()
        QThreadPool.globalInstance().waitForDone(5000)
        self.model.close_store()
        super().closeEvent(event)
