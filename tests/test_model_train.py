"""train_model: progress, cancel, calibration on held-back normals, fine-tuning, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctviewer.errors import Cancelled, InputError
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.synthetic import crop_patches, paste_ground_glass_hu, paste_patch
from ctviewer.model.train import (
    Positive,
    TrainConfig,
    _batch,
    _positive_slices,
    recipe,
    train_model,
)
from ctviewer.pipeline import detect
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


def bright_spot(seed: int) -> tuple[Volume, tuple[int, ...]]:
    """A disc image with a bright blob, and the blob's box (z0, y0, x0, z1, y1, x1)."""
    volume = disc_image(seed)
    y, x = np.random.default_rng(seed).integers(18, 26, 2)
    volume.array[0, y - 4 : y + 4, x - 4 : x + 4] += 0.08
    return volume, (0, int(y - 4), int(x - 4), 1, int(y + 4), int(x + 4))


def test_positive_regions_map_to_model_input() -> None:
    volume, _ = bright_spot(0)
    pre = Preprocessing(kind="image", size=32, crop=False)  # 48 px → 32 px: a factor 2/3
    slices, where = _positive_slices([Positive(volume, [(0, 12, 6, 1, 24, 30)])], pre, 8, None)
    assert slices.shape == (1, 1, 32, 32) and where.shape == (1, 32, 32)
    ys, xs = np.nonzero(where[0])
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (8, 16, 4, 20)
    _, whole = _positive_slices([Positive(volume)], pre, 8, None)  # no box: the whole body
    assert whole[0].sum() > 4 * where[0].sum()


def test_outlier_exposure_raises_the_confirmed_anomalies_score(tmp_path) -> None:
    plain = {"noise_std": 0.0}  # a plain autoencoder, which reconstructs the faint spots too well
    base = train_model([disc_image(i) for i in range(6)], tiny_config(epochs=20, **plain))
    path = save_model(base, tmp_path / "base.pt")
    positives = [Positive(volume, [box]) for volume, box in map(bright_spot, range(50, 53))]
    unseen = [bright_spot(60 + i)[0] for i in range(3)]

    def tuned(weight: float) -> tuple[float, float]:
        config = tiny_config(
            epochs=10,
            learning_rate=3e-3,
            positive_weight=weight,
            positive_margin=10.0,
            **plain,
        )
        model = train_model(
            [disc_image(10 + i) for i in range(4)], config, init_from=path, positives=positives
        )
        assert model.metadata["training"]["positive_slices"] == 3
        seen = np.mean([detect(p.volume, model).score for p in positives])
        return float(seen), float(np.mean([detect(v, model).score for v in unseen]))

    (seen, new), (seen_off, new_off) = tuned(2.0), tuned(0.0)
    assert seen > 1.3 * seen_off and new > 1.3 * new_off  # also on spots it never saw


def test_positives_need_a_model_to_fine_tune() -> None:
    with pytest.raises(InputError, match="fine-tune"):
        train_model([disc_image(0)], tiny_config(), positives=[Positive(bright_spot(1)[0])])


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


def test_confirmed_anomalies_are_pasted_inside_the_organ() -> None:
    rng = np.random.default_rng(0)
    image = np.zeros((1, 32, 32), np.float32)
    organ = np.zeros((32, 32), bool)
    organ[8:24, 8:24] = True
    regions = np.zeros((2, 32, 32), bool)
    regions[0, 2:6, 3:8] = True  # a small finding: kept
    regions[1, :, :20] = True  # wider than half the slice: left out
    slices = np.ones((2, 1, 32, 32), np.float32)
    [(pixels, mask)] = crop_patches(slices, regions)
    assert pixels.shape == (1, 4, 5) and mask.all()
    for _ in range(20):
        out = paste_patch(image, organ, (pixels, mask), rng)
        ys, xs = np.nonzero(out[0] > 0.5)
        assert ys.size and organ[round(ys.mean()), round(xs.mean())]  # centred in the organ
    assert not image.any()  # the input is left alone


def test_training_batches_carry_pasted_anomalies_to_restore() -> None:
    data = np.full((4, 1, 32, 32), 0.5, np.float32)
    organ = np.ones((4, 32, 32), bool)
    patch = (np.ones((1, 3, 3), np.float32), np.ones((3, 3), bool))
    index = np.arange(4)
    rng = np.random.default_rng(0)
    for share, changed in ((1.0, 4), (0.0, 0)):
        config = tiny_config(positive_paste=share)
        clean, corrupt = _batch(data, organ, index, config, rng, [patch])
        assert (clean == 0.5).all()  # the target stays the normal slice
        assert sum(bool((c != 0.5).any()) for c in corrupt) == changed


def test_findings_seed_calibrates_a_seed_level_and_a_mass_threshold() -> None:
    model = train_model([disc_image(i) for i in range(6)], tiny_config(findings_seed=0.5))
    meta = model.metadata
    assert meta["seed_threshold"] == pytest.approx(0.5 * meta["pixel_threshold"])
    assert np.isfinite(meta["mass_threshold"]) and meta["mass_threshold"] >= 0
    plain = train_model([disc_image(i) for i in range(4)], tiny_config())
    assert "seed_threshold" not in plain.metadata and "mass_threshold" not in plain.metadata


CHEST_WINDOWS = ((40.0, 400.0), (-600.0, 1500.0))  # the default chest model's


def hu_chest_slice(size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2, s, s) windowed HU slice: soft-tissue body, a lung at -850 HU crossed by a 40 HU
    vessel; the lung mask and the vessel's pixels."""
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    hu = np.where(np.hypot(yy, xx) < 0.45, 40.0, -1000.0)
    lung = np.hypot(yy, xx) < 0.35
    vessel = lung & (np.abs(yy) < 0.02)
    hu[lung] = -850.0
    hu[vessel] = 40.0
    image = np.stack([np.clip((hu - (c - w / 2)) / w, 0, 1) for c, w in CHEST_WINDOWS])
    return image.astype(np.float32), lung, vessel


def test_hu_ground_glass_raises_aerated_lung_and_leaves_vessels() -> None:
    image, lung, vessel = hu_chest_slice()
    rng = np.random.default_rng(3)
    raised = np.zeros_like(lung)
    for _ in range(10):
        out = paste_ground_glass_hu(image, lung, rng, CHEST_WINDOWS)
        assert (out[:, ~lung] == image[:, ~lung]).all()  # nothing outside the lungs
        assert (out[:, vessel] == image[:, vessel]).all()  # denser than the haze: kept
        assert (out[0] == image[0]).all()  # -650..-350 HU is below the soft-tissue window
        rise_hu = (out[1] - image[1]) * CHEST_WINDOWS[1][1]
        assert rise_hu.min() >= 0 and rise_hu.max() <= 500 + 1e-3
        raised |= rise_hu > 100
    assert 0.05 < raised[lung].mean() < 0.9  # patches, not the whole lung


def test_batches_get_hu_ground_glass_only_with_the_models_windows() -> None:
    image, lung, _ = hu_chest_slice()
    data, organ = np.stack([image] * 4), np.stack([lung] * 4)
    config = tiny_config(synthetic=1.0, ground_glass_hu=1.0)
    index = np.arange(4)
    _, glass = _batch(data, organ, index, config, np.random.default_rng(0), (), CHEST_WINDOWS)
    rise = (glass.numpy() - data).max(axis=(2, 3))  # (slices, channels)
    assert (rise[:, 1] > 0.1).all() and (rise[:, 0] == 0).all()  # lung window only
    _, solid = _batch(data, organ, index, config, np.random.default_rng(0))  # no windows
    # bright lesions instead: organ median + 2.5-8 IQR, next to nothing on this uniform lung
    assert (solid.numpy() - data).max() < 0.05
