"""GUI entry: `ctviewer-gui [PATH] [--model M] [--demo]` and `run(...)` for `ctviewer open/demo`.

Uncaught errors go to a log file in `paths.log_dir()` and to a dialog, never to a console the
user cannot see; errors a user can cause (CTViewerError) are one line in the status bar/dialog.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from ctviewer.errors import CTViewerError
from ctviewer.paths import log_dir, resources_dir

LOG_NAME = "ctviewer.log"
log = logging.getLogger("ctviewer")


def log_file() -> Path:
    return log_dir() / LOG_NAME


def setup_logging() -> None:
    """Log to a rotating file in the user data dir (no patient data is logged). Called again
    after the user data dir changed (CTVIEWER_HOME), it moves the log there."""
    path = log_file()
    for old in [h for h in log.handlers if isinstance(h, RotatingFileHandler)]:
        if Path(old.baseFilename) == path:
            return
        log.removeHandler(old)
        old.close()
    handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def log_qt_message(mode: QtMsgType, _context, message: str) -> None:
    """Qt's own warnings go to the log file, not to a console nobody sees."""
    level = (
        logging.DEBUG if mode in (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg) else logging.WARNING
    )
    logging.getLogger("ctviewer.qt").log(level, "%s", message)


def handle_exception(kind, error, tb) -> None:
    """sys.excepthook: one-line dialog; the traceback goes only to the log file."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    if isinstance(error, CTViewerError):
        text = str(error)
    else:
        log.error("uncaught error\n%s", "".join(traceback.format_exception(kind, error, tb)))
        text = f"Unexpected error ({kind.__name__}: {error}). Details: {log_file()}"
    if QApplication.instance() is None:
        sys.stderr.write(text + "\n")
        return
    box = QMessageBox(QMessageBox.Icon.Critical, "ctviewer", text, parent=_main_window())
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _open_dialogs.add(box)  # a parentless box would be garbage-collected at once
    box.finished.connect(lambda _result: _open_dialogs.discard(box))
    box.open()


_open_dialogs: set[QMessageBox] = set()


def _main_window() -> QWidget | None:
    """The active window, else any visible top-level window, to parent a dialog on."""
    active = QApplication.activeWindow()
    if active is not None:
        return active
    return next((w for w in QApplication.topLevelWidgets() if w.isVisible()), None)


def app_icon() -> QIcon:
    """The application icon from the PNG sizes in resources/icons (empty if they are absent)."""
    icon = QIcon()
    for png in sorted((resources_dir() / "icons").glob("ctviewer_*.png")):
        icon.addFile(str(png))
    return icon


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), HiDPI-exact, with the icon and error handling."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("ctviewer")
    app.setOrganizationName("ctviewer")
    app.setWindowIcon(app_icon())
    setup_logging()
    qInstallMessageHandler(log_qt_message)
    sys.excepthook = handle_exception
    return app


def run(path: str | None = None, model: str | None = None, demo: bool = False) -> int:
    """Show the main window (opening `path` or the demo study) and run the event loop."""
    app = create_app()
    from ctviewer.ui.main_window import MainWindow
    from ctviewer.ui.store_recovery import offer_store_recovery

    offer_store_recovery()  # before anything opens the store

    window = MainWindow(model_path=model)
    window.show()
    if demo:
        window.open_demo()
    elif path:
        window.open_path(path)
    return int(app.exec())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ctviewer-gui", description="ctviewer desktop viewer")
    parser.add_argument("path", nargs="?", help="DICOM folder, DICOMDIR, or image file to open")
    parser.add_argument("--model", help="model checkpoint (default: the active model)")
    parser.add_argument("--demo", action="store_true", help="open the synthetic demo study")
    args = parser.parse_args(argv)
    return run(args.path, args.model, args.demo)


if __name__ == "__main__":
    sys.exit(main())
