"""PACS settings, Qt-free: node names → URLs and options, our own AE, the cache size.

An INI file, `pacs.ini` in the user data folder (CTVIEWER_HOME isolates tests). It holds no
secret: passwords and tokens go to the OS keyring (`credentials.py`).

    [local]
    ae_title = CTVIEWER
    scp_port = 11113
    cache_mb = 4096

    [node "hospital"]
    url = https://pacs.example.org/dicom-web
    user = alice
    auth = basic
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, fields
from pathlib import Path

from ctviewer.pacs.nodes import Node, PacsError, parse_node_url
from ctviewer.paths import user_data_dir

CONFIG_NAME = "pacs.ini"
NODE_OPTIONS = ("user", "auth", "ca_bundle", "retrieve", "timeout_s")
_SECTION = re.compile(r'^node "(.+)"$')
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


@dataclass(frozen=True)
class LocalAE:
    """Who we are on the DICOM network and how much cache we may use."""

    ae_title: str = "CTVIEWER"
    scp_port: int = 11113  # our storage SCP for C-MOVE (the PACS must know AE, host and port)
    cache_mb: int = 4096


def config_path() -> Path:
    return user_data_dir() / CONFIG_NAME


class PacsConfig:
    """Read and edit `pacs.ini`; every change is written at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_path()
        self._ini = configparser.ConfigParser(interpolation=None)
        if self.path.is_file():
            try:
                self._ini.read(self.path, encoding="utf-8")
            except configparser.Error as error:
                raise PacsError(f"unreadable settings ({error.message})", self.path) from None

    def names(self) -> list[str]:
        return [m.group(1) for s in self._ini.sections() if (m := _SECTION.match(s))]

    def node(self, name: str) -> Node:
        section = self._ini[f'node "{name}"']
        options: dict = {key: section.get(key) for key in NODE_OPTIONS if section.get(key)}
        if "timeout_s" in options:
            try:
                options["timeout_s"] = float(options["timeout_s"])
            except ValueError:
                raise PacsError(f"node {name!r}: timeout_s is not a number", self.path) from None
        return parse_node_url(section.get("url", ""), name=name, **options)

    def nodes(self) -> list[Node]:
        return [self.node(name) for name in self.names()]

    def add(self, name: str, url: str, **options) -> Node:
        """Add or replace a node; the URL and options are checked first."""
        if not _NAME.match(name) or "://" in name:
            raise PacsError(f"{name!r}: a node name is letters, digits, space, '_', '.', '-'")
        node = parse_node_url(url, name=name, **options)
        section = {"url": node.url}
        for key in NODE_OPTIONS:
            value = getattr(node, key)
            default = next(f.default for f in fields(Node) if f.name == key)
            if value != default:
                section[key] = str(value)
        self._ini[f'node "{name}"'] = section
        self._write()
        return node

    def remove(self, name: str) -> None:
        if not self._ini.remove_section(f'node "{name}"'):
            raise self.unknown(name)
        self._write()

    def local(self) -> LocalAE:
        section = self._ini["local"] if self._ini.has_section("local") else {}
        default = LocalAE()
        try:
            return LocalAE(
                ae_title=str(section.get("ae_title", default.ae_title))[:16],
                scp_port=int(section.get("scp_port", default.scp_port)),
                cache_mb=int(section.get("cache_mb", default.cache_mb)),
            )
        except ValueError:
            raise PacsError("[local] scp_port and cache_mb must be integers", self.path) from None

    def set_local(self, local: LocalAE) -> None:
        self._ini["local"] = {f.name: str(getattr(local, f.name)) for f in fields(LocalAE)}
        self._write()

    def resolve(self, text: str) -> Node:
        """A configured name or a URL → Node; a one-line error for anything else."""
        if "://" in text:
            return parse_node_url(text)
        if text in self.names():
            return self.node(text)
        raise self.unknown(text)

    def unknown(self, name: str) -> PacsError:
        known = ", ".join(self.names()) or "none configured"
        return PacsError(
            f"unknown PACS node {name!r} (known: {known}; or give http(s)://host:port/dicom-web "
            "or dicom://AET@host:port)"
        )

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8") as stream:
            self._ini.write(stream)
