"""Opening studies in the main window: file dialogs, drag and drop, the demo, scanning in a
worker, the series chosen first, the preview image while a series loads, and thumbnails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from ctviewer.errors import CTViewerError
from ctviewer.io import load_series
from ctviewer.io.discover import discover
from ctviewer.io.readers import file_dialog_filter
from ctviewer.presets import default_window
from ctviewer.ui.series_browser import load_middle_image, make_thumbnails, volume_thumbnail
from ctviewer.volume import SeriesInfo, StudyIndex, Volume


class StudyOpening:
    """Mixin of `MainWindow` (uses its model, jobs, widgets and messages)."""

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open DICOM folder", self.settings.get("last_folder")
        )
        if folder:
            self.open_path(folder)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image file", self.settings.get("last_folder"), file_dialog_filter()
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
        self.browser.set_index(index)
        try:
            first = self.model.set_study(index)
        except CTViewerError as error:  # nothing showable: the browser lists what was set aside
            self.show_error(error)
            return
        self.load_series(first, self._auto_run_once)

    def load_series(self, series: SeriesInfo, auto_run: bool | None = None) -> None:
        """Read `series` in a worker and show it; analyse it after when `auto_run` (None: the
        setting)."""
        self.cancel_jobs(("load", "preview", "analysis"))
        self._auto_run_once = auto_run
        self.model.set_series(series)
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
        try:
            self.model.set_volume(volume)  # → _show_volume
        except CTViewerError as error:  # its kept measurements could not be read
            self.show_error(error, dialog=False)
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
        self.cine.stop()
        self.model.close()
        self.browser.clear()
        self.notices.clear()
        self.findings.set_result(None)
        self.plot.set_result(None)
        self.setWindowTitle("ctviewer")
        self.show_welcome()
