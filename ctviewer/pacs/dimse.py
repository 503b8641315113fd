"""DIMSE nodes with pynetdicom: C-ECHO, C-FIND (study, series), C-GET, C-MOVE to our own storage
SCP, and C-STORE.

Retrieved instances keep the transfer syntax the PACS stores them in: we offer every transfer
syntax pynetdicom knows for the storage classes a CT reading brings back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_role, evt
from pynetdicom import sop_class as sop
from pynetdicom.association import Association

from ctviewer.errors import Cancelled
from ctviewer.pacs.config import LocalAE
from ctviewer.pacs.nodes import Node, PacsError
from ctviewer.pacs.records import (
    SERIES_FIELDS,
    STUDY_FIELDS,
    SeriesRecord,
    StudyQuery,
    StudyRecord,
    series_record,
    study_record,
)
from ctviewer.progress import CancelFlag, check_cancel

PENDING = (0xFF00, 0xFF01)
WARNING = 0xB000  # C-GET/C-MOVE: some sub-operations failed
MAX_CONTEXTS = 128
IMAGE_CLASSES = (  # C-GET: one context per transfer syntax, so nothing is transcoded
    sop.CTImageStorage,
    sop.EnhancedCTImageStorage,
    sop.MRImageStorage,
    sop.EnhancedMRImageStorage,
    sop.PositronEmissionTomographyImageStorage,
    sop.ComputedRadiographyImageStorage,
    sop.DigitalXRayImageStorageForPresentation,
    sop.UltrasoundImageStorage,
    sop.SecondaryCaptureImageStorage,
)
OTHER_CLASSES = (  # C-GET: one context each, uncompressed
    sop.NuclearMedicineImageStorage,
    sop.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    sop.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    sop.MultiFrameTrueColorSecondaryCaptureImageStorage,
    sop.SegmentationStorage,
    sop.BasicTextSRStorage,
    sop.EnhancedSRStorage,
    sop.ComprehensiveSRStorage,
    sop.Comprehensive3DSRStorage,
    sop.KeyObjectSelectionDocumentStorage,
    sop.GrayscaleSoftcopyPresentationStateStorage,
    sop.EncapsulatedPDFStorage,
    sop.RTStructureSetStorage,
)
UNCOMPRESSED = [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian]
IMAGE_SYNTAXES = (  # 9 image classes x 9 contexts + 13 + 1 fits the 128 contexts of a request
    UNCOMPRESSED,
    [uid.JPEGLosslessSV1],
    [uid.JPEGLossless],
    [uid.JPEGLSLossless],
    [uid.JPEGLSNearLossless],
    [uid.JPEG2000Lossless],
    [uid.JPEG2000],
    [uid.RLELossless],
    [uid.JPEGBaseline8Bit],
)


def _get_contexts(ae: AE) -> list:
    """Request C-GET with storage contexts in our SCP role; the role selections to send."""
    ae.add_requested_context(sop.StudyRootQueryRetrieveInformationModelGet)
    for abstract in IMAGE_CLASSES:
        for syntaxes in IMAGE_SYNTAXES:
            ae.add_requested_context(abstract, syntaxes)
    for abstract in OTHER_CLASSES:
        ae.add_requested_context(abstract, UNCOMPRESSED)
    return [build_role(abstract, scp_role=True) for abstract in IMAGE_CLASSES + OTHER_CLASSES]


class DimsePacs:
    """One DIMSE node; each operation opens its own association. For C-MOVE our storage SCP
    listens from the first move until `close()` (one listener for all series of a retrieve)."""

    def __init__(self, node: Node, local: LocalAE | None = None) -> None:
        self.node = node
        self.local = local or LocalAE()
        self._server = None
        self._receiver: _Receiver | None = None  # where the SCP hands what it receives

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_moved(self, event) -> int:
        receiver = self._receiver
        return receiver.on_store(event) if receiver is not None else 0xA700

    def _listen(self) -> None:
        """Start our storage SCP (C-MOVE destination) unless it runs; only this PACS may store."""
        if self._server is not None:
            return
        ae = self._ae()
        ae.require_calling_aet = [self.node.called_aet]
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        handlers = [(evt.EVT_C_STORE, self._on_moved)]
        try:
            self._server = ae.start_server(
                ("", self.local.scp_port), block=False, evt_handlers=handlers
            )
        except OSError as error:
            raise PacsError(
                f"cannot listen on port {self.local.scp_port} for C-MOVE ({error.strerror})"
            ) from None

    def _ae(self) -> AE:
        ae = AE(ae_title=self.local.ae_title)
        t = self.node.timeout_s
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = t
        return ae

    @contextlib.contextmanager
    def _association(
        self, ae: AE, roles: list | None = None, handlers: list | None = None
    ) -> Iterator[Association]:
        node = self.node
        connected: list[bool] = []
        handlers = [*(handlers or []), (evt.EVT_CONN_OPEN, lambda _: connected.append(True))]
        assoc = ae.associate(
            node.host, node.port, ae_title=node.called_aet, ext_neg=roles, evt_handlers=handlers
        )
        if not assoc.is_established:
            if not connected:
                raise PacsError(f"{node.name}: cannot connect to {node.host}:{node.port}")
            if assoc.is_rejected:
                raise PacsError(
                    f"{node.name}: association rejected (does the PACS know our AE title "
                    f"{self.local.ae_title!r} and is {node.called_aet!r} its own?)"
                )
            raise PacsError(
                f"{node.name}: no association (aborted, or no answer within {node.timeout_s:g} s)"
            )
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def echo(self) -> None:
        ae = self._ae()
        ae.add_requested_context(sop.Verification)
        with self._association(ae) as assoc:
            status = assoc.send_c_echo()
        _check(self.node, status, "C-ECHO")

    def _find(self, identifier: Dataset) -> list[Dataset]:
        ae = self._ae()
        ae.add_requested_context(sop.StudyRootQueryRetrieveInformationModelFind)
        found = []
        with self._association(ae) as assoc:
            model = sop.StudyRootQueryRetrieveInformationModelFind
            for status, reply in assoc.send_c_find(identifier, model):
                if status and status.Status in PENDING and reply is not None:
                    found.append(reply)
                else:
                    _check(self.node, status, "C-FIND")
        return found

    def find_studies(self, query: StudyQuery) -> list[StudyRecord]:
        identifier = _identifier("STUDY", STUDY_FIELDS, query.keys())
        return [study_record(ds) for ds in self._find(identifier)]

    def find_series(self, study_uid: str) -> list[SeriesRecord]:
        identifier = _identifier("SERIES", SERIES_FIELDS, {"StudyInstanceUID": study_uid})
        return [series_record(ds) for ds in self._find(identifier)]

    def fetch_series(
        self,
        study_uid: str,
        series_uid: str,
        sink: Callable[[Dataset], None],
        cancel: CancelFlag | None = None,
    ) -> None:
        """C-GET (or C-MOVE to our SCP, as the node says): every instance to `sink`."""
        keys = {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid}
        identifier = _identifier("SERIES", (), keys)
        receiver = _Receiver(sink, cancel)
        ae = self._ae()
        if self.node.retrieve == "move":
            self._listen()
            model = sop.StudyRootQueryRetrieveInformationModelMove
            ae.add_requested_context(model)
            self._receiver = receiver
            try:
                with self._association(ae) as assoc:
                    replies = assoc.send_c_move(identifier, self.local.ae_title, model)
                    self._follow(assoc, replies, receiver, cancel, "C-MOVE")
            finally:
                self._receiver = None
            return
        handlers = [(evt.EVT_C_STORE, receiver.on_store)]
        model = sop.StudyRootQueryRetrieveInformationModelGet
        with self._association(ae, _get_contexts(ae), handlers) as assoc:
            self._follow(assoc, assoc.send_c_get(identifier, model), receiver, cancel, "C-GET")

    def _follow(self, assoc, replies, receiver, cancel, operation: str) -> None:
        """Read C-GET/C-MOVE replies to the end; abort the association when cancelled."""
        for status, _ in replies:
            if cancel is not None and cancel.is_set():
                assoc.abort()
                raise Cancelled()
            if receiver.error is not None:
                assoc.abort()
                raise receiver.error
            if status and status.Status in PENDING:
                continue
            _check(self.node, status, operation)
        if receiver.error is not None:
            raise receiver.error

    def store(
        self, paths: list[Path], done: Callable[[int], None], cancel: CancelFlag | None = None
    ) -> None:
        """C-STORE each file as stored (its own transfer syntax, or Explicit VR LE)."""
        syntaxes: dict[str, set[str]] = {}
        for path in paths:
            header = pydicom.dcmread(path, stop_before_pixels=True)
            syntaxes.setdefault(header.SOPClassUID, set()).add(header.file_meta.TransferSyntaxUID)
        if len(syntaxes) > MAX_CONTEXTS:
            raise PacsError(f"{self.node.name}: more than {MAX_CONTEXTS} kinds of file at once")
        ae = self._ae()
        for abstract, found in syntaxes.items():
            ae.add_requested_context(abstract, sorted(found | {uid.ExplicitVRLittleEndian}))
        with self._association(ae) as assoc:
            for path in paths:
                check_cancel(cancel)
                _check(self.node, assoc.send_c_store(path), f"C-STORE of {path.name}")
                done(1)


class _Receiver:
    """C-STORE sub-operations → `sink`; an error in the sink is kept and raised by the caller.
    Once cancelled, nothing more reaches the sink (the sender may be far ahead of its replies)."""

    def __init__(self, sink: Callable[[Dataset], None], cancel: CancelFlag | None = None) -> None:
        self.sink = sink
        self.cancel = cancel
        self.error: Exception | None = None

    def on_store(self, event) -> int:
        try:
            check_cancel(self.cancel)
            dataset = event.dataset
            dataset.file_meta = event.file_meta
            self.sink(dataset)
        except Exception as error:  # e.g. disk full: refuse this one, stop at the next reply
            self.error = error
            return 0xA700
        return 0x0000


def _identifier(level: str, fields: tuple[str, ...], keys: dict[str, str]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in (*fields, *keys):
        setattr(ds, keyword, keys.get(keyword, ""))
    return ds


def _check(node: Node, status: Dataset | None, operation: str) -> None:
    """Raise a one-line PacsError unless `status` is success (or a harmless warning)."""
    if not status or "Status" not in status:
        raise PacsError(f"{node.name}: {operation}: no reply (connection lost or timed out)")
    code = int(status.Status)
    if code == 0x0000:
        return
    if code == 0xFE00:
        raise Cancelled()
    if code == WARNING and "NumberOfFailedSuboperations" in status:
        failed = int(status.NumberOfFailedSuboperations)
        raise PacsError(f"{node.name}: {operation}: {failed} instance(s) failed")
    if 0xB000 <= code <= 0xBFFF and operation.startswith("C-STORE"):
        return  # stored, with coercion or elements discarded
    raise PacsError(f"{node.name}: {operation} failed (status 0x{code:04X})")
