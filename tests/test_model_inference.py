"""The inference copy of a network (batch norms folded): the same reconstructions, and rebuilt
when the network's weights change."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ctviewer.model.autoencoder import AnomalyModel, Architecture, AutoEncoder, fold_batch_norm
from ctviewer.model.preprocess import Preprocessing


def _trained_looking(seed: int = 0) -> AutoEncoder:
    """An autoencoder whose batch norms hold non-trivial running statistics and affine terms."""
    torch.manual_seed(seed)
    net = AutoEncoder(Architecture(in_channels=2, base_channels=8, depth=2, latent_channels=4))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return net.eval()


def _model(net: AutoEncoder) -> AnomalyModel:
    meta = {
        "preprocessing": Preprocessing(size=32, windows=((40.0, 400.0), (-600.0, 1500.0))).to_dict()
    }
    return AnomalyModel(net, meta)


def test_folded_network_has_no_batch_norm_and_reconstructs_the_same() -> None:
    net = _trained_looking()
    folded = fold_batch_norm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # the original is kept
    x = torch.rand(4, 2, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(folded(x), net(x), atol=1e-5)


def test_reconstruct_follows_the_network_when_its_weights_change() -> None:
    model = _model(_trained_looking())
    images = np.random.default_rng(0).random((3, 2, 32, 32), dtype=np.float32)
    before = model.reconstruct(images)
    with torch.no_grad():  # what a fine-tuning step does: the weights change in place
        for p in model.net.parameters():
            p.mul_(1.3)
    after = model.reconstruct(images)
    with torch.inference_mode():
        plain = model.net(torch.from_numpy(images)).numpy()
    assert not np.allclose(before, after, atol=1e-3)
    assert np.allclose(after, plain, atol=1e-5)
