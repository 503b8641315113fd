"""Patient → study → series tree of a StudyIndex, with thumbnails and the files set aside."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from ctviewer.errors import CTViewerError
from ctviewer.io import load_series
from ctviewer.progress import check_cancel, report
from ctviewer.render import render_view
from ctviewer.volume import SeriesInfo, StudyIndex, Volume

THUMBNAIL_PX = 56
SERIES_ROLE = Qt.ItemDataRole.UserRole
REASON_ROLE = Qt.ItemDataRole.UserRole + 1


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """A deep copy, so the QImage does not point into a numpy buffer that may go away."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    rows, cols = rgba.shape[:2]
    return QImage(rgba.data, cols, rows, cols * 4, QImage.Format.Format_RGBA8888).copy()


def volume_thumbnail(volume: Volume) -> np.ndarray:
    """A small RGBA picture of the middle slice (nearest neighbour: it only has to be seen)."""
    rgba = render_view(volume)
    step = max(1, -(-max(rgba.shape[:2]) // THUMBNAIL_PX))
    return rgba[::step, ::step]


def load_middle_image(info: SeriesInfo, progress=None, cancel=None) -> Volume:
    """Worker body: read only the middle file of a series (a preview or a thumbnail)."""
    middle = info.files[len(info.files) // 2 : len(info.files) // 2 + 1]
    one = dataclasses.replace(
        info, files=middle, n_images=1 if len(info.files) > 1 else info.n_images
    )
    return load_series(one, cancel=cancel)


def make_thumbnails(series: list[SeriesInfo], progress=None, cancel=None) -> dict[str, np.ndarray]:
    """Worker body: read the middle image of each series (only that one) and render it."""
    thumbnails = {}
    for done, info in enumerate(series):
        check_cancel(cancel)
        with contextlib.suppress(CTViewerError):  # the series reports its problem when opened
            thumbnails[info.key] = volume_thumbnail(load_middle_image(info))
        report(progress, (done + 1) / len(series), "thumbnails")
    return thumbnails


def series_label(series: SeriesInfo, name: str | None = None) -> str:
    """Two lines: description (or `name` in its place: descriptions are free text, hidden in a
    de-identified display), then images, matrix, spacing and a warning count."""
    details = f"{series.n_images} images · {series.modality} {series.rows}×{series.cols}"
    if series.spacing:
        details += " · " + "×".join(f"{s:.3g}" for s in series.spacing) + " mm"
    if series.warnings:
        details += f" · ⚠ {len(series.warnings)}"
    return f"{name or series.description or '(no description)'}\n{details}"


class SeriesBrowser(QTreeWidget):
    """A click (or Enter) on a series asks the window to load it, unless it is the one shown."""

    seriesActivated = Signal(object)  # SeriesInfo

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.setUniformRowHeights(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._shown: str | None = None  # key of the series the window shows or loads
        self._identity: list[tuple[QTreeWidgetItem, str, str]] = []  # item, text, de-identified
        self.deidentified = False
        self.itemClicked.connect(self._on_activated)
        self.itemActivated.connect(self._on_activated)  # a double click also clicks: no reload

    def set_index(self, index: StudyIndex) -> None:
        self.clear()
        self._items.clear()
        self._shown = None
        self._identity = []
        for number, patient in enumerate(index.patients, 1):
            name = patient.name or "(no name)"
            label = (
                f"{name} ({patient.patient_id})" if patient.patient_id not in ("", name) else name
            )
            patient_item = QTreeWidgetItem(self, [label])
            self._identity.append((patient_item, label, f"Patient {number}"))
            for study in patient.studies:
                title = " ".join(t for t in (study.date, study.description) if t) or "Study"
                study_item = QTreeWidgetItem(patient_item, [title])
                self._identity.append((study_item, title, "Study"))
                for series in study.series:
                    self._add_series(study_item, series)
        if index.set_aside:
            aside = QTreeWidgetItem(self, [f"Set aside ({len(index.set_aside)} files)"])
            for entry in index.set_aside:
                child = QTreeWidgetItem(aside, [f"{Path(entry.path).name}\n{entry.reason}"])
                child.setData(0, REASON_ROLE, entry.reason)
                child.setToolTip(0, f"{entry.path}: {entry.reason}")
        self.expandToDepth(2)
        self.set_deidentified(self.deidentified)

    def set_deidentified(self, on: bool) -> None:
        """Patient and study lines without name, ID, date or description (screenshots)."""
        self.deidentified = bool(on)
        for item, text, anonymous in self._identity:
            item.setText(0, anonymous if on else text)
        for number, item in enumerate(self._items.values(), start=1):
            series = item.data(0, SERIES_ROLE)
            item.setText(0, series_label(series, f"Series {number}" if on else None))
            tip = [f"Series {number}"] if on else [series.description or series.key]
            item.setToolTip(0, "\n".join([*tip, *series.warnings]))

    def _add_series(self, parent: QTreeWidgetItem, series: SeriesInfo) -> None:
        item = QTreeWidgetItem(parent, [series_label(series)])
        item.setData(0, SERIES_ROLE, series)
        item.setToolTip(0, "\n".join([series.description or series.key, *series.warnings]))
        self._items[series.key] = item

    def series_items(self) -> list[QTreeWidgetItem]:
        return list(self._items.values())

    def set_thumbnail(self, key: str, rgba: np.ndarray) -> None:
        item = self._items.get(key)
        if item is not None:
            pixmap = QPixmap.fromImage(rgba_to_qimage(rgba))
            item.setIcon(0, QIcon(pixmap))

    def select_series(self, key: str) -> None:
        self._shown = key
        item = self._items.get(key)
        if item is not None:
            self.setCurrentItem(item)

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        series = item.data(0, SERIES_ROLE)
        if isinstance(series, SeriesInfo) and series.key != self._shown:
            self._shown = series.key
            self.seriesActivated.emit(series)
