"""train_model: progress, cancel, calibration on held-back normals, fine-tuning, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctviewer.errors import Cancelled, InputError
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.train import TrainConfig, recipe, train_model
from ctviewer.progress import new_cancel_flag
from ctviewer.volume import Volume


def disc_image(seed: int, size: int = 48) -> Volume:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    image = np.where(np.hypot(yy, xx) < 0.4, 0.5, 0.0) + rng.normal(0, 0.02, (size, size))
    return Volume(array=image[None].astype(np.float32), spacing=(1, 1, 1), is_hu=False)


def tiny_config(**changes) -> TrainConfig:
    torch.set_num_threads(1)
    config = TrainConfig(
        epochs=2,
        batch_size=4,
        preprocessing=Preprocessing(kind="image", size=32),
        base_channels=4,
        depth=2,
        latent_channels=2,
        device="cpu",
    )
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def test_training_reports_progress_and_calibrates_on_held_back() -> None:
    seen: list[tuple[float, str]] = []
    model = train_model(
        [disc_image(i) for i in range(10)], tiny_config(), progress=lambda f, m: seen.append((f, m))
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    training = model.metadata["training"]
    assert (training["volumes"], training["held_back"]) == (8, 2)
    assert model.metadata["calibration"]["normals"] == 2
    assert model.metadata["target_specificity"] == 0.95
    assert np.isfinite(model.threshold) and np.isfinite(model.metadata["pixel_threshold"])
    assert model.info.version and model.info.name == "ctviewer-ae"


def test_training_with_synthetic_lesions_and_organ_normalisation() -> None:
    pre = Preprocessing(kind="image", size=32, organ="inner", normalize="organ")
    model = train_model(
        [disc_image(i) for i in range(4)],
        tiny_config(preprocessing=pre, synthetic=1.0, linear_output=True),
    )
    assert model.preprocessing.normalize == "organ"
    assert model.net.arch.linear_output == 1


def test_cancel_stops_training() -> None:
    flag = new_cancel_flag()

    def progress(fraction: float, message: str) -> None:
        if "epoch" in message:
            flag.set()

    with pytest.raises(Cancelled):
        train_model(
            [disc_image(i) for i in range(4)], tiny_config(), progress=progress, cancel=flag
        )


def test_fine_tuning_keeps_architecture_and_records_origin(tmp_path) -> None:
    base = train_model([disc_image(i) for i in range(4)], tiny_config())
    path = save_model(base, tmp_path / "base.pt")
    tuned = train_model(
        [disc_image(10 + i) for i in range(3)],
        tiny_config(epochs=1, base_channels=16),  # architecture settings are ignored when tuning
        init_from=path,
        extra_normals=[disc_image(20)],
    )
    assert tuned.net.arch == base.net.arch
    assert tuned.metadata["fine_tuned_from"] == base.info.version
    assert tuned.info.version != base.info.version
    assert tuned.metadata["training"]["volumes"] + tuned.metadata["training"]["held_back"] == 4


def test_bad_training_inputs() -> None:
    ct = Volume(array=np.zeros((2, 32, 32), np.float32), spacing=(1, 1, 1))
    with pytest.raises(InputError, match="mix"):
        train_model([ct, disc_image(0)], tiny_config())
    with pytest.raises(InputError, match="no training images"):
        train_model([], tiny_config())
    with pytest.raises(InputError, match="recipe"):
        recipe("nonsense")


def test_ensemble_round_trip(tmp_path) -> None:
    model = train_model([disc_image(i) for i in range(3)], tiny_config(epochs=1, members=2))
    assert model.metadata["members"] == 2
    loaded = load_model(save_model(model, tmp_path / "ensemble.pt"))
    x = np.random.default_rng(0).random((2, 1, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), atol=1e-6)
