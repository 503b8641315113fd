"""`ctviewer` console command: argparse subcommands over the core.

Each command module registers its subparsers with `register(subparsers)` and sets
`func=handler(args) -> int`. Errors a user can cause (`CTViewerError`) print one line and exit 1.
"""

from __future__ import annotations

import argparse
import sys

from ctviewer import __version__
from ctviewer.errors import CTViewerError

COMMAND_MODULES = (
    "viewer",
    "info",
    "engine",
    "feedback",
    "store",
    "report",
    "pacs",
    "screen",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctviewer",
        description="CT viewer with autoencoder anomaly detection (decision support only).",
    )
    parser.add_argument("--version", action="version", version=f"ctviewer {__version__}")
    parser.add_argument(
        "--self-test", action="store_true", help="check that this installation is whole, then exit"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"ctviewer.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from ctviewer.selftest import run_self_test

        return run_self_test()
    if not getattr(args, "func", None):
        # bare `ctviewer` opens the viewer when that command exists
        if "open" in parser._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
            args = parser.parse_args(["open", *(argv or [])])
        else:
            parser.print_help()
            return 2
    try:
        return int(args.func(args) or 0)
    except CTViewerError as error:
        print(f"ctviewer: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `ctviewer info ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("ctviewer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
