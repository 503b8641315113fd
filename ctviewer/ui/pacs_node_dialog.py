"""Add a PACS node from the viewer: name, URL, user, password or token. The name, URL and user go
to `pacs.ini`, the secret to the OS keyring (as `ctviewer pacs add`)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from ctviewer.errors import CTViewerError
from ctviewer.pacs.config import PacsConfig
from ctviewer.pacs.credentials import store_secret
from ctviewer.pacs.nodes import AUTH_KINDS, RETRIEVE_KINDS, Node, parse_node_url


class PacsNodeDialog(QDialog):
    """`node` is the saved Node after `accept()`; a bad entry stays in the dialog, explained."""

    def __init__(self, config: PacsConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a PACS node")
        self.config = config
        self.node: Node | None = None
        self.name = QLineEdit()
        self.url = QLineEdit(placeholderText="https://host:port/dicom-web or dicom://AET@host:port")
        self.user = QLineEdit()
        self.auth = QComboBox()
        self.auth.addItems(AUTH_KINDS)
        self.secret = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.retrieve = QComboBox()
        self.retrieve.addItems(RETRIEVE_KINDS)
        self.user.textEdited.connect(lambda text: text and self.auth.setCurrentText("basic"))
        self.error = QLabel("")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("URL", self.url)
        form.addRow("User", self.user)
        form.addRow("Authentication", self.auth)
        form.addRow("Password / token", self.secret)
        form.addRow("DIMSE retrieve", self.retrieve)
        form.addRow(self.error)
        form.addRow(buttons)

    def save(self) -> None:
        name, url = self.name.text().strip(), self.url.text().strip()
        options = {
            "user": self.user.text().strip(),
            "auth": self.auth.currentText(),
            "retrieve": self.retrieve.currentText(),
        }
        try:
            node = parse_node_url(url, name=name, **options)  # checked before anything is saved
            if node.auth != "none" and not self.secret.text():
                raise CTViewerError(f"{name}: {node.auth} authentication needs a password or token")
            node = self.config.add(name, url, **options)
            if node.auth != "none":
                store_secret(node.name, self.secret.text())
        except CTViewerError as error:
            self.error.setText(str(error))
            return
        self.node = node
        self.accept()
