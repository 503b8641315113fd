"""A real Orthanc PACS for the PACS tests and the PACS benchmark (pytest plugin, see conftest).

`OrthancServer` starts the Debian `Orthanc` binary on 127.0.0.1 with free HTTP and DICOM ports,
a temp storage folder, HTTP basic authentication, its DICOMweb plugin and our AE registered as a
C-MOVE destination; `upload` loads files through its REST API. Tests skip with the install
command where the binary or the plugin is absent.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keyring
import pytest
import requests
from keyring.backend import KeyringBackend

ORTHANC_BINARY = "Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
INSTALL_HINT = "apt-get install -y orthanc orthanc-dicomweb"
ORTHANC_AET = "ORTHANC"
OUR_AET = "CTVIEWER"
USER, PASSWORD = "pacsuser", "pacs-test-secret"
CQ500 = "cq500_head_jpegls_tilt"
SUBSET = 12  # instances of the CQ500 study most tests load (the whole study: 238 + 1 stray)
PHANTOM_NAME, PHANTOM_ID = "DOE^JANE", "PID-778899"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def orthanc_missing() -> str:
    """Why Orthanc cannot run here ("" when it can)."""
    if shutil.which(ORTHANC_BINARY) is None or not DICOMWEB_PLUGIN.is_file():
        return f"Orthanc with its DICOMweb plugin is not installed ({INSTALL_HINT})"
    return ""


@dataclass
class OrthancServer:
    """One Orthanc process; use as a context manager."""

    root: Path
    http_port: int = field(default_factory=free_port)
    dicom_port: int = field(default_factory=free_port)
    scp_port: int = field(default_factory=free_port)  # our storage SCP, the C-MOVE destination
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def dimse_url(self) -> str:
        return f"dicom://{ORTHANC_AET}@127.0.0.1:{self.dicom_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (USER, PASSWORD)

    def config(self) -> dict:
        storage = self.root / "storage"
        return {
            "Name": "ctviewer-test",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "StorageCompression": False,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ORTHANC_AET,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomModalities": {
                OUR_AET: {
                    "AET": OUR_AET,
                    "Host": "127.0.0.1",
                    "Port": self.scp_port,
                    "AllowFind": True,
                    "AllowGet": True,
                    "AllowMove": True,
                    "AllowStore": True,
                }
            },
            "DicomAssociationCloseDelay": 0,
            "HttpThreadsCount": 8,
            "StableAge": 1,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        }

    def __enter__(self) -> OrthancServer:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        log = (self.root / "orthanc.log").open("w")
        self.process = subprocess.Popen(
            [ORTHANC_BINARY, str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=self.root
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/system", auth=self.auth, timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.__exit__()
        tail = (self.root / "orthanc.log").read_text()[-2000:]
        raise RuntimeError(f"Orthanc did not start:\n{tail}")

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def upload(self, files: Iterable[Path]) -> int:
        """POST each file to `/instances`; the number stored."""
        count = 0
        with requests.Session() as session:
            session.auth = self.auth
            for path in files:
                reply = session.post(f"{self.url}/instances", data=path.read_bytes(), timeout=30)
                reply.raise_for_status()
                count += 1
        return count

    def rest(self, path: str):
        reply = requests.get(f"{self.url}{path}", auth=self.auth, timeout=30)
        reply.raise_for_status()
        return reply.json()

    def study_orthanc_id(self, study_uid: str) -> str:
        """Orthanc's own id of a study (for its REST API, e.g. the archive download)."""
        reply = requests.post(
            f"{self.url}/tools/lookup", data=study_uid, auth=self.auth, timeout=30
        )
        reply.raise_for_status()
        return next(item["ID"] for item in reply.json() if item["Type"] == "Study")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 → (PEM with certificate and key for a server, CA bundle)."""
    import datetime
    import ipaddress

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    server_pem, ca = folder / "server.pem", folder / "ca.pem"
    server_pem.write_bytes(cert_pem + key_pem)
    ca.write_bytes(cert_pem)
    return server_pem, ca


@pytest.fixture(scope="module")
def https_dicomweb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A minimal HTTPS DICOMweb endpoint with a self-signed certificate, answering every QIDO-RS
    search with no study (Debian's Orthanc 1.10 does not complete a TLS handshake here):
    (its /dicom-web URL, the CA bundle that verifies it)."""
    import http.server
    import ssl
    import threading

    server_pem, ca = self_signed(tmp_path_factory.mktemp("tls"))

    class EmptyQido(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EmptyQido)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_pem)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/dicom-web", ca
    httpd.shutdown()
    httpd.server_close()


def cq500_files(shared_data: Path) -> list[Path]:
    folder = shared_data / "dicom" / CQ500
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return sorted(folder.glob("*.dcm"))


def _server(tmp_path_factory: pytest.TempPathFactory, name: str) -> OrthancServer:
    reason = orthanc_missing()
    if reason:
        pytest.skip(reason)
    return OrthancServer(tmp_path_factory.mktemp(name))


class MemoryKeyring(KeyringBackend):
    """keyring's own extension point: secrets in a dict, for tests (no OS keyring needed)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@dataclass
class PacsSetup:
    """A test's `pacs.ini`: node `web` (DICOMweb, basic auth, password in the keyring), `dimse`
    (C-GET) and `move` (C-MOVE to our SCP on the port Orthanc knows)."""

    server: OrthancServer
    config: object  # ctviewer.pacs.config.PacsConfig


def configure_nodes(server: OrthancServer):
    """This CTVIEWER_HOME's `pacs.ini` for `server` (see `PacsSetup`); the keyring must be
    a test one."""
    from ctviewer.pacs.config import LocalAE, PacsConfig
    from ctviewer.pacs.credentials import store_secret

    config = PacsConfig()
    config.set_local(LocalAE(ae_title=OUR_AET, scp_port=server.scp_port))
    config.add("web", server.dicomweb_url, user=USER)
    store_secret("web", PASSWORD)
    config.add("dimse", server.dimse_url)
    config.add("move", server.dimse_url, retrieve="move")
    return config


@pytest.fixture
def pacs(orthanc: OrthancServer, memory_keyring: MemoryKeyring) -> PacsSetup:
    return PacsSetup(orthanc, configure_nodes(orthanc))


def export_results(series: Path, out: Path):
    """Our exports of a phantom series (SEG + key images), from a result whose map lights up
    its bright nodule (no model needed): `report.dicom_export.DicomExport`."""
    from scipy import ndimage

    from ctviewer.anomaly.segment import segment
    from ctviewer.io import load_volume
    from ctviewer.report.dicom_export import export_dicom
    from ctviewer.volume import ModelInfo, Result

    volume = load_volume(series)
    amap = ndimage.gaussian_filter((volume.array > 0).astype("float32"), 1.0)
    labels, findings = segment(amap, volume, threshold=0.5)
    scores = amap.reshape(volume.n_slices, -1).mean(axis=1)
    model = ModelInfo("ctviewer-ae", "test-1", threshold=0.01)
    result = Result(
        volume.source, volume.series_uid, model, 1.0, 0.01, True, scores, amap, labels, findings
    )
    exported = export_dicom(volume, result, out)
    assert exported.segmentation is not None and exported.key_images
    return exported


def structured_report(series: Path, out: Path) -> Path:
    """A small TID 1500 SR on a series (highdicom), standing in for whatever SR a report brings:
    `send` stores any DICOM file it is given."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    evidence = [pydicom.dcmread(p) for p in sorted(series.glob("*.dcm"))[:2]]
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="ctviewer"
        ),
    )
    finding = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="finding 1"),
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(
                name=codes.DCM.Finding, value=codes.SCT.MorphologicallyAbnormalStructure
            )
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[finding],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=generate_uid(),
        series_number=9003,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="ctviewer",
    )
    path = out / "sr.dcm"
    out.mkdir(parents=True, exist_ok=True)
    sr.save_as(path, enforce_file_format=True)
    return path


def write_phantom_study(
    folder: Path, patient_id: str = PHANTOM_ID, seed: int = 5, name: str = PHANTOM_NAME
) -> list[Path]:
    """A small phantom CT series with one lesion and a synthetic patient (date, accession); the
    seed makes its UIDs."""
    from ctviewer.synth.phantom import Lesion, make_phantom, write_dicom_series

    phantom = make_phantom((16, 64, 64), lesions=[Lesion("nodule", 10.0)], seed=seed)
    return write_dicom_series(phantom, folder, patient_name=name, patient_id=patient_id)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[OrthancServer]:
    """Orthanc holding the stray CQ500-CT-1 slice, the first `SUBSET` slices of CQ500-CT-0 and
    a 16-slice phantom study of DOE^JANE."""
    files = cq500_files(shared_data)
    phantom = write_phantom_study(tmp_path_factory.mktemp("phantom_study"))
    with _server(tmp_path_factory, "orthanc") as server:
        server.upload(files[: SUBSET + 1])  # CT000000 is the stray slice of the other patient
        server.upload(phantom)
        yield server


@pytest.fixture(scope="module")
def orthanc_full(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[OrthancServer]:
    """Orthanc holding the whole CQ500 folder (239 instances, two studies)."""
    files = cq500_files(shared_data)
    with _server(tmp_path_factory, "orthanc_full") as server:
        server.upload(files)
        yield server
