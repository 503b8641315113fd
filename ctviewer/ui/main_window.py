"""The main window: welcome page, series browser, MPR views, score plot and findings panel.

It only displays and dispatches: reading (`io`), analysis (`pipeline.detect`), rendering planes
(`render`) and decisions (`feedback.store`) are core calls; long ones run in workers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ctviewer.errors import CTViewerError
from ctviewer.feedback.carry import carry_decisions
from ctviewer.feedback.store import FeedbackStore
from ctviewer.io import load_series, pick_series
from ctviewer.io.discover import discover
from ctviewer.presets import WindowPreset, default_window, load_presets
from ctviewer.render import AXES, COLORMAPS, pixel_of, render_view
from ctviewer.ui.findings_panel import Decisions, FindingsPanel, verdict_text
from ctviewer.ui.notice_banner import NoticeBanner, banner_label, error_reason, without_path
from ctviewer.ui.review_actions import ReviewActions
from ctviewer.ui.score_plot import ScorePlot
from ctviewer.ui.series_browser import (
    SeriesBrowser,
    load_middle_image,
    make_thumbnails,
    rgba_to_qimage,
    volume_thumbnail,
)
from ctviewer.ui.settings import DEVICES, Settings
from ctviewer.ui.slice_view import SliceView
from ctviewer.ui.welcome import WelcomePage
from ctviewer.ui.workers import Jobs, Worker
from ctviewer.ui.worklist_panel import open_worklist
from ctviewer.volume import Finding, Result, SeriesInfo, StudyIndex, Volume

log = logging.getLogger(__name__)

QUIET_JOBS = ("thumbnails", "preview")  # helpers whose failure the user need not see
PAGE_STEP = 10  # slices per PageUp/PageDown
WL_SENSITIVITY = 1 / 256  # fraction of the window width per screen pixel dragged


def analysis_job(
    volume: Volume, model_path: Path | None, device: str, cache, progress=None, cancel=None
):
    """Worker body: the given model, else the installed one that fits the series → Result."""
    from ctviewer.pipeline import analyse as run  # torch is imported on first analysis only

    return run(volume, model_path, None, device, cache, progress, cancel)


class MainWindow(QMainWindow):
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
        self.model_path = Path(model_path) if model_path else None  # None → active model
        self.index: StudyIndex | None = None
        self.series: SeriesInfo | None = None
        self.volume: Volume | None = None
        self.result: Result | None = None
        self.window_cw: tuple[float, float] = (40.0, 400.0)
        self._models = None  # pipeline.ModelCache, made on the first analysis
        self._store: FeedbackStore | None = None
        self.jobs = Jobs(self)
        self.jobs.changed.connect(self._update_busy)
        self.jobs.progress.connect(self._on_job_progress)
        self.jobs.failed.connect(self._on_job_error)
        self.jobs.cancelled.connect(self._on_job_cancelled)
        self.active_axis = "axial"
        self.last_message = ""
        self._auto_run_once: bool | None = None
        self._thumbnails_for: StudyIndex | None = None
        self.setWindowTitle("ctviewer")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._build_pages()
        self._build_actions()
        self._build_status_bar()
        self._apply_settings()
        self.show_welcome()

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
        for view in self.views.values():
            view.windowDragged.connect(self._on_window_drag)
            view.cursorText.connect(self._show_cursor_text)
            view.activated.connect(self._set_active_axis)
            view.voxelClicked.connect(self.go_to_voxel)
            view.indexChanged.connect(self._update_crosshairs)
        self.views["axial"].indexChanged.connect(self._on_axial_index)
        self.plot = ScorePlot()
        self.plot.sliceClicked.connect(self.views["axial"].set_index)
        self.findings = FindingsPanel()
        self.findings.findingSelected.connect(self.jump_to_finding)
        self.findings.decisionRequested.connect(self.record_decision)
        self.findings.reviewer.editingFinished.connect(
            lambda: self.settings.set("reviewer", self.findings.reviewer.text().strip())
        )

        self.view_area = QWidget()
        grid = QGridLayout(self.view_area)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.views["axial"], 0, 0, 2, 1)
        grid.addWidget(self.views["coronal"], 0, 1)
        grid.addWidget(self.views["sagittal"], 1, 1)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 1)
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        self.warnings_label = banner_label()  # this series' reading warnings
        self.notices = NoticeBanner()  # why images of this study were not assessed, once each
        column.addWidget(self.warnings_label)
        column.addWidget(self.notices.label)
        column.addWidget(self.view_area, 1)
        column.addWidget(self.plot)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.browser)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.findings)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([320, 790, 390])

        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.splitter)
        self.setCentralWidget(self.pages)

    def _action(self, text: str, slot, shortcut: str | None = None, checkable=False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work while menus/toolbars are hidden too
        return action

    def _build_actions(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self._action("Open &folder…", self.choose_folder, "Ctrl+O"))
        menu.addAction(self._action("Open f&ile…", self.choose_file, "Ctrl+Shift+O"))
        menu.addAction(self._action("Open &DICOMDIR…", self.choose_dicomdir))
        menu.addAction(self._action("Open &worklist…", lambda: open_worklist(self)))
        self.recent_menu = menu.addMenu("&Recent studies")
        menu.addAction(self._action("Try the &demo study", self.open_demo))
        menu.addSeparator()
        self.review_actions = ReviewActions(self)
        for action in self.review_actions.file_actions():
            menu.addAction(action)
        self.save_view_action = self._action("&Save view as PNG…", self.save_view, "Ctrl+S")
        menu.addAction(self.save_view_action)
        menu.addAction(self._action("&Copy view", self.copy_view, "Ctrl+Shift+C"))
        menu.addSeparator()
        menu.addAction(self._action("&Close study", self.close_study, "Ctrl+W"))
        menu.addAction(self._action("&Quit", self.close, "Ctrl+Q"))

        self.overlay_action = self._action("&Overlay", self.set_overlay_visible, "O", True)
        self.mpr_action = self._action("&MPR (coronal + sagittal)", self.set_mpr, "M", True)
        view = self.menuBar().addMenu("&View")
        view.addAction(self.overlay_action)
        view.addAction(self.mpr_action)
        self.preset_actions: dict[str, QAction] = {}
        presets = view.addMenu("Window &presets")
        for preset in load_presets():
            action = self._action(
                f"{preset.label} ({preset.width:g}/{preset.center:g})",
                lambda _=False, p=preset: self.apply_preset(p),
                preset.key or None,
            )
            presets.addAction(action)
            self.preset_actions[preset.name] = action
        view.addAction(self._action("&Default window", self.reset_window, "0"))

        self.run_action = self._action("&Run analysis", self.run_analysis, "Ctrl+R")
        self.cancel_action = self._action("&Cancel", lambda: self.cancel_jobs(), "Esc")
        self.auto_run_action = self._action(
            "&Automatic analysis on open", self._set_auto, None, True
        )
        analysis = self.menuBar().addMenu("&Analysis")
        analysis.addAction(self.run_action)
        analysis.addAction(self.cancel_action)
        analysis.addAction(self.auto_run_action)
        analysis.addSeparator()
        for action in self.review_actions.model_actions():
            analysis.addAction(action)
        devices = analysis.addMenu("&Device")
        self.device_group = QActionGroup(self)
        for name in DEVICES:
            action = self._action(name, lambda _=False, n=name: self._set_device(n), None, True)
            self.device_group.addAction(action)
            devices.addAction(action)
        self.menuBar().addMenu("&Help").addAction(self._action("&About", self.about))

        self._build_toolbar()
        self._build_shortcuts()

    def _build_toolbar(self) -> None:
        bar = self.toolbar = self.addToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.addAction(self.run_action)
        bar.addAction(self.overlay_action)
        bar.addAction(self.mpr_action)
        bar.addSeparator()
        for preset in load_presets():
            button = QPushButton(f"{preset.key} {preset.label}" if preset.key else preset.label)
            button.setToolTip(f"W {preset.width:g} / L {preset.center:g}")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, p=preset: self.apply_preset(p))
            bar.addWidget(button)
        bar.addSeparator()
        bar.addWidget(QLabel(" Colours "))
        self.colormap_box = QComboBox()
        self.colormap_box.addItems(list(COLORMAPS))
        self.colormap_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.colormap_box.currentTextChanged.connect(self.set_colormap)
        bar.addWidget(self.colormap_box)
        bar.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setMaximumWidth(120)
        self.opacity_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100))
        bar.addWidget(self.opacity_slider)

    def _build_shortcuts(self) -> None:
        """Slice keys act on the active view; A/R decide on the selected finding."""
        for key, delta in (
            ("Up", -1), ("Down", 1), ("Left", -1), ("Right", 1),
            ("PgUp", -PAGE_STEP), ("PgDown", PAGE_STEP),
        ):  # fmt: skip
            shortcut = QShortcut(QKeySequence(key), self.view_area)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda d=delta: self.active_view().step(d))
        for key, decision in (("A", "accept"), ("R", "reject")):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(lambda d=decision: self.findings.request(d))

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.cursor_label = QLabel("")
        self.window_label = QLabel("")
        self.device_label = QLabel("device: –")
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(200)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(lambda: self.cancel_jobs())
        for widget in (self.cursor_label, self.window_label, self.device_label):
            bar.addPermanentWidget(widget)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)

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
        self.set_overlay_visible(self.overlay_action.isChecked())
        self.set_mpr(self.mpr_action.isChecked())
        self._refresh_recent()

    # -- pages, opening -------------------------------------------------------------------------

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

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open DICOM folder", self.settings.get("last_folder")
        )
        if folder:
            self.open_path(folder)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open image file",
            self.settings.get("last_folder"),
            "Images (*.dcm *.nii *.nii.gz *.nrrd *.mha *.mhd *.png *.jpg *.jpeg DICOMDIR);;"
            "All files (*)",
        )
        if path:
            self.open_path(path)

    def choose_dicomdir(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open DICOMDIR", self.settings.get("last_folder"), "DICOMDIR (DICOMDIR);;All (*)"
        )
        if path:
            self.open_path(path)

    def open_demo(self) -> None:
        """Make the synthetic demo study once, open it; the analysis starts when it is shown."""
        from ctviewer.synth.demo import ensure_demo_study

        def make(progress=None, cancel=None) -> Path:  # a second or two; no progress to show
            progress(0.0, "preparing the demo study")
            return ensure_demo_study()

        self._start("demo", make, on_result=self._open_demo_path, label="demo")

    def _open_demo_path(self, path) -> None:
        self.open_path(str(path), auto_run=True)

    def open_path(self, path: str, auto_run: bool | None = None) -> None:
        """Scan `path` (folder, file or DICOMDIR) in a worker, then load its main series."""
        self.cancel_jobs()
        self.notices.clear()
        self._auto_run_once = auto_run
        folder = path if Path(path).is_dir() else str(Path(path).parent)
        self.settings.set("last_folder", folder)
        self.settings.add_recent(str(path))
        self._refresh_recent()
        self.show_viewer()
        self.message(f"Scanning {Path(path).name}…")
        self._start("discover", discover, path, on_result=self._on_index, label="scan")

    def _on_index(self, index: StudyIndex) -> None:
        self.index = index
        self.browser.set_index(index)
        try:
            first = pick_series(index)
        except CTViewerError as error:  # nothing showable: the browser lists what was set aside
            self.show_error(error)
            return
        self.load_series(first)

    def load_series(self, series: SeriesInfo) -> None:
        self.cancel_jobs(("load", "preview", "analysis"))
        self.series = series
        self.browser.select_series(series.key)
        self.message(f"Loading {series.description or series.key} ({series.n_images} images)…")
        self._start("load", load_series, series, on_result=self._on_volume, label="load")
        if series.kind == "dicom" and len(series.files) > 1:
            self._start("preview", load_middle_image, series, on_result=self._on_preview)

    def _on_preview(self, preview: Volume) -> None:
        """Show one image at once while the whole series loads (big or compressed series)."""
        if not self.is_busy("load"):
            return  # the whole volume came first
        self.show_viewer()
        axial = self.views["axial"]
        axial.set_volume(preview, default_window(preview))
        axial.set_crosshair(None)
        axial.title.setText("Axial — preview; loading the series…")
        self.previewShown.emit()

    def _on_volume(self, volume: Volume) -> None:
        self.volume, self.result = volume, None
        self.views["axial"].title.setText("Axial")
        self.window_cw = default_window(volume)
        for view in self.views.values():
            view.set_volume(volume, self.window_cw)
        self._update_crosshairs()
        self.plot.set_result(None)
        self.findings.set_result(None)
        self._show_window_text()
        self.setWindowTitle(f"ctviewer — {Path(volume.source).name}")
        self.show_viewer()
        self.active_view().graphics.setFocus()
        self.warnings_label.setText("⚠ " + "\n⚠ ".join(volume.warnings))
        self.warnings_label.setVisible(bool(volume.warnings))
        warnings = f" — ⚠ {'; '.join(volume.warnings)}" if volume.warnings else ""
        self.message(f"{volume.n_slices} slices, {volume.shape[1]}×{volume.shape[2]}{warnings}")
        if self.series is not None:
            self.browser.set_thumbnail(self.series.key, volume_thumbnail(volume))
        self.volumeShown.emit()
        auto = self._auto_run_once if self._auto_run_once is not None else self.auto_run
        self._auto_run_once = None
        if auto:
            self.run_analysis()
        self._start_thumbnails()

    def _start_thumbnails(self) -> None:
        """Once per opened study: thumbnails of the series not loaded yet."""
        if self.index is None or self._thumbnails_for is self.index:
            return
        self._thumbnails_for = self.index
        todo = [s for s in self.index.all_series() if s.key != getattr(self.series, "key", None)]
        if todo:
            self._start("thumbnails", make_thumbnails, todo, on_result=self._on_thumbnails)

    def _on_thumbnails(self, thumbnails: dict[str, np.ndarray]) -> None:
        for key, rgba in thumbnails.items():
            self.browser.set_thumbnail(key, rgba)

    def close_study(self) -> None:
        self.cancel_jobs()
        self.index = self.series = self.volume = self.result = None
        self.browser.clear()
        self.notices.clear()
        self.findings.set_result(None)
        self.plot.set_result(None)
        self.setWindowTitle("ctviewer")
        self.show_welcome()

    # -- analysis -----------------------------------------------------------------------------

    @property
    def auto_run(self) -> bool:
        return self.auto_run_action.isChecked()

    @property
    def device(self) -> str:
        checked = self.device_group.checkedAction()
        return checked.text() if checked is not None else "auto"

    def run_analysis(self) -> None:
        if self.volume is None or self.is_busy("analysis"):
            return
        if self._models is None:
            from ctviewer.pipeline import ModelCache

            self._models = ModelCache()
        self._start(
            "analysis",
            analysis_job,
            self.volume,
            self.model_path,
            self.device,
            self._models,
            on_result=self._on_result,
            label="analysis",
        )

    def _on_result(self, result: Result) -> None:
        if self.volume is None or result.source != self.volume.source:
            return  # a different series was opened meanwhile
        self.result = result
        self.device_label.setText(f"device: {result.model.device}")
        for view in self.views.values():
            view.set_result(result)
        self.plot.set_result(result)
        self.plot.set_slice(self.views["axial"].index)
        self.findings.set_result(result, self._decisions())
        self.message(f"Analysis done on {result.model.device}: {verdict_text(result)}")
        if not result.assessed:
            self.notices.add(without_path(result.not_assessed_reason, result.source))
        self.resultShown.emit()
        self.analysisEnded.emit("finished")

    # -- feedback -------------------------------------------------------------------------------

    @property
    def store(self) -> FeedbackStore:
        if self._store is None:
            self._store = FeedbackStore()
        return self._store

    def _decisions(self) -> Decisions:
        """Decisions on this series, carried over from earlier analyses where the finding is at
        the same place (a re-analysis with a new model version keeps them)."""
        result = self.result
        if result is None:
            return {}
        return carry_decisions(self.store.decisions(result.item_key), result)

    def record_decision(self, decision: str, finding: Finding | None) -> None:
        """Record via the feedback store (committed before this returns) and show it."""
        reviewer = self.findings.reviewer.text().strip()
        if not reviewer:
            self.findings.reviewer.setFocus()
            self.message("Enter your name as reviewer first; it is recorded with each decision.")
            return
        if self.result is None:
            return
        self.settings.set("reviewer", reviewer)
        try:
            self.store.record(self.result, finding, decision, reviewer)
        except CTViewerError as error:
            self.show_error(error, dialog=False)
            return
        self.findings.show_decisions(self._decisions())
        what = f"finding {finding.id}" if finding is not None else "series"
        self.message(f"Recorded: {what} {decision} by {reviewer}")

    # -- display --------------------------------------------------------------------------------

    def active_view(self) -> SliceView:
        return self.views[self.active_axis]

    def _set_active_axis(self, axis: str) -> None:
        self.active_axis = axis

    def _on_axial_index(self, index: int) -> None:
        self.plot.set_slice(index)

    def _update_crosshairs(self) -> None:
        """In MPR, each view shows where the other two planes cut it."""
        if self.volume is None:
            return
        voxel = tuple(self.views[axis].index for axis in AXES)
        mpr = self.mpr_action.isChecked()
        for view in self.views.values():
            view.set_crosshair(pixel_of(self.volume, view.axis, voxel) if mpr else None)

    def go_to_voxel(self, voxel: tuple[int, int, int]) -> None:
        """Show the planes through `voxel` (z, y, x) in the views other than the active one."""
        for axis, index in zip(AXES, voxel, strict=True):
            if axis != self.active_axis:
                self.views[axis].set_index(index)

    def jump_to_finding(self, finding: Finding) -> None:
        z0, y0, x0, z1, y1, x1 = finding.bbox
        centre = ((z0 + z1 - 1) // 2, (y0 + y1 - 1) // 2, (x0 + x1 - 1) // 2)
        for axis, index in zip(AXES, centre, strict=True):
            self.views[axis].set_index(index)

    def set_window(self, window: tuple[float, float]) -> None:
        self.window_cw = (float(window[0]), max(float(window[1]), 1.0))
        for view in self.views.values():
            view.set_window(self.window_cw)
        self._show_window_text()

    def apply_preset(self, preset: WindowPreset) -> None:
        self.set_window(preset.window)

    def reset_window(self) -> None:
        if self.volume is not None:
            self.set_window(default_window(self.volume))

    def _on_window_drag(self, dx: float, dy: float) -> None:
        """Left-drag: right widens the window, down raises the level (as in Weasis/OHIF)."""
        center, width = self.window_cw
        step = max(width, 10.0) * WL_SENSITIVITY
        self.set_window((center + dy * step, width + dx * step))

    def _show_window_text(self) -> None:
        center, width = self.window_cw
        self.window_label.setText(f"W {width:.0f} L {center:.0f}")

    def _show_cursor_text(self, text: str) -> None:
        self.cursor_label.setText(text)

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay_action.setChecked(bool(visible))
        for view in self.views.values():
            view.set_overlay_visible(bool(visible))
        self.settings.set("overlay_visible", bool(visible))

    def set_opacity(self, opacity: float) -> None:
        for view in self.views.values():
            view.set_opacity(opacity)
        self.settings.set("overlay_opacity", float(opacity))

    def set_colormap(self, name: str) -> None:
        for view in self.views.values():
            view.set_colormap(name)
        self.settings.set("colormap", name)

    def set_mpr(self, on: bool) -> None:
        self.views["coronal"].setVisible(bool(on))
        self.views["sagittal"].setVisible(bool(on))
        if not on:
            self.active_axis = "axial"
        self.settings.set("mpr", bool(on))
        self._update_crosshairs()

    def _set_auto(self, on: bool) -> None:
        self.settings.set("auto_run", bool(on))

    def _set_device(self, name: str) -> None:
        self.settings.set("device", name)

    def view_image(self) -> np.ndarray:
        """RGBA of the active view as shown (window, overlay), at the volume's resolution."""
        view = self.active_view()
        return render_view(
            self.volume,
            self.result,
            view.index,
            self.window_cw,
            overlay=self.overlay_action.isChecked(),
            axis=view.axis,
            colormap=self.colormap_box.currentText(),
            opacity=self.opacity_slider.value() / 100,
        )

    def save_view(self) -> None:
        if self.volume is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save view",
            str(Path(self.settings.get("last_folder")) / "view.png"),
            "PNG (*.png)",
        )
        if path:
            from ctviewer.report.keyimages import save_png

            try:
                save_png(self.view_image(), path)
            except CTViewerError as error:
                self.show_error(error)
                return
            self.message(f"Saved {path}")

    def copy_view(self) -> None:
        if self.volume is not None:
            QApplication.clipboard().setImage(rgba_to_qimage(self.view_image()))
            self.message("View copied to the clipboard")

    # -- jobs, messages ---------------------------------------------------------------------------

    def _start(self, name: str, fn, *args, on_result, label: str | None = None) -> Worker:
        return self.jobs.start(name, fn, *args, on_result=on_result, label=label)

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
        QThreadPool.globalInstance().waitForDone(5000)
        if self._store is not None:
            self._store.close()
        super().closeEvent(event)
