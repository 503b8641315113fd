"""DICOMweb nodes with dicomweb-client: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

Instances come in the transfer syntax the PACS stores them in (no transcoding), streamed one by
one so a retrieve can report progress and stop between instances.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

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

AS_STORED = (("application/dicom", "*"),)  # any transfer syntax: what the PACS holds
PAGE = 500  # QIDO-RS results asked for at a time
STORE_BATCH = 16  # instances per STOW-RS request


@contextlib.contextmanager
def http_errors(node: Node) -> Iterator[None]:
    """requests' exceptions → one-line PacsError naming the node (never the query)."""
    try:
        yield
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if status in (401, 403):
            raise PacsError(
                f"{node.name}: authentication failed (HTTP {status}); check the user and "
                "the password stored with `ctviewer pacs add`"
            ) from None
        reason = error.response.reason if error.response is not None else ""
        raise PacsError(f"{node.name}: the PACS answered HTTP {status} {reason}".strip()) from None
    except requests.exceptions.SSLError:
        raise PacsError(f"{node.name}: TLS certificate verification failed") from None
    except requests.Timeout:
        raise PacsError(f"{node.name}: no answer within {node.timeout_s:g} s") from None
    except requests.ConnectionError:
        raise PacsError(f"{node.name}: cannot connect to {node.host}:{node.port}") from None
    except requests.RequestException as error:
        raise PacsError(f"{node.name}: request failed ({type(error).__name__})") from None


def _pages(search: Callable[..., list[dict]], **kwargs) -> list[Dataset]:
    """Every result of a QIDO-RS search, page by page. We page ourselves, not with
    dicomweb-client's `get_remaining`: a server that ignores `offset` for some keys (Orthanc with
    ModalitiesInStudy) would make that loop forever; a page with nothing new ends ours."""
    found: dict[str, Dataset] = {}
    while True:
        page = [Dataset.from_json(item) for item in search(offset=len(found), limit=PAGE, **kwargs)]
        new = {_key(ds): ds for ds in page if _key(ds) not in found}
        found.update(new)
        if len(page) < PAGE or not new:
            return list(found.values())


def _key(ds: Dataset) -> str:
    return str(ds.get("SeriesInstanceUID") or ds.get("StudyInstanceUID") or id(ds))


class _Session(requests.Session):
    """dicomweb-client percent-encodes the QIDO wildcards `*` and `?`; some servers (Orthanc's
    DICOMweb plugin 1.7) then match them literally. Both are legal in a query as they are.
    And requests lets `REQUESTS_CA_BUNDLE` replace a session's own CA bundle; ours is kept."""

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        if request.url and "?" in request.url:
            path, query = request.url.split("?", 1)
            request.url = f"{path}?{query.replace('%2A', '*').replace('%3F', '?')}"
        return super().send(request, **kwargs)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: D102
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):  # the node's CA bundle wins over REQUESTS_CA_BUNDLE
            settings["verify"] = self.verify
        return settings


class DicomwebPacs:
    """One DICOMweb node; `secret` is its password (basic) or token (bearer)."""

    def __init__(self, node: Node, secret: str | None = None) -> None:
        self.node = node
        self.session = _Session()
        self.session.verify = node.ca_bundle or True
        headers = {}
        if node.auth == "basic":
            self.session.auth = (node.user, secret or "")
        elif node.auth == "bearer":
            headers["Authorization"] = f"Bearer {secret or ''}"
        self.client = DICOMwebClient(
            url=node.url, session=self.session, headers=headers, timeout=node.timeout_s
        )
        self.client.set_http_retry_params(retry=False)  # errors are the user's to see, at once

    def close(self) -> None:
        self.session.close()

    def echo(self) -> None:
        with http_errors(self.node):
            self.client.search_for_studies(limit=1)

    def find_studies(self, query: StudyQuery) -> list[StudyRecord]:
        with http_errors(self.node):
            found = _pages(
                self.client.search_for_studies,
                search_filters=query.keys(),
                fields=list(STUDY_FIELDS),
            )
        return [study_record(ds) for ds in found]

    def find_series(self, study_uid: str) -> list[SeriesRecord]:
        with http_errors(self.node):
            found = _pages(
                self.client.search_for_series,
                study_instance_uid=study_uid,
                fields=list(SERIES_FIELDS),
            )
        return [series_record(ds) for ds in found]

    def fetch_series(
        self,
        study_uid: str,
        series_uid: str,
        sink: Callable[[Dataset], None],
        cancel: CancelFlag | None = None,
    ) -> None:
        """WADO-RS: every instance of the series to `sink`, as it arrives."""
        with http_errors(self.node):
            instances = self.client.iter_series(study_uid, series_uid, media_types=AS_STORED)
            try:
                for dataset in instances:
                    sink(dataset)
                    check_cancel(cancel)
            finally:
                instances.close()  # stops the download on cancel or error

    def store(
        self, paths: list[Path], done: Callable[[int], None], cancel: CancelFlag | None = None
    ) -> None:
        """STOW-RS in batches; `done(n)` after each batch."""
        for start in range(0, len(paths), STORE_BATCH):
            check_cancel(cancel)
            batch = paths[start : start + STORE_BATCH]
            with http_errors(self.node):
                reply = self.client.store_instances([pydicom.dcmread(p) for p in batch])
            failed = reply.get("FailedSOPSequence") or []
            if failed:
                raise PacsError(f"{self.node.name}: refused {len(failed)} of {len(batch)} files")
            done(len(batch))
