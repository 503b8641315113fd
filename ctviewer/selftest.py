"""`ctviewer --self-test`: is this installation (above all a frozen bundle) whole?

It makes its own test data on the fly (a frozen app carries no test files): a small phantom
written as DICOM with each compressed transfer syntax, read back through ctviewer.io and compared
bit for bit, which proves the codec plugins and their package metadata were bundled; then the
bundled model analyses a phantom, a view is rendered without a window, and the Qt main window is
built on the offscreen platform (unless QT_QPA_PLATFORM names another) and grabbed.

One line per check, `OK name: detail` or `FAIL name: reason`; exit status 0 only if all pass.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless

from ctviewer import __version__, paths
from ctviewer.volume import Result, Volume

CODECS = {  # check name → transfer syntax
    "read JPEG Lossless (SV1) DICOM": JPEGLosslessSV1,
    "read JPEG-LS lossless DICOM": JPEGLSLossless,
    "read JPEG 2000 lossless DICOM": JPEG2000Lossless,
    "read RLE lossless DICOM": RLELossless,
}


class SelfTest:
    """The checks, sharing a scratch folder and what earlier checks produced."""

    def __init__(self, workdir: Path, model_path: Path | None) -> None:
        self.workdir = workdir
        self.model_path = model_path
        self.volume: Volume | None = None
        self.result: Result | None = None

    def read_codec(self, syntax: str) -> str:
        """Write a phantom with `syntax`; read it through ctviewer.io (GDCM first) and through
        pydicom's own plugins (pylibjpeg, pyjpegls …), which a frozen app most often loses."""
        import pydicom
        from pydicom.pixels import get_decoder

        from ctviewer.io import load_volume
        from ctviewer.synth.phantom import make_phantom, write_dicom_series

        phantom = make_phantom((3, 64, 64), seed=1)
        folder = self.workdir / str(syntax)
        files = write_dicom_series(phantom, folder, transfer_syntax=syntax)
        if not np.array_equal(load_volume(folder).array, phantom.volume.array):
            raise AssertionError("ctviewer.io decoded other pixels than were written")
        plugins = get_decoder(syntax).available_plugins
        if not plugins:
            raise AssertionError("pydicom finds no decoder plugin (codec or its metadata missing)")
        dataset = pydicom.dcmread(files[0])
        hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
        if not np.array_equal(hu, phantom.volume.array[0]):
            raise AssertionError("pydicom decoded other pixels than were written")
        return f"bit-exact through ctviewer.io and pydicom ({', '.join(plugins)})"

    def detect(self) -> str:
        from ctviewer.model.checkpoint import load_model
        from ctviewer.pipeline import detect
        from ctviewer.synth.phantom import Lesion, make_phantom

        start = time.perf_counter()
        model = load_model(self.model_path, device="cpu")
        phantom = make_phantom((16, 128, 128), (6.0, 3.0, 3.0), [Lesion("nodule", 10.0)], seed=9)
        self.volume = phantom.volume
        self.result = detect(phantom.volume, model)
        if self.result.anomaly_map.shape != phantom.volume.shape:
            raise AssertionError(f"anomaly map shape {self.result.anomaly_map.shape}")
        if not np.isfinite(self.result.anomaly_map).all():
            raise AssertionError("anomaly map has non-finite values")
        info = model.info
        return (
            f"{info.name} {info.version}: {len(self.result.findings)} finding(s), score "
            f"{self.result.score:.4g} (threshold {self.result.threshold:.4g}), "
            f"{time.perf_counter() - start:.1f} s"
        )

    def render(self) -> str:
        from PIL import Image

        from ctviewer.render import render_view

        if self.volume is None:
            raise AssertionError("no analysed volume (the model check failed)")
        rgba = render_view(self.volume, self.result, overlay=True)
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba[..., :3].std() < 1:
            raise AssertionError(f"blank or malformed image {rgba.shape}")
        path = self.workdir / "view.png"
        Image.fromarray(rgba).save(path)
        return f"{rgba.shape[1]}x{rgba.shape[0]} view with overlay"

    def window(self) -> str:
        from ctviewer.ui.app import create_app
        from ctviewer.ui.main_window import MainWindow

        app = create_app()
        window = MainWindow(model_path=self.model_path)
        try:
            window.resize(900, 600)
            window.show()
            app.processEvents()
            image = window.grab().toImage()
            if image.isNull() or image.width() < 100:
                raise AssertionError("the main window could not be drawn")
            return (
                f"Qt platform '{app.platformName()}', window drawn {image.width()}x{image.height()}"
            )
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        codec_checks = [
            (name, lambda syntax=syntax: self.read_codec(syntax)) for name, syntax in CODECS.items()
        ]
        return [
            *codec_checks,
            ("analyse a phantom with the model", self.detect),
            ("render a view offscreen", self.render),
            ("build the main window", self.window),
        ]


def run_self_test(model_path: str | Path | None = None, echo: Callable[[str], None] = print) -> int:
    """Run every check, print one line each, return 0 if all pass (else 1)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    frozen = "frozen bundle" if getattr(sys, "frozen", False) else "not frozen"
    echo(f"ctviewer {__version__} self-test ({frozen}, Python {platform.python_version()}, "
         f"resources {paths.resources_dir()})")  # fmt: skip
    failed = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ctviewer-selftest-") as tmp:
        suite = SelfTest(Path(tmp), Path(model_path) if model_path else None)
        for name, check in suite.checks():
            try:
                echo(f"OK   {name}: {check()}")
            except Exception as error:  # noqa: BLE001 - every failure is reported, none raised
                reason = " ".join(str(error).split()) or type(error).__name__
                echo(f"FAIL {name}: {type(error).__name__}: {reason}")
                failed.append(name)
    seconds = time.perf_counter() - start
    if failed:
        echo(f"self-test FAILED ({len(failed)} of {len(suite.checks())}): {'; '.join(failed)}")
        return 1
    echo(f"self-test passed: {len(suite.checks())} checks in {seconds:.1f} s")
    return 0
