"""File → Send to PACS…: the shown result's DICOM export (SEG, key images, SR, as File → Export
DICOM writes them: with the reviewer's decisions, the measurements, and de-identified when
"De-identify exports" is on) is written to a temporary folder and sent to a configured node
(`pacs.retrieve.send`: STOW-RS or C-STORE), in a worker with progress. The status line says
what was sent where. From the command line: `ctviewer report PATH --out R.pdf --dicom DIR`, then
`ctviewer pacs send NODE DIR`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QVBoxLayout, QWidget

from ctviewer.errors import CTViewerError
from ctviewer.pacs.config import LocalAE
from ctviewer.pacs.nodes import Node
from ctviewer.progress import CancelFlag, ProgressFn, subrange
from ctviewer.ui.chrome import make_action

if TYPE_CHECKING:
    from ctviewer.report.dicom_export import DicomExport
    from ctviewer.ui.review_actions import ReviewActions

ExportJob = Callable[..., "DicomExport"]  # (folder, progress, cancel) → DicomExport
NO_NODE = "No PACS node configured: add one in File → PACS… (or with `ctviewer pacs add`)."


@dataclass
class SentExport:
    """What one Send to PACS wrote and stored."""

    node: str
    exported: DicomExport
    sent: int
    seconds: float
    deidentified: bool = False

    def summary(self) -> str:
        """`Sent to web: seg.dcm, sr.dcm, 2 key images (4 files in 0.8 s)` and the note."""
        e = self.exported
        names = [p.name for p in (e.segmentation, e.structured_report) if p is not None]
        if e.key_images:
            names.append(f"{len(e.key_images)} key image{'s' if len(e.key_images) != 1 else ''}")
        copy = ", of the de-identified copy" if self.deidentified else ""
        line = (
            f"Sent to {self.node}: {', '.join(names)} "
            f"({self.sent} files in {self.seconds:.1f} s{copy})"
        )
        return f"{line} — {e.note}" if e.note else line


def export_and_send(
    node: Node,
    local: LocalAE,
    export_job: ExportJob,
    deidentified: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> SentExport:
    """Export into a temporary folder, send what was written, remove the folder."""
    from ctviewer.pacs import retrieve

    with tempfile.TemporaryDirectory(prefix="ctviewer-send-") as folder:
        exported = export_job(folder, subrange(progress, 0.0, 0.5), cancel)
        e = exported
        files = [p for p in (e.segmentation, *e.key_images, e.structured_report) if p is not None]
        if not files:
            raise CTViewerError(f"nothing to send to {node.name}: {e.note}")
        sent = retrieve.send(node, files, local, subrange(progress, 0.5, 1.0), cancel)
    return SentExport(node.name, exported, sent.sent, sent.seconds, deidentified)


class NodeChooser(QDialog):
    """The configured nodes; `chosen` is the selected name once accepted."""

    def __init__(self, names: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send to PACS")
        self.nodes = QListWidget()
        self.nodes.addItems(names)
        self.nodes.setCurrentRow(0)
        self.nodes.itemDoubleClicked.connect(lambda _: self.accept())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Send")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Send this result's SEG, key images and SR to:"))
        layout.addWidget(self.nodes)
        layout.addWidget(buttons)

    @property
    def chosen(self) -> str | None:
        item = self.nodes.currentItem()
        return item.text() if item is not None else None


class SendToPacs(QObject):
    """The File menu action, its node chooser and its worker job (`ReviewActions` holds it)."""

    def __init__(self, parent: QWidget, actions: ReviewActions) -> None:
        super().__init__(parent)
        self.parent_widget, self.actions, self.host = parent, actions, actions.host
        self.action = make_action(parent, "Send to &PACS…", self.choose_node)
        self.dialog: NodeChooser | None = None

    def _config(self):
        from ctviewer.pacs.config import PacsConfig

        return PacsConfig()

    def choose_node(self) -> None:
        """Ask for a node (non-modal), then `send` to it."""
        if not self.actions.ready():
            return
        try:
            names = self._config().names()
        except CTViewerError as error:
            self.host.show_error(error, dialog=False)
            return
        if not names:
            self.host.message(NO_NODE)
            return
        self.dialog = dialog = NodeChooser(names, self.parent_widget)
        dialog.accepted.connect(lambda: dialog.chosen and self.send(dialog.chosen))
        dialog.open()

    def send(self, name: str) -> None:
        """Export the shown result and send it to node `name`, in a worker."""
        if not self.actions.ready():
            return
        try:
            config = self._config()
            node, local = config.resolve(name), config.local()
        except CTViewerError as error:
            self.host.show_error(error, dialog=False)
            return
        job, deidentified = self.actions.dicom_export_job(), self.actions.deidentify
        self.host.start_job(
            "send",
            lambda progress=None, cancel=None: export_and_send(
                node, local, job, deidentified, progress, cancel
            ),
            on_result=lambda sent: self.host.message(sent.summary()),
            label="send to PACS",
        )
