"""Render resources/icons/ctviewer.svg into the PNG sizes desktops ask for (and a Windows .ico).

Run from the repository root: `.venv/bin/python packaging/make_icons.py`. Uses Qt's SVG renderer,
so the PNGs look exactly like the SVG the app itself loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def render_png(renderer: QSvgRenderer, size: int, path: Path) -> None:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(path)):
        sys.exit(f"cannot write {path}")


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QSvgRenderer(str(ICONS / "ctviewer.svg"))
    if not renderer.isValid():
        sys.exit(f"{ICONS / 'ctviewer.svg'}: not a valid SVG")
    for size in SIZES:
        render_png(renderer, size, ICONS / f"ctviewer_{size}.png")
    # Windows wants an .ico; Pillow packs the PNG sizes into one.
    from PIL import Image

    Image.open(ICONS / "ctviewer_256.png").save(
        ICONS / "ctviewer.ico", sizes=[(s, s) for s in SIZES if s <= 256]
    )
    print(f"wrote {len(SIZES)} PNGs and ctviewer.ico into {ICONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
