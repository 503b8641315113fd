"""Secrets of PACS nodes (passwords, bearer tokens) in the OS keyring, never in `pacs.ini`.

The keyring entry is (service `ctviewer-pacs`, username = the node's name). Where no keyring
holds one, `CTVIEWER_PACS_PASSWORD` may give it (scripts, CI); nothing else is read.
"""

from __future__ import annotations

import contextlib
import os

import keyring
import keyring.errors

from ctviewer.pacs.nodes import Node, PacsError

SERVICE = "ctviewer-pacs"
PASSWORD_ENV = "CTVIEWER_PACS_PASSWORD"


def store_secret(node_name: str, secret: str) -> None:
    try:
        keyring.set_password(SERVICE, node_name, secret)
    except keyring.errors.KeyringError as error:
        raise PacsError(
            f"{node_name}: no usable OS keyring to keep the password ({type(error).__name__}); "
            f"set {PASSWORD_ENV} instead"
        ) from None


def delete_secret(node_name: str) -> None:
    with contextlib.suppress(keyring.errors.KeyringError):  # nothing stored, or no keyring
        keyring.delete_password(SERVICE, node_name)


def secret_for(node: Node) -> str | None:
    """The node's password or token, None if it needs none or none is stored."""
    if node.auth == "none":
        return None
    try:
        secret = keyring.get_password(SERVICE, node.name)
    except keyring.errors.KeyringError:
        secret = None
    return secret if secret is not None else os.environ.get(PASSWORD_ENV)
