"""The desktop app: entry, icons, self-test; the slow test builds and self-tests the bundle."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ctviewer import paths
from ctviewer.cli.main import main as cli_main
from ctviewer.selftest import CODECS, run_self_test

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def _desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path)
    return parser["Desktop Entry"]


def test_icons_exist_in_every_size() -> None:
    assert (ICONS / "ctviewer.svg").read_text().lstrip().startswith("<?xml")
    for size in ICON_SIZES:
        with Image.open(ICONS / f"ctviewer_{size}.png") as image:
            assert image.size == (size, size)
            assert image.mode == "RGBA"
            assert image.getextrema()[3] == (0, 255)  # transparent corners, opaque inside


def test_install_script_puts_a_valid_entry_in_the_menu(tmp_path: Path) -> None:
    app = tmp_path / "my apps" / "ctviewer"
    app.parent.mkdir()
    app.write_text("#!/bin/sh\n")
    app.chmod(0o755)
    data = tmp_path / "share"
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    script = PACKAGING / "install_desktop_entry.sh"
    subprocess.run(["bash", str(script), str(app)], check=True, env=env, capture_output=True)

    entry = _desktop_entry(data / "applications" / "ctviewer.desktop")
    assert entry["Type"] == "Application" and entry["Name"] == "ctviewer"
    assert entry["Exec"] == f'"{app}" open %f'  # quoted: the path has a space
    assert entry["TryExec"] == str(app)
    assert entry["Icon"] == "ctviewer" and entry["Terminal"] == "false"
    mime_types = entry["MimeType"].rstrip(";").split(";")
    assert {"application/dicom", "application/x-nifti"} <= set(mime_types)
    for size in ICON_SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "ctviewer.png").is_file()
    assert (data / "mime" / "packages" / "ctviewer.xml").is_file()
    if shutil.which("desktop-file-validate"):
        subprocess.run(
            ["desktop-file-validate", str(data / "applications" / "ctviewer.desktop")], check=True
        )

    subprocess.run(["bash", str(script), "--uninstall"], check=True, env=env, capture_output=True)
    assert not (data / "applications" / "ctviewer.desktop").exists()


def test_install_script_refuses_a_missing_app(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(PACKAGING / "install_desktop_entry.sh"), str(tmp_path / "nothing")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "not an executable" in done.stderr
    assert not (tmp_path / "applications").exists()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minute autoencoder trained for one epoch: enough to run the pipeline."""
    import torch

    from ctviewer.model.checkpoint import save_model
    from ctviewer.model.train import TrainConfig, train_model
    from ctviewer.synth.phantom import make_phantom

    torch.set_num_threads(1)
    volumes = [make_phantom((6, 64, 64), seed=seed).volume for seed in range(3)]
    config = TrainConfig(
        epochs=1, base_channels=4, depth=2, latent_channels=4, augment=False, device="cpu"
    )
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(train_model(volumes, config), path)
    return path


@pytest.mark.gui
def test_self_test_passes_through_the_cli(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(paths, "default_model_path", lambda: tiny_model)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # the app installs its own
    assert cli_main(["--self-test"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ok = [line for line in lines if line.startswith("OK ")]
    assert len(ok) == len(CODECS) + 3
    assert lines[-1].startswith("self-test passed")


@pytest.mark.gui
def test_self_test_names_the_failing_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    lines: list[str] = []
    assert run_self_test(tmp_path / "missing.pt", echo=lines.append) == 1
    failed = [line for line in lines if line.startswith("FAIL")]
    assert len(failed) == 2
    assert failed[0].startswith("FAIL analyse a phantom") and "missing.pt" in failed[0]
    assert failed[1].startswith("FAIL render a view")  # it needs the analysis
    assert lines[-1].startswith("self-test FAILED (2 of 7)") and "analyse" in lines[-1]


@pytest.mark.slow
def test_frozen_bundle_builds_and_passes_its_self_test(tmp_path: Path) -> None:
    """packaging/build.sh, then the bundle's self-test from elsewhere with a bare environment."""
    subprocess.run(
        ["bash", str(PACKAGING / "build.sh")],
        check=True,
        env={**os.environ, "SKIP_SELF_TEST": "1"},
        timeout=3600,
    )
    app = ROOT / "dist" / "ctviewer" / "ctviewer"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [str(app), "--self-test"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "frozen bundle" in done.stdout and "self-test passed" in done.stdout
