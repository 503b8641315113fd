"""`ctviewer open`, `ctviewer demo` (the desktop viewer) and `ctviewer snapshot` (no window)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ctviewer.cli.common import ProgressLine
from ctviewer.errors import InputError
from ctviewer.render import AXES, COLORMAPS, DEFAULT_OPACITY, axis_length
from ctviewer.ui.system_check import check_viewer_can_start


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `open`, `demo` and `snapshot`."""
    p = subparsers.add_parser("open", help="the viewer, optionally opening PATH")
    p.add_argument("path", nargs="?", help="DICOM folder, DICOMDIR, or image file")
    p.add_argument("--model", help="model checkpoint (default: the active model)")
    p.set_defaults(func=open_viewer)

    p = subparsers.add_parser(
        "demo", help="make (once) the synthetic demo study, open it and start the analysis"
    )
    p.add_argument("--model", help="model checkpoint (default: the active model)")
    p.set_defaults(func=demo)

    p = subparsers.add_parser("snapshot", help="render a view to PNG without a window")
    p.add_argument("path", help="DICOM folder, DICOMDIR, or image file")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--slice", type=int, help="plane index, 0-based (default: middle, or the "
                   "strongest finding with --overlay)")  # fmt: skip
    p.add_argument("--preset", help="window preset name, e.g. lung, brain (default: the file's)")
    p.add_argument("--axis", choices=AXES, default="axial")
    p.add_argument("--overlay", action="store_true", help="analyse and draw map + findings")
    p.add_argument("--model", help="model checkpoint for --overlay (default: the active model)")
    p.add_argument("--colormap", choices=list(COLORMAPS), default="hot")
    p.add_argument("--opacity", type=float, default=DEFAULT_OPACITY)
    p.set_defaults(func=snapshot)


def open_viewer(args: argparse.Namespace) -> int:
    check_viewer_can_start()  # before PySide6 loads: one line instead of Qt's abort
    from ctviewer.ui.app import run

    return run(path=args.path, model=args.model)


def demo(args: argparse.Namespace) -> int:
    check_viewer_can_start()
    from ctviewer.ui.app import run

    return run(model=args.model, demo=True)


def snapshot(args: argparse.Namespace) -> int:
    from PIL import Image

    from ctviewer.io import load_volume
    from ctviewer.presets import get_preset
    from ctviewer.render import render_view

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InputError("the snapshot is written as PNG; give a .png file", out)
    window = get_preset(args.preset).window if args.preset else None
    line = ProgressLine()
    try:
        volume = load_volume(args.path, progress=line)
        result = None
        if args.overlay:
            from ctviewer.pipeline import analyse

            result = analyse(volume, args.model, progress=line)
    finally:
        line.close()
    n = axis_length(volume.shape, args.axis)
    if args.slice is not None and not 0 <= args.slice < n:
        raise InputError(f"slice {args.slice} is outside 0..{n - 1} ({args.axis})", args.path)
    rgba = render_view(
        volume,
        result,
        args.slice,
        window,
        overlay=args.overlay,
        axis=args.axis,
        colormap=args.colormap,
        opacity=args.opacity,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        Image.fromarray(rgba).save(out)
    except OSError as error:
        raise InputError(f"cannot write the snapshot ({error.strerror or error})", out) from None
    print(out)
    return 0
