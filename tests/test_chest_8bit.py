"""8-bit chest slices: lung fields found in the image, soft-tissue windows told apart, ground-glass
pastes, and the chest-8bit recipe end to end on synthetic images."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ctviewer.model.preprocess import (
    Preprocessing,
    black_share,
    lung_mask_image,
    prepare_volume,
    soft_tissue_window,
)
from ctviewer.model.synthetic import paste_ground_glass
from ctviewer.model.train import _batch, recipe, train_model
from ctviewer.volume import Volume


def chest_slice(lung: float = 0.3, seed: int = 0, size: int = 128) -> tuple[np.ndarray, dict]:
    """A black background, a bright chest (0.9), two darker lung fields (`lung`, textured) and a
    bright nodule inside the left one; the masks of each part."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    chest = ((yy - 0.5) / 0.38) ** 2 + ((xx - 0.5) / 0.46) ** 2 < 1
    lungs = [((yy - 0.5) / 0.27) ** 2 + ((xx - c) / 0.15) ** 2 < 1 for c in (0.3, 0.7)]
    nodule = np.hypot(yy - 0.5, xx - 0.3) < 0.04
    image = np.where(chest, 0.9, 0.0)
    for field in lungs:
        image[field] = lung + (rng.normal(0, 0.03, field.sum()) if lung > 0 else 0)
    image[nodule] = 0.9
    parts = {"chest": chest, "lungs": lungs[0] | lungs[1], "nodule": nodule}
    return image.astype(np.float32), parts


def test_lung_fields_are_found_with_what_they_enclose() -> None:
    image, parts = chest_slice()
    mask = lung_mask_image(image, parts["chest"])
    assert mask[parts["lungs"]].mean() > 0.9
    assert mask[parts["nodule"]].all()  # enclosed, so kept
    assert not mask[parts["chest"] & ~parts["lungs"]].mean() > 0.05  # not the mediastinum
    assert not mask[~parts["chest"]].any()
    flat = np.full_like(image, 0.5)
    assert not lung_mask_image(flat, parts["chest"]).any()


def test_soft_tissue_window_is_told_from_lung_window() -> None:
    lung_window, _ = chest_slice(lung=0.3)
    soft_window, _ = chest_slice(lung=0.0)
    assert black_share(lung_window) < 0.05 < 0.2 < black_share(soft_window)
    assert not soft_tissue_window(lung_window) and soft_tissue_window(soft_window)
    assert black_share(np.zeros((40, 40), np.float32)) == 0.0  # nothing bright: no chest


def test_ground_glass_is_added_inside_the_lungs_only() -> None:
    image, parts = chest_slice()
    organ = parts["lungs"]
    rng = np.random.default_rng(1)
    changed = np.zeros_like(organ)
    for _ in range(10):
        out = paste_ground_glass(image[None], organ, rng)
        near = ndimage.binary_dilation(organ, iterations=6)  # soft edges spill a little
        assert (np.abs(out[0] - image)[~near] < 0.02).all()
        changed |= out[0] > image + 0.05
    assert changed[organ].mean() > 0.05  # raised lung: hazy patches
    assert (paste_ground_glass(image[None], np.zeros_like(organ), rng) == image).all()


def test_batches_get_ground_glass_when_asked() -> None:
    image, parts = chest_slice()
    data = np.stack([image[None]] * 3)
    organ = np.stack([parts["lungs"]] * 3)
    config = recipe("chest-8bit")
    clean, corrupt = _batch(data, organ, np.arange(3), config, np.random.default_rng(0))
    assert torch.equal(clean, torch.from_numpy(data))
    config.synthetic = 1.0
    _, corrupt = _batch(data, organ, np.arange(3), config, np.random.default_rng(0))
    assert all(bool((c != d).any()) for c, d in zip(corrupt.numpy(), data, strict=True))


def test_chest_8bit_recipe_trains_and_scores_inside_the_lungs() -> None:
    torch.set_num_threads(1)
    volumes = [
        Volume(array=chest_slice(seed=i)[0][None], spacing=(1, 1, 1), is_hu=False) for i in range(6)
    ]
    config = recipe("chest-8bit")
    assert config.preprocessing == Preprocessing(
        kind="image", size=64, organ="lungs", normalize="organ"
    )
    config.epochs, config.device, config.base_channels, config.latent_channels = 2, "cpu", 4, 4
    model = train_model(volumes, config)
    assert list(model.metadata["fits"]["body_parts"]) == ["chest"]
    prepared = prepare_volume(volumes[0], model.preprocessing)
    share = prepared.body.mean()
    assert 0.1 < share < 0.45  # the two lung fields, not the chest
    assert np.isfinite(model.threshold)


def test_soft_tissue_window_slice_is_not_assessed_by_a_lung_model() -> None:
    from ctviewer.pipeline import detect

    torch.set_num_threads(1)
    volumes = [
        Volume(array=chest_slice(seed=i)[0][None], spacing=(1, 1, 1), is_hu=False) for i in range(4)
    ]
    config = recipe("chest-8bit")
    config.epochs, config.device, config.base_channels, config.latent_channels = 1, "cpu", 4, 4
    model = train_model(volumes, config)
    soft = Volume(array=chest_slice(lung=0.0)[0][None], spacing=(1, 1, 1), is_hu=False)
    result = detect(soft, model)
    assert not result.assessed and "soft-tissue" in result.not_assessed_reason
    lung = Volume(array=chest_slice(seed=9)[0][None], spacing=(1, 1, 1), is_hu=False)
    assert "soft-tissue" not in (detect(lung, model).not_assessed_reason or "")


def test_trimming_leaves_out_the_normals_that_deviate_most() -> None:
    from ctviewer.model.train import trimmed

    def with_patch(seed: int, bright: bool) -> Volume:
        image, parts = chest_slice(seed=seed)
        if bright:  # consolidation-like patch in the right lung
            yy, xx = np.mgrid[:128, :128] / 128
            image[(np.hypot(yy - 0.45, xx - 0.7) < 0.08) & parts["lungs"]] = 0.8
        return Volume(array=image[None], spacing=(1, 1, 1), is_hu=False)

    volumes = [with_patch(i, bright=i in (1, 4)) for i in range(6)]
    pre = recipe("chest-8bit").preprocessing
    ids = {id(v): i for i, v in enumerate(volumes)}
    assert [ids[id(v)] for v in trimmed(volumes, pre, 5.0, 2 / 6)] == [0, 2, 3, 5]
    assert [ids[id(v)] for v in trimmed(volumes, pre, 5.0, 0.0)] == list(range(6))
