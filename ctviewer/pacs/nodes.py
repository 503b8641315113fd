"""PACS nodes: what a node is and how a URL names one.

A node is DICOMweb (`http(s)://host:port/dicom-web`, optional HTTP basic or bearer auth, TLS
verified against the system store or a given CA bundle) or DIMSE (`dicom://AET@host:port`).
A username may sit in a DICOMweb URL (`https://user@host/dicom-web`); a password never does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from ctviewer.errors import CTViewerError

Protocol = Literal["dicomweb", "dimse"]
AUTH_KINDS = ("none", "basic", "bearer")
RETRIEVE_KINDS = ("get", "move")  # DIMSE: C-GET, or C-MOVE to our own storage SCP
DEFAULT_TIMEOUT_S = 30.0


class PacsError(CTViewerError):
    """A PACS could not be reached, refused us, or answered something we cannot use."""


@dataclass(frozen=True)
class Node:
    """One PACS, as configured or as given by a URL (then `name` is the URL)."""

    name: str
    url: str
    protocol: Protocol
    host: str
    port: int
    called_aet: str = ""  # DIMSE: the PACS's AE title
    user: str = ""  # DICOMweb: the basic-auth user ("" with bearer or no auth)
    auth: str = "none"  # none | basic | bearer (the secret lives in the keyring)
    ca_bundle: str = ""  # TLS: a CA file to verify against ("" → the system store)
    retrieve: str = "get"  # DIMSE: get | move
    timeout_s: float = DEFAULT_TIMEOUT_S


def parse_node_url(url: str, name: str | None = None, **options) -> Node:
    """`http(s)://[user@]host[:port]/path` or `dicom://AET@host:port` → Node (PacsError if not)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise PacsError(f"{text!r} is not a PACS URL ({error})") from None
    if parts.password:
        raise PacsError(
            f"{parts.hostname}: a password does not belong in a URL; "
            "`ctviewer pacs add` keeps it in the OS keyring"
        )
    if parts.scheme in ("http", "https") and parts.hostname:
        node = Node(
            name=name or text,
            url=f"{parts.scheme}://{parts.hostname}{f':{port}' if port else ''}"
            + parts.path.rstrip("/"),
            protocol="dicomweb",
            host=parts.hostname,
            port=port or (443 if parts.scheme == "https" else 80),
            user=parts.username or "",
            auth="basic" if parts.username else "none",
        )
    elif parts.scheme == "dicom" and parts.hostname and parts.username and port:
        aet = parts.username
        if len(aet) > 16:
            raise PacsError(f"{text!r}: an AE title has at most 16 characters")
        node = Node(
            name=name or text,
            url=f"dicom://{aet}@{parts.hostname}:{port}",
            protocol="dimse",
            host=parts.hostname,
            port=port,
            called_aet=aet,
        )
    else:
        raise PacsError(
            f"{text!r} is not a PACS URL (expected http(s)://host:port/dicom-web "
            "or dicom://AET@host:port)"
        )
    given = {k: v for k, v in options.items() if v not in (None, "")}
    if given.get("user") and "auth" not in given:
        given["auth"] = "basic"  # a user without a word on auth means HTTP basic
    node = replace(node, **given)
    if node.auth not in AUTH_KINDS:
        raise PacsError(f"{node.name}: auth must be one of {', '.join(AUTH_KINDS)}")
    if node.retrieve not in RETRIEVE_KINDS:
        raise PacsError(f"{node.name}: retrieve must be one of {', '.join(RETRIEVE_KINDS)}")
    return node
