"""`ctviewer pacs`: echo, find, get and send over DICOMweb or DIMSE; add, list and remove nodes.

NODE is a configured name, `http(s)://host:port/dicom-web` or `dicom://AET@host:port`.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import sys
from pathlib import Path

from ctviewer.cli.common import ProgressLine, print_json

NODE_HELP = "a configured name, http(s)://host:port/dicom-web or dicom://AET@host:port"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `pacs` and its subcommands."""
    p = subparsers.add_parser("pacs", help="search, retrieve and send studies (DICOMweb, DIMSE)")
    commands = p.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)

    echo = commands.add_parser("echo", help="check that a node answers (C-ECHO or QIDO-RS)")
    echo.add_argument("node", metavar="NODE", help=NODE_HELP)
    echo.set_defaults(func=cmd_echo)

    find = commands.add_parser("find", help="search studies")
    find.add_argument("node", metavar="NODE", help=NODE_HELP)
    find.add_argument("--patient-id", default="", metavar="ID")
    find.add_argument("--patient-name", default="", metavar="NAME", help="prefix or * ? pattern")
    find.add_argument("--accession", default="", metavar="A")
    find.add_argument("--study-date", default="", metavar="YYYYMMDD[-YYYYMMDD]")
    find.add_argument("--modality", default="", metavar="CT")
    find.add_argument("--json", action="store_true", help="a JSON list of studies on stdout")
    find.set_defaults(func=cmd_find)

    get = commands.add_parser("get", help="retrieve a study (or one series) into a folder")
    get.add_argument("node", metavar="NODE", help=NODE_HELP)
    get.add_argument("study_uid", metavar="STUDY_UID")
    get.add_argument("--series", default=None, metavar="UID", help="only this series")
    get.add_argument("--out", required=True, type=Path, metavar="DIR")
    get.add_argument(
        "--move", action="store_true", help="DIMSE: C-MOVE to our storage SCP instead of C-GET"
    )
    get.set_defaults(func=cmd_get)

    send = commands.add_parser("send", help="store DICOM files (e.g. SEG, SC, SR) on a node")
    send.add_argument("node", metavar="NODE", help=NODE_HELP)
    send.add_argument("paths", metavar="PATH", nargs="+", type=Path, help="files or folders")
    send.set_defaults(func=cmd_send)

    add = commands.add_parser(
        "add",
        help="configure a node; its password or token goes to the OS keyring "
        "(asked, or read from CTVIEWER_PACS_PASSWORD)",
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL", help=NODE_HELP)
    add.add_argument("--user", default="", metavar="U", help="DICOMweb: HTTP basic-auth user")
    add.add_argument("--auth", choices=("none", "basic", "bearer"), default=None)
    add.add_argument("--ca-bundle", default="", metavar="FILE", help="TLS: verify against this CA")
    add.add_argument("--retrieve", choices=("get", "move"), default=None, help="DIMSE retrieve")
    add.set_defaults(func=cmd_add)

    listing = commands.add_parser("list", help="the configured nodes (no secret)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    remove = commands.add_parser("remove", help="forget a node and its stored secret")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(func=cmd_remove)

    local = commands.add_parser("local", help="our AE title, C-MOVE port and cache size")
    local.add_argument("--ae-title", default=None, metavar="AET")
    local.add_argument("--scp-port", type=int, default=None, metavar="PORT")
    local.add_argument("--cache-mb", type=int, default=None, metavar="MB")
    local.set_defaults(func=cmd_local)


def _config():
    from ctviewer.pacs.config import PacsConfig

    return PacsConfig()


def cmd_echo(args: argparse.Namespace) -> int:
    from ctviewer.pacs.retrieve import echo

    config = _config()
    node = config.resolve(args.node)
    seconds = echo(node, config.local())
    print(f"{node.name}: answered in {seconds * 1000:.0f} ms ({node.protocol})")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    from ctviewer.pacs.records import StudyQuery
    from ctviewer.pacs.retrieve import find_studies

    query = StudyQuery(
        patient_id=args.patient_id,
        patient_name=args.patient_name,
        accession=args.accession,
        study_date=args.study_date,
        modality=args.modality,
    )
    config = _config()
    studies = find_studies(config.resolve(args.node), query, config.local())
    if args.json:
        print_json([study.as_json() for study in studies])
        return 0
    for s in studies:
        count = s.NumberOfStudyRelatedInstances
        print(
            f"{s.StudyDate or '--------'}  {s.PatientID:<16} {s.PatientName:<24} "
            f"{'/'.join(s.ModalitiesInStudy):<6} {count if count is not None else '?':>5}  "
            f"{s.StudyDescription}  {s.StudyInstanceUID}"
        )
    print(f"{len(studies)} studies", file=sys.stderr)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from ctviewer.pacs.retrieve import retrieve

    config = _config()
    node = config.resolve(args.node)
    if args.move:
        node = dataclasses.replace(node, retrieve="move")
    progress = ProgressLine()
    try:
        result = retrieve(
            node, args.study_uid, args.out, args.series, config.local(), progress=progress
        )
    finally:
        progress.close()
    rate = result.bytes / 1e6 / result.seconds if result.seconds else 0.0
    print(
        f"{result.instances} instances in {len(result.series)} series, "
        f"{result.bytes / 1e6:.1f} MB in {result.seconds:.1f} s ({rate:.1f} MB/s) → {args.out}"
    )
    for warning in result.warnings:
        print(f"ctviewer: warning: {warning}", file=sys.stderr)
    return 1 if result.warnings else 0


def cmd_send(args: argparse.Namespace) -> int:
    from ctviewer.pacs.retrieve import send

    config = _config()
    node = config.resolve(args.node)
    progress = ProgressLine()
    try:
        result = send(node, args.paths, config.local(), progress=progress)
    finally:
        progress.close()
    print(f"{result.sent} files sent to {node.name} in {result.seconds:.1f} s")
    return 0


def _ask_secret(name: str, auth: str) -> str:
    from ctviewer.errors import CTViewerError
    from ctviewer.pacs.credentials import PASSWORD_ENV

    secret = os.environ.get(PASSWORD_ENV)
    if secret is None and sys.stdin.isatty():
        secret = getpass.getpass(f"{'token' if auth == 'bearer' else 'password'} for {name}: ")
    if not secret:
        raise CTViewerError(f"{name}: no password given (type it, or set {PASSWORD_ENV})")
    return secret


def cmd_add(args: argparse.Namespace) -> int:
    from ctviewer.pacs.credentials import store_secret

    auth = args.auth or ("basic" if args.user else None)
    config = _config()
    node = config.add(
        args.name,
        args.url,
        user=args.user,
        auth=auth,
        ca_bundle=args.ca_bundle,
        retrieve=args.retrieve,
    )
    if node.auth != "none":
        store_secret(node.name, _ask_secret(node.name, node.auth))
    print(f"{node.name}: {node.url} ({node.protocol}, auth {node.auth}) saved in {config.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    nodes = _config().nodes()
    if args.json:
        print_json([dataclasses.asdict(node) for node in nodes])
        return 0
    for node in nodes:
        user = f" user {node.user}" if node.user else ""
        print(f"{node.name}: {node.url} ({node.protocol}, auth {node.auth}{user})")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from ctviewer.pacs.credentials import delete_secret

    _config().remove(args.name)
    delete_secret(args.name)
    print(f"{args.name}: removed")
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    config = _config()
    local = config.local()
    changes = {
        "ae_title": args.ae_title,
        "scp_port": args.scp_port,
        "cache_mb": args.cache_mb,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        local = dataclasses.replace(local, **changes)
        config.set_local(local)
    print(f"AE title {local.ae_title}, C-MOVE port {local.scp_port}, cache {local.cache_mb} MB")
    return 0
