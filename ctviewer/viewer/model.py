"""`ViewerModel`: everything the viewer shows and records, in plain Python with change events.

One study index, one shown series (volume, analysis result), its window/level, the voxel the
three planes go through, the selected finding, its measurements (kept in the feedback store per
`Volume.item_key`) and the reviewer's decisions. Analysis goes through `pipeline.analyse` with one
`ModelCache`, as in the CLI and the reports. Widgets call these methods and redraw on `events`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ctviewer.feedback.carry import carry_decisions
from ctviewer.feedback.store import Decision, FeedbackStore
from ctviewer.io import pick_series
from ctviewer.measurement import Measurement, measure, roi_window
from ctviewer.presets import default_window
from ctviewer.progress import CancelFlag, ProgressFn
from ctviewer.render import AXES, axis_length
from ctviewer.viewer.events import ViewerEvents
from ctviewer.volume import Finding, Result, SeriesInfo, StudyIndex, Volume

Decisions = dict[int | None, Decision]  # finding id (None: the whole series) → latest decision
MIN_WIDTH = 1.0


def peak_voxel(result: Result, finding: Finding) -> tuple[int, int, int]:
    """(z, y, x) of the highest anomaly-map value inside the finding."""
    z0, y0, x0, z1, y1, x1 = finding.bbox
    box = (slice(z0, z1), slice(y0, y1), slice(x0, x1))
    inside = result.labels[box] == finding.id
    if not inside.any():
        return ((z0 + z1 - 1) // 2, (y0 + y1 - 1) // 2, (x0 + x1 - 1) // 2)
    values = np.where(inside, result.anomaly_map[box], -np.inf)
    dz, dy, dx = np.unravel_index(int(np.argmax(values)), values.shape)
    return (z0 + int(dz), y0 + int(dy), x0 + int(dx))


class ViewerModel:
    """The viewer's state. `model_path` None: the installed model that fits each series."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        store: FeedbackStore | None = None,
        device: str = "auto",
    ) -> None:
        self.events = ViewerEvents()
        self.model_path = Path(model_path) if model_path else None
        self.device = device
        self.index: StudyIndex | None = None
        self.series: SeriesInfo | None = None
        self.volume: Volume | None = None
        self.result: Result | None = None
        self.window: tuple[float, float] = (40.0, 400.0)
        self.position: tuple[int, int, int] = (0, 0, 0)
        self.selected: Finding | None = None
        self.measurements: list[Measurement] = []
        self.deidentified = False  # display without patient identity (screenshots, teaching)
        self.oblique_angle = 0.0  # degrees about the slice axis from coronal (oblique MPR)
        self._store = store
        self._models = None  # pipeline.ModelCache, made on the first analysis (imports torch)

    @property
    def store(self) -> FeedbackStore:
        if self._store is None:
            self._store = FeedbackStore()
        return self._store

    def close_store(self) -> None:
        """Close the store if this model opened it (the window is closing)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- study, series ------------------------------------------------------------------------

    def set_study(self, index: StudyIndex) -> SeriesInfo:
        """Show this study's index; returns the series to open first (CTViewerError if none)."""
        self.index = index
        self.events.study.emit(index)
        return pick_series(index)

    def set_series(self, series: SeriesInfo | None) -> None:
        self.series = series

    def set_volume(self, volume: Volume) -> None:
        """Show a newly read volume: its own window, the middle voxel, its kept measurements."""
        self.volume, self.result, self.selected = volume, None, None
        self.window = default_window(volume)
        self.position = tuple(s // 2 for s in volume.shape)  # type: ignore[assignment]
        self.measurements = self.store.measurements(volume.item_key)
        self.events.volume.emit(volume)
        self.events.result.emit(None)
        self.events.measurements.emit(self.measurements)

    def close(self) -> None:
        self.index = self.series = self.volume = self.result = self.selected = None
        self.measurements = []
        self.events.study.emit(None)
        self.events.volume.emit(None)
        self.events.result.emit(None)
        self.events.measurements.emit([])

    # -- analysis and decisions ---------------------------------------------------------------

    def analyse(
        self,
        volume: Volume | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFlag | None = None,
    ) -> Result:
        """Run `pipeline.analyse` on `volume` (default: the shown one); safe in a worker thread.
        It does not change what is shown: hand the result to `set_result`."""
        from ctviewer.pipeline import ModelCache, analyse  # torch is imported on first use

        volume = volume or self.volume
        if volume is None:
            raise ValueError("no volume to analyse")
        if self._models is None:
            self._models = ModelCache()
        return analyse(volume, self.model_path, None, self.device, self._models, progress, cancel)

    def set_result(self, result: Result | None) -> bool:
        """Show an analysis of the shown volume; False (ignored) when it is of another one."""
        if result is not None and (self.volume is None or result.source != self.volume.source):
            return False
        self.result, self.selected = result, None
        self.events.result.emit(result)
        self.events.decisions.emit(self.decisions())
        return True

    def decisions(self) -> Decisions:
        """Decisions on the shown series, carried over from earlier analyses where the finding is
        at the same place (a re-analysis with a new model version keeps them)."""
        if self.result is None:
            return {}
        return carry_decisions(self.store.decisions(self.result.item_key), self.result)

    def decide(self, decision: str, finding: Finding | None, reviewer: str) -> Decision:
        """Record a decision on a finding (None: the whole series), committed before returning."""
        if self.result is None:
            raise ValueError("no analysis result to decide on")
        recorded = self.store.record(self.result, finding, decision, reviewer)
        self.events.decisions.emit(self.decisions())
        return recorded

    # -- navigation -----------------------------------------------------------------------------

    def set_position(self, voxel: tuple[int, int, int]) -> None:
        """Move the three planes through `voxel` (z, y, x), clipped to the volume."""
        if self.volume is None:
            return
        clipped = tuple(
            int(np.clip(v, 0, s - 1)) for v, s in zip(voxel, self.volume.shape, strict=True)
        )
        if clipped != self.position:
            self.position = clipped  # type: ignore[assignment]
            self.events.position.emit(self.position)

    def index_of(self, axis: str) -> int:
        return self.position[AXES.index(axis)]

    def set_index(self, axis: str, index: int) -> None:
        """Move one plane (axial: z, coronal: y, sagittal: x)."""
        voxel = list(self.position)
        voxel[AXES.index(axis)] = index
        self.set_position(tuple(voxel))  # type: ignore[arg-type]

    def step(self, axis: str, delta: int, wrap: bool = False) -> None:
        """Move one plane by `delta`; with `wrap`, past the last comes the first (cine)."""
        if self.volume is None:
            return
        n = axis_length(self.volume.shape, axis)
        index = self.index_of(axis) + delta
        self.set_index(axis, index % n if wrap else index)

    def select_finding(self, finding: Finding | None) -> None:
        """Select a finding; the three planes go through its peak."""
        self.selected = finding
        if finding is not None and self.result is not None:
            self.set_position(peak_voxel(self.result, finding))
        self.events.selection.emit(finding)

    # -- window/level -----------------------------------------------------------------------------

    def set_window(self, window: tuple[float, float]) -> None:
        self.window = (float(window[0]), max(float(window[1]), MIN_WIDTH))
        self.events.window.emit(self.window)

    def reset_window(self) -> None:
        if self.volume is not None:
            self.set_window(default_window(self.volume))

    def window_from_roi(self, measurement_id: str) -> None:
        """Window/level spanning the pixel values inside one ROI (RadiAnt's ROI windowing)."""
        self.set_window(roi_window(self._measurement(measurement_id)))

    # -- measurements -----------------------------------------------------------------------------

    def _measurement(self, measurement_id: str) -> Measurement:
        for m in self.measurements:
            if m.id == measurement_id:
                return m
        raise KeyError(measurement_id)

    def add_measurement(self, m: Measurement) -> Measurement:
        """Measure on the shown volume, list it and keep it in the store for this series."""
        if self.volume is None:
            raise ValueError("no volume to measure on")
        measure(self.volume, m)
        self.measurements.append(m)
        self.events.measurements.emit(self.measurements)
        self.store.save_measurement(self.volume.item_key, m)
        return m

    def update_measurement(self, measurement_id: str, points_yx) -> Measurement:
        """An edited measurement (its end points moved): measured again and stored again."""
        m = self._measurement(measurement_id)
        m.points_yx = ((float(points_yx[0][0]), float(points_yx[0][1])),
                       (float(points_yx[1][0]), float(points_yx[1][1])))  # fmt: skip
        measure(self.volume, m)  # type: ignore[arg-type]
        self.events.measurements.emit(self.measurements)
        self.store.save_measurement(self.volume.item_key, m)  # type: ignore[union-attr]
        return m

    def remove_measurement(self, measurement_id: str) -> None:
        self.measurements = [m for m in self.measurements if m.id != measurement_id]
        self.events.measurements.emit(self.measurements)
        self.store.delete_measurement(measurement_id)

    def turn_oblique(self, degrees: float) -> None:
        """Turn the oblique MPR plane about the slice axis (kept in -180..180°)."""
        self.oblique_angle = (self.oblique_angle + float(degrees) + 180.0) % 360.0 - 180.0
        self.events.oblique.emit(self.oblique_angle)

    def set_deidentified(self, on: bool) -> None:
        """Show no patient identity on screen (corner text, window title) from now on."""
        self.deidentified = bool(on)
        self.events.display.emit()
