"""What the main window shows: model events redraw the views, plot and panels; the display
controls (window, overlay, MPR, corner text, de-identified display, zoom, cine, measuring tools)
and the view as a PNG. A mixin of `MainWindow`, which owns the widgets and the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QFileDialog

from ctviewer.errors import CTViewerError
from ctviewer.measurement import Measurement
from ctviewer.presets import WindowPreset
from ctviewer.render import AXES, pixel_of, render_view
from ctviewer.ui.help_dialog import BindingsDialog
from ctviewer.ui.oblique_view import ObliqueView
from ctviewer.ui.series_browser import rgba_to_qimage
from ctviewer.ui.slice_view import SliceView
from ctviewer.viewer.corner_text import CornerText, corner_text
from ctviewer.volume import Finding, Result, Volume

WL_SENSITIVITY = 1 / 256  # fraction of the window width per screen pixel dragged
TOOLS = {"tool_length": "length", "tool_ellipse": "ellipse", "tool_rectangle": "rectangle"}


class WindowDisplay:
    """Mixin of `MainWindow`: the display side of the window."""

    def _add_oblique(self, grid, row: int, col: int) -> None:
        """The oblique MPR view and its trace on the axial view (hidden until switched on)."""
        self.oblique = ObliqueView()
        self.oblique.setVisible(False)
        grid.addWidget(self.oblique, row, col)
        self.oblique.turned.connect(self.model.turn_oblique)
        self.oblique_trace = pg.InfiniteLine(pen=pg.mkPen("#e67e22", width=1))
        self.oblique_trace.setZValue(2)
        self.oblique_trace.setVisible(False)
        self.views["axial"].viewbox.addItem(self.oblique_trace, ignoreBounds=True)
        self.model.events.oblique.connect(lambda _angle: self._show_oblique())

    def _show_oblique(self) -> None:
        volume = self.model.volume
        if volume is None or not self.oblique.isVisible():
            return
        z, y, x = self.model.position
        angle = self.model.oblique_angle
        self.oblique_trace.setPos(((x + 0.5) * volume.spacing[2], (y + 0.5) * volume.spacing[1]))
        self.oblique_trace.setAngle(angle)
        overlay = self.overlay_action.isChecked()
        opacity = self.opacity_slider.value() / 100
        self.oblique.set_overlay(overlay, self.colormap_box.currentText(), opacity)
        self.oblique.show_plane(self.model.position, angle)

    # -- model events → widgets --------------------------------------------------------------------

    def _show_volume(self, volume: Volume | None) -> None:
        if volume is None:
            return
        self.views["axial"].title.setText("Axial")
        for view in self.views.values():
            view.set_volume(volume, self.model.window)
        self.oblique.set_volume(volume, self.model.window)
        self.measurements.spacing_known = volume.spacing_known
        self._show_position(self.model.position)
        self._show_window(self.model.window)
        self._show_display()

    def _show_result(self, result: Result | None) -> None:
        for view in self.views.values():
            view.set_result(result)
        self.oblique.set_result(result)
        self.plot.set_result(result)
        self.plot.set_slice(self.model.index_of("axial"))
        self.findings.set_result(result, self.model.decisions())
        if result is not None:
            self.device_label.setText(f"device: {result.model.device}")

    def _show_window(self, window: tuple[float, float]) -> None:
        for view in self.views.values():
            view.set_window(window)
        self.oblique.set_window(window)
        center, width = window
        self.window_label.setText(f"W {width:.0f} L {center:.0f}")

    def _show_position(self, voxel: tuple[int, int, int]) -> None:
        """Each view at its plane through `voxel`; in MPR, where the other two planes cut it."""
        volume = self.model.volume
        if volume is None:
            return
        mpr = self.mpr_action.isChecked()
        for axis, index in zip(AXES, voxel, strict=True):
            view = self.views[axis]
            view.set_index(index)
            view.set_crosshair(pixel_of(volume, axis, voxel) if mpr else None)
        self.plot.set_slice(voxel[0])
        self._show_oblique()

    def _show_selection(self, finding: Finding | None) -> None:
        """Bring the selected finding's peak into the middle of every view (zoom kept)."""
        if finding is None or self.model.volume is None:
            return
        for axis, view in self.views.items():
            view.centre_on(pixel_of(self.model.volume, axis, self.model.position))

    def _show_measurements(self, measurements: list[Measurement]) -> None:
        axial = self.views["axial"]
        axial.measures.set_measurements(measurements, axial.index)
        self.measurements.set_measurements(measurements)

    def _show_display(self) -> None:
        volume = self.model.volume
        named = volume is not None and not self.model.deidentified
        self.setWindowTitle(f"ctviewer — {Path(volume.source).name}" if named else "ctviewer")
        self.browser.set_deidentified(self.model.deidentified)
        for view in self.views.values():
            view.refresh_corners()

    def _corner_text(self, view: SliceView) -> CornerText:
        """The corners of what `view` shows (the preview image too, before the model has it)."""
        m = self.model
        return corner_text(
            view.volume, view.result, view.axis, view.index, m.window, view.zoom(), m.deidentified
        )

    # -- display controls ---------------------------------------------------------------------

    def active_view(self) -> SliceView:
        return self.views[self.active_axis]

    def _set_active_axis(self, axis: str) -> None:
        self.active_axis = axis

    def step_active(self, delta: int) -> None:
        self.model.step(self.active_axis, delta)

    def set_window(self, window: tuple[float, float]) -> None:
        self.model.set_window(window)

    def apply_preset(self, preset: WindowPreset) -> None:
        self.model.set_window(preset.window)

    def reset_view(self) -> None:
        """Every view fitted and centred, the file's own window."""
        for view in self.views.values():
            view.zoom_fit()
        self.model.reset_window()

    def _on_window_drag(self, dx: float, dy: float) -> None:
        """Left-drag: right widens the window, down raises the level (as in Weasis/OHIF)."""
        center, width = self.model.window
        step = max(width, 10.0) * WL_SENSITIVITY
        self.model.set_window((center + dy * step, width + dx * step))

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay_action.setChecked(bool(visible))
        for view in self.views.values():
            view.set_overlay_visible(bool(visible))
        self.settings.set("overlay_visible", bool(visible))
        self._show_oblique()

    def set_opacity(self, opacity: float) -> None:
        for view in self.views.values():
            view.set_opacity(opacity)
        self.settings.set("overlay_opacity", float(opacity))
        self._show_oblique()

    def set_colormap(self, name: str) -> None:
        for view in self.views.values():
            view.set_colormap(name)
        self.settings.set("colormap", name)
        self._show_oblique()

    def set_mpr(self, on: bool) -> None:
        self.mpr_action.setChecked(bool(on))
        self.views["coronal"].setVisible(bool(on))
        self.views["sagittal"].setVisible(bool(on))
        if not on:
            self.active_axis = "axial"
            self.set_oblique(False)
        self.settings.set("mpr", bool(on))
        self._show_position(self.model.position)

    def set_oblique(self, on: bool) -> None:
        """Oblique MPR in place of the sagittal view (with MPR on)."""
        on = bool(on) and self.mpr_action.isChecked()
        self.acts["oblique"].setChecked(on)
        self.views["sagittal"].setVisible(self.mpr_action.isChecked() and not on)
        self.oblique.setVisible(on)
        self.oblique_trace.setVisible(on)
        self._show_oblique()

    def set_corner_text(self, on: bool) -> None:
        self.acts["corner_text"].setChecked(bool(on))
        for view in self.views.values():
            view.set_corners_visible(bool(on))
        self.settings.set("corner_text", bool(on))

    def set_deidentified(self, on: bool) -> None:
        self.acts["deidentified"].setChecked(bool(on))
        self.model.set_deidentified(bool(on))
        self.settings.set("deidentified_display", bool(on))

    def set_auto_run(self, on: bool) -> None:
        self.settings.set("auto_run", bool(on))

    def set_device(self, name: str) -> None:
        self.model.device = name
        self.settings.set("device", name)

    def _set_fps(self, fps: int) -> None:
        self.cine.set_fps(fps)
        self.settings.set("cine_fps", float(fps))

    def show_bindings(self) -> None:
        self.bindings_dialog = BindingsDialog(self)
        self.bindings_dialog.open()

    # -- measuring ------------------------------------------------------------------------------

    def set_tool(self, kind: str) -> None:
        """Measuring tool for left-drags on the axial view ("" = window/level again)."""
        for name, tool in TOOLS.items():
            self.acts[name].setChecked(tool == kind)
        self.views["axial"].viewbox.tool = kind
        if kind:
            self.active_axis = "axial"
            self.message(f"{kind.capitalize()}: drag on the axial view; Esc ends the tool")

    def _on_drawn(self, start, end, done: bool) -> None:
        """A tool drag on the axial view; not on a preview image (the model has no volume yet)."""
        axial = self.views["axial"]
        if axial.volume is not None and axial.volume is self.model.volume:
            axial.measures.draw(axial.viewbox.tool, axial.index, start, end, done)

    def _on_measurement_selected(self, measurement_id: str) -> None:
        for m in self.model.measurements:
            if m.id == measurement_id:
                self.model.set_index("axial", m.slice_index)
        self.views["axial"].measures.select(measurement_id)

    def delete_measurement(self) -> None:
        if self.measurements.current_id():
            self._store_call(self.model.remove_measurement, self.measurements.current_id())

    def roi_window(self) -> None:
        try:
            self.model.window_from_roi(self.measurements.current_id())
        except (KeyError, ValueError):
            self.message("Select an ellipse or rectangle ROI first (Measurements panel).")

    # -- the view as an image --------------------------------------------------------------------

    def view_image(self) -> np.ndarray:
        """RGBA of the active view as shown (window, overlay), at the volume's resolution."""
        view = self.active_view()
        return render_view(
            self.model.volume,
            self.model.result,
            view.index,
            self.model.window,
            overlay=self.overlay_action.isChecked(),
            axis=view.axis,
            colormap=self.colormap_box.currentText(),
            opacity=self.opacity_slider.value() / 100,
        )

    def save_view(self) -> None:
        if self.model.volume is None:
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
        if self.model.volume is not None:
            QApplication.clipboard().setImage(rgba_to_qimage(self.view_image()))
            self.message("View copied to the clipboard")
