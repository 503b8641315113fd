"""The PACS panel: choose a node, search studies, expand them to series, retrieve into the local
cache with progress and cancel, open what arrived, send DICOM files (our SEG / SC / SR) to a node.

It only binds widgets to `ctviewer.pacs.retrieve`; every call runs in a worker. The first series
of a retrieve is offered for opening (`openRequested`) as soon as it is complete.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ctviewer.errors import CTViewerError
from ctviewer.pacs import retrieve as pacs
from ctviewer.pacs.config import PacsConfig
from ctviewer.pacs.nodes import Node
from ctviewer.pacs.records import SeriesRecord, StudyQuery, StudyRecord
from ctviewer.ui.pacs_node_dialog import PacsNodeDialog
from ctviewer.ui.workers import Worker, start_worker

MODALITIES = ("", "CT", "MR", "PT", "CR", "DX", "US", "SEG", "SR", "OT")
COLUMNS = ("Patient", "Patient ID", "Date", "Description", "Modalities", "Images")
UID_ROLE = Qt.ItemDataRole.UserRole


def _date_range(start: str, end: str) -> str:
    """Two YYYYMMDD fields → a DICOM date range ("" when both are empty)."""
    start, end = start.strip(), end.strip()
    if not start and not end:
        return ""
    return start if start == end else f"{start}-{end}"


class PacsPanel(QWidget):
    """Emits `openRequested(folder)` for a retrieved series or study, and `jobEnded(job, state)`
    with job "search" | "retrieve" | "send" and state "finished" | "cancelled" | "failed"."""

    openRequested = Signal(str)
    jobEnded = Signal(str, str)
    _seriesArrived = Signal(str)  # from the worker thread, queued to the GUI thread

    def __init__(self, config: PacsConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config or PacsConfig()
        self.studies: list[StudyRecord] = []
        self.retrieved: Path | None = None  # the study folder of the last whole retrieve
        self._job: Worker | None = None
        self._series_job: Worker | None = None
        self._first_opened = False
        self._seriesArrived.connect(self._on_series_arrived)
        self._build()
        self.reload_nodes()
        self._set_busy(False)

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.node = QComboBox()
        self.node.setEditable(True)
        self.node.setToolTip(
            "A configured node (Add node…, or `ctviewer pacs add NAME URL`), or a URL: "
            "http(s)://host:port/dicom-web or dicom://AET@host:port"
        )
        self.patient_name = QLineEdit(placeholderText="name, or a pattern with * ?")
        self.patient_id = QLineEdit()
        self.accession = QLineEdit()
        self.date_from = QLineEdit(placeholderText="YYYYMMDD")
        self.date_to = QLineEdit(placeholderText="YYYYMMDD")
        self.modality = QComboBox()
        self.modality.addItems(MODALITIES)
        for field in (self.patient_name, self.patient_id, self.accession, self.date_to):
            field.returnPressed.connect(self.search)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        self.add_node_button = QPushButton("Add node…")
        self.add_node_button.clicked.connect(self.add_node)
        node_row = QHBoxLayout()
        node_row.addWidget(self.node, 1)
        node_row.addWidget(self.add_node_button)
        form = QFormLayout()
        form.addRow("Node", node_row)
        form.addRow("Patient name", self.patient_name)
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Accession", self.accession)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality)

        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemExpanded.connect(self._load_series)
        self.tree.itemDoubleClicked.connect(lambda *_: self.retrieve())
        self.auto_open = QCheckBox("Open the first series as soon as it arrives")
        self.auto_open.setChecked(True)

        self.retrieve_button = QPushButton("Retrieve")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_retrieved)
        self.send_button = QPushButton("Send files…")
        self.send_button.setToolTip("Send DICOM files (a report's SEG, key images, SR) to the node")
        self.send_button.clicked.connect(self.choose_files_to_send)
        buttons = QHBoxLayout()
        for button in (
            self.retrieve_button,
            self.cancel_button,
            self.open_button,
            self.send_button,
        ):
            buttons.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.search_button)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.auto_open)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

    def reload_nodes(self) -> None:
        current = self.node.currentText()
        self.node.clear()
        self.node.addItems(self.config.names())
        if current:
            self.node.setCurrentText(current)

    def add_node(self) -> PacsNodeDialog:
        """The Add-node dialog (non-blocking); a saved node becomes the current one."""
        dialog = PacsNodeDialog(self.config, self)

        def saved() -> None:
            if dialog.node is not None:
                self.reload_nodes()
                self.node.setCurrentText(dialog.node.name)

        dialog.accepted.connect(saved)
        dialog.open()
        return dialog

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        for widget in (self.search_button, self.retrieve_button, self.send_button):
            widget.setEnabled(not busy)
        self.open_button.setEnabled(not busy and self.retrieved is not None)

    def _show(self, text: str) -> None:
        self.status.setText(text)

    def _resolve(self) -> Node | None:
        try:
            return self.config.resolve(self.node.currentText().strip())
        except CTViewerError as error:
            self._show(str(error))
            return None

    def _start(self, name: str, fn, on_result) -> None:
        """Run `fn` in a worker; `jobEnded` comes last, once the controls are free again."""
        state = ["failed"]

        def failed(error: BaseException) -> None:
            self._show(str(error) if isinstance(error, CTViewerError) else f"failed: {error}")

        def cancelled() -> None:
            self._show("Cancelled.")
            state[0] = "cancelled"

        def finished(value) -> None:
            on_result(value)
            self.progress.setValue(1000)
            state[0] = "finished"

        def done() -> None:
            self._set_busy(False)
            self.jobEnded.emit(name, state[0])

        self._set_busy(True)
        self.progress.setValue(0)
        self._job = start_worker(
            fn,
            on_result=finished,
            on_error=failed,
            on_progress=self._on_progress,
            on_cancelled=cancelled,
            on_done=done,
        )

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self._show(message)

    def cancel(self) -> None:
        if self._job is not None and self._job.running:
            self._job.cancel()

    # -- search -------------------------------------------------------------------------------

    def query(self) -> StudyQuery:
        return StudyQuery(
            patient_id=self.patient_id.text().strip(),
            patient_name=self.patient_name.text().strip(),
            accession=self.accession.text().strip(),
            study_date=_date_range(self.date_from.text(), self.date_to.text()),
            modality=self.modality.currentText(),
        )

    def search(self) -> None:
        node = self._resolve()
        if node is None:
            return
        try:
            query = self.query()
        except CTViewerError as error:
            self._show(str(error))
            return
        local = self.config.local()

        def find(progress=None, cancel=None) -> list[StudyRecord]:
            progress(0.0, f"Searching {node.name}…")
            return pacs.find_studies(node, query, local)

        self._start("search", find, self._on_studies)

    def _on_studies(self, studies: list[StudyRecord]) -> None:
        self.studies = studies
        self.tree.clear()
        for study in studies:
            count = study.NumberOfStudyRelatedInstances
            values = (
                study.PatientName,
                study.PatientID,
                study.StudyDate,
                study.StudyDescription,
                "/".join(study.ModalitiesInStudy),
                "" if count is None else str(count),
            )
            item = QTreeWidgetItem(list(values))
            item.setData(0, UID_ROLE, study.StudyInstanceUID)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.tree.addTopLevelItem(item)
        if studies:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._show(f"{len(studies)} studies found.")

    def _load_series(self, item: QTreeWidgetItem) -> None:
        """Series of a study, asked for when it is first expanded."""
        if item.parent() is not None or item.childCount():
            return
        node = self._resolve()
        if node is None:
            return
        study_uid, local = item.data(0, UID_ROLE), self.config.local()
        self._series_job = start_worker(
            lambda progress=None, cancel=None: pacs.find_series(node, study_uid, local),
            on_result=lambda series: self._on_series(item, series),
            on_error=lambda error: self._show(str(error)),
        )

    def _on_series(self, item: QTreeWidgetItem, series: list[SeriesRecord]) -> None:
        for record in series:
            count = record.NumberOfSeriesRelatedInstances
            number = f"#{record.SeriesNumber} " if record.SeriesNumber is not None else ""
            child = QTreeWidgetItem(
                ["", "", "", f"{number}{record.SeriesDescription}", record.Modality, str(count)]
            )
            child.setData(0, UID_ROLE, record.SeriesInstanceUID)
            item.addChild(child)
        if not series:
            item.setChildIndicatorPolicy(
                QTreeWidgetItem.ChildIndicatorPolicy.DontShowIndicatorWhenChildless
            )

    # -- retrieve -----------------------------------------------------------------------------

    def selected_study(self) -> str | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        while item.parent() is not None:
            item = item.parent()
        return item.data(0, UID_ROLE)

    def retrieve(self) -> None:
        """The selected study into the local cache; the first series opens when complete."""
        study_uid = self.selected_study()
        node = self._resolve()
        if study_uid is None or node is None:
            if study_uid is None:
                self._show("Search, then choose a study to retrieve.")
            return
        self._first_opened = False
        self.retrieved = None
        config, arrived = self.config, self._seriesArrived

        def job(progress=None, cancel=None) -> pacs.RetrieveResult:
            return pacs.retrieve_to_cache(
                node, study_uid, config, progress, cancel, lambda p: arrived.emit(str(p))
            )

        self._start("retrieve", job, self._on_retrieved)

    def _on_series_arrived(self, folder: str) -> None:
        if not self._first_opened and self.auto_open.isChecked():
            self._first_opened = True
            self.openRequested.emit(folder)

    def _on_retrieved(self, result: pacs.RetrieveResult) -> None:
        self.retrieved = result.folder
        where = "from the local cache" if result.from_cache else f"in {result.seconds:.1f} s"
        warnings = f" ⚠ {'; '.join(result.warnings)}" if result.warnings else ""
        self._show(f"{len(result.series)} series retrieved {where}.{warnings}")

    def open_retrieved(self) -> None:
        if self.retrieved is not None:
            self.openRequested.emit(str(self.retrieved))

    # -- send ---------------------------------------------------------------------------------

    def choose_files_to_send(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Send DICOM files to the PACS", "", "DICOM (*.dcm);;All files (*)"
        )
        if paths:
            self.send_files([Path(p) for p in paths])

    def send_files(self, paths: list[Path]) -> None:
        node = self._resolve()
        if node is None:
            return
        local = self.config.local()

        def job(progress=None, cancel=None) -> pacs.SendResult:
            return pacs.send(node, paths, local, progress, cancel)

        def sent(result: pacs.SendResult) -> None:
            self._show(f"{result.sent} files sent to {node.name}.")

        self._start("send", job, sent)
