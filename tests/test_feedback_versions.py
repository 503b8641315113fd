"""Model versions: a missing active file is said, promotion validates, detection needs no store."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ctviewer import paths
from ctviewer.cli.main import main as cli_main
from ctviewer.errors import ModelError
from ctviewer.feedback import versions
from ctviewer.feedback.store import FeedbackStore, StoreDamaged
from ctviewer.model.autoencoder import AnomalyModel, Architecture, AutoEncoder
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.preprocess import Preprocessing


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny 8-bit image model: loads and detects in a blink."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    arch = Architecture(in_channels=1, base_channels=4, depth=2, latent_channels=4)
    metadata = {
        "name": "tiny", "version": "t1", "architecture": arch.to_dict(),
        "preprocessing": Preprocessing(kind="image", size=32).to_dict(), "threshold": 1.0,
    }  # fmt: skip
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(AnomalyModel(AutoEncoder(arch), metadata, "cpu"), path)
    return path


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "slice.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48), np.uint8)).save(path)
    return path


def promoted_copy(tiny_model: Path, folder: Path, name: str = "fb.pt") -> Path:
    """Register a copy of the tiny model as the active learned version; returns the copy."""
    copy = folder / name
    shutil.copyfile(tiny_model, copy)
    with FeedbackStore() as store:
        versions.register_version(copy, None, {}, {}, promoted=True, store=store)
    return copy.resolve()


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("ctviewer: error:"), err
    return err


# -- 8: a promoted version whose file is gone ------------------------------------------------


def test_missing_active_file_is_an_error_not_the_bundled_model(
    tiny_model: Path, tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = promoted_copy(tiny_model, tmp_path)
    copy.unlink()
    with pytest.raises(ModelError, match="models rollback") as raised:
        versions.active_model_path()
    assert str(copy) in str(raised.value) and "promote V" in str(raised.value)
    for command in (
        ["detect", str(image), "--out", str(tmp_path / "out")],
        ["evaluate", "--normal", str(image), "--abnormal", str(image)],
        ["report", str(image), "--out", str(tmp_path / "r.pdf")],
    ):
        assert cli_main(command) == 1, command
        err = one_line_error(capsys)
        assert str(copy) in err and "is missing" in err and "rollback" in err, err
    assert not (tmp_path / "out" / "results.json").exists()


def test_models_list_marks_the_missing_file(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = promoted_copy(tiny_model, tmp_path)
    copy.unlink()
    assert cli_main(["models"]) == 0
    out = capsys.readouterr().out
    starred = next(line for line in out.splitlines() if line.startswith("*"))
    assert f"FILE MISSING: {copy}" in starred
    assert "active model: NONE USABLE" in out and "rollback" in out
    assert cli_main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["active_path"] is None and listed["versions"][0]["file_missing"] is True
    assert cli_main(["models", "rollback"]) == 0  # the way out works
    assert "FILE MISSING" in capsys.readouterr().out
    assert versions.active_model_path() == paths.default_model_path()


# -- 9: promotion opens the file first -------------------------------------------------------


@pytest.mark.parametrize("content", [b"not a model at all", "torch-dict"])
def test_promote_refuses_a_file_that_does_not_load(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str
) -> None:
    good = promoted_copy(tiny_model, tmp_path)
    bad = tmp_path / "bad.pt"
    if content == "torch-dict":
        torch.save({"weights": [1, 2, 3]}, bad)
    else:
        bad.write_bytes(content)  # type: ignore[arg-type]
    with FeedbackStore() as store:
        name = versions.register_version(bad, None, {}, {}, promoted=False, store=store).version
    with pytest.raises(ModelError) as why:
        load_model(bad.resolve(), device="cpu")
    assert cli_main(["models", "promote", name]) == 1
    err = one_line_error(capsys)
    assert err.endswith(f"{name} not promoted: {why.value}"), err
    assert versions.active_model_path() == good  # nothing changed


def test_promote_accepts_a_loadable_file(tiny_model: Path, tmp_path: Path) -> None:
    promoted_copy(tiny_model, tmp_path, "first.pt")
    second = tmp_path / "second.pt"
    shutil.copyfile(tiny_model, second)
    with FeedbackStore() as store:
        name = versions.register_version(second, None, {}, {}, promoted=False, store=store).version
    assert cli_main(["models", "promote", name]) == 0
    assert versions.active_model_path() == second.resolve()


# -- 10: detection does not need the store ---------------------------------------------------


def overwrite_with_garbage(db: Path) -> None:
    db.write_bytes(np.random.default_rng(1).integers(0, 255, 8192, np.uint8).tobytes())


def test_detect_runs_with_a_garbage_store_using_the_pointer(
    tiny_model: Path,
    tmp_path: Path,
    image: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    copy = promoted_copy(tiny_model, tmp_path)
    db = paths.feedback_db_path()
    overwrite_with_garbage(db)
    with pytest.raises(StoreDamaged, match="store restore"):
        FeedbackStore()
    active = versions.resolve_active_model()
    assert active.path == copy and active.version is not None
    assert "damaged" in active.note and "\n" not in active.note
    with caplog.at_level(logging.WARNING):
        assert cli_main(["detect", str(image), "--out", str(tmp_path / "out")]) == 0
    assert any("using the active version" in r.getMessage() for r in caplog.records)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["model"]["name"] == "tiny"  # the learned version, not the bundled model
    capsys.readouterr()
    assert cli_main(["models"]) == 1  # what needs the store says so, in one line
    assert "store restore" in one_line_error(capsys)


def test_without_a_pointer_the_bundled_model_with_a_warning(
    tiny_model: Path, tmp_path: Path
) -> None:
    promoted_copy(tiny_model, tmp_path)
    versions.pointer_path(paths.feedback_db_path()).unlink()
    overwrite_with_garbage(paths.feedback_db_path())
    active = versions.resolve_active_model()
    assert active.path == paths.default_model_path() and active.version is None
    assert "the active learned version could not be read" in active.note


def test_pointer_follows_promotion_and_rollback(tiny_model: Path, tmp_path: Path) -> None:
    pointer = versions.pointer_path(paths.feedback_db_path())
    copy = promoted_copy(tiny_model, tmp_path)
    assert json.loads(pointer.read_text()) == {"version": "fb1", "path": str(copy)}
    with FeedbackStore() as store:
        versions.rollback(store)
    assert json.loads(pointer.read_text()) == {"version": None}
    pointer.unlink()  # an installation from before the pointer: the next read writes it
    versions.active_model_path()
    assert json.loads(pointer.read_text()) == {"version": None}
