"""`ctviewer train / detect / evaluate / calibrate / bench` end to end on tiny synthetic images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from PIL import Image

from ctviewer.cli.feedback import load_results
from ctviewer.cli.main import main
from ctviewer.model.autoencoder import AnomalyModel, Architecture, AutoEncoder
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.thresholds import SPACING_KEY
from ctviewer.model.train import TrainConfig, train_model


def head_image(rng: np.random.Generator, bleed: bool, size: int = 96) -> np.ndarray:
    """A head-like 8-bit slice: bright skull ring, grey brain, noise; `bleed` adds a bright blob."""
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    r = np.hypot(yy / 0.42, xx / 0.36)
    image = np.where(r < 1.0, 255.0, 0.0)
    image = np.where(r < 0.9, 100.0 + rng.normal(0, 6, r.shape), image)
    if bleed:
        cy, cx = rng.uniform(-0.15, 0.15, 2)
        image[np.hypot(yy - cy, xx - cx) < 0.09] = 200.0
    return np.clip(image, 0, 255).astype(np.uint8)


def write_images(folder: Path, n: int, bleed: bool, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(head_image(rng, bleed)).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    return {
        "train": write_images(root / "train", 10, False, 0),
        "normal": write_images(root / "normal", 5, False, 1),
        "abnormal": write_images(root / "abnormal", 5, True, 2),
    }


@pytest.fixture(scope="module")
def model_path(data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    config = TrainConfig(
        epochs=30,
        learning_rate=3e-3,
        preprocessing=Preprocessing(kind="image", size=32),
        base_channels=8,
        depth=2,
        latent_channels=4,
        device="cpu",
    )
    model = train_model([data["train"]], config)
    return save_model(model, tmp_path_factory.mktemp("model") / "tiny.pt")


def test_train_writes_a_calibrated_model(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    assert main(["train", str(data["train"]), "--out", str(out), "--epochs", "1"]) == 0
    model = load_model(out)
    assert model.preprocessing.kind == "image"
    assert model.metadata["training"]["volumes"] + model.metadata["training"]["held_back"] == 10
    assert np.isfinite(model.threshold) and model.threshold > 0


def test_detect_writes_results_and_maps(data, model_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    one = data["normal"] / "00.png"
    argv = [
        "detect",
        str(data["abnormal"]),
        str(one),
        "--model",
        str(model_path),
        "--out",
        str(out),
    ]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    results = json.loads((out / "results.json").read_text())
    assert printed == results
    assert results["model"]["version"] == load_model(model_path).info.version
    assert len(results["items"]) == 6
    for item in results["items"]:
        assert item["slices"] == 1 and len(item["slice_scores"]) == 1
        assert item["abnormal"] == (item["score"] > item["threshold"])
        image = sitk.ReadImage(str(out / item["map"]))
        assert image.GetSize() == (96, 96, 1)
        for finding in item["findings"]:
            assert "area_px" in finding and "area_mm2" not in finding and "size_mm3" not in finding
    reread = load_results(out / "results.json")  # what `review` reads back: sizes round-trip
    for item, result in zip(results["items"], reread, strict=True):
        assert [f.to_json() for f in result.findings] == item["findings"]
        assert all(f.size_text().endswith("px²") for f in result.findings)
    scores = [i["score"] for i in results["items"]]
    assert min(scores[:5]) > scores[5]  # every bleed scores above the normal slice
    assert all(i["findings"] for i in results["items"][:5])


def test_detect_npy_maps(data, model_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    one = str(data["abnormal"] / "00.png")
    assert (
        main(["detect", one, "--model", str(model_path), "--out", str(out), "--map-format", "npy"])
        == 0
    )
    item = json.loads((out / "results.json").read_text())["items"][0]
    assert np.load(out / item["map"]).shape == (1, 96, 96)


def test_evaluate_and_calibrate(data, model_path: Path, tmp_path: Path, capsys) -> None:
    labelled = ["--normal", str(data["normal"]), "--abnormal", str(data["abnormal"])]
    assert main(["evaluate", *labelled, "--model", str(model_path), "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["normal"] == 5 and numbers["abnormal"] == 5
    assert numbers["auroc"] >= 0.9
    for key in ("average_precision", "accuracy", "sensitivity_at_95_specificity"):
        assert 0.0 <= numbers[key] <= 1.0
    recalibrated = tmp_path / "recalibrated.pt"
    argv = ["calibrate", "--model", str(model_path), *labelled, "--out", str(recalibrated)]
    assert main(argv) == 0
    assert main(["evaluate", *labelled, "--model", str(recalibrated), "--json"]) == 0
    after = json.loads(capsys.readouterr().out.split("\n", 2)[-1])
    assert after["accuracy"] >= numbers["accuracy"]
    assert load_model(recalibrated).metadata["calibration"]["method"] == "youden"


def test_calibrate_drops_the_calibrations_per_slice_spacing(
    data, model_path: Path, tmp_path: Path, capsys
) -> None:
    banded = tmp_path / "banded.pt"
    band = {"threshold": -1.0, "pixel_threshold": 0.0, "slice_mm": 2.0}
    save_model(load_model(model_path), banded, {SPACING_KEY: [band]})
    assert main(["calibrate", "--model", str(banded), "--normal", str(data["normal"])]) == 0
    assert "dropped 1 calibrations per slice spacing" in capsys.readouterr().out
    assert load_model(banded).metadata[SPACING_KEY] == []


def test_bad_inputs_give_one_line_errors(data, model_path: Path, tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    cases = [
        ["detect", str(tmp_path / "missing"), "--model", str(model_path), "--out", str(tmp_path)],
        ["detect", str(data["normal"]), "--model", str(junk), "--out", str(tmp_path / "o")],
        ["train", str(data["train"]), "--out", str(tmp_path / "m.pt"), "--device", "tpu"],
        [
            "evaluate",
            "--normal",
            str(tmp_path),
            "--abnormal",
            str(tmp_path),
            "--model",
            str(model_path),
        ],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("ctviewer: error:") and "\n" not in err, err


def test_bench_smoke(tmp_path: Path, capsys) -> None:
    torch.set_num_threads(1)
    arch = Architecture(in_channels=1, base_channels=4, depth=2, latent_channels=2)
    metadata = {
        "name": "untrained",
        "version": "0",
        "architecture": arch.to_dict(),
        "preprocessing": Preprocessing(size=32).to_dict(),
        "threshold": 1.0,
        "pixel_threshold": 1.0,
    }
    model = save_model(AnomalyModel(AutoEncoder(arch), metadata), tmp_path / "u.pt")
    assert main(["bench", "--slices", "3", "--size", "48", "--model", str(model), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["slices"] == 3 and figures["end_to_end_s"] > 0
    assert figures["inference_slices_per_s"] > 0 and figures["plain_forward_slices_per_s"] > 0
