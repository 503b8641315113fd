"""The convolutional autoencoder: a ConvNet encoder, a bottleneck, a DeConvNet decoder.

Slice-wise 2D; 2.5D context (neighbouring slices) and several HU windows arrive as input channels.
Each encoder level halves the resolution with a stride-2 convolution; the bottleneck squeezes the
code to `latent_channels` (its width is what keeps the model from copying anomalies through);
each decoder level doubles it back with a transposed convolution.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ctviewer.anomaly.maps import Scoring
from ctviewer.model.catalog import Fits
from ctviewer.model.preprocess import Preprocessing
from ctviewer.model.thresholds import Thresholds, thresholds_for, volume_slice_mm
from ctviewer.volume import ModelInfo, Volume


@dataclass(frozen=True)
class Architecture:
    """Hyper-parameters that fix the shape of the weights (stored in every checkpoint)."""

    in_channels: int = 1
    base_channels: int = 32
    depth: int = 4
    latent_channels: int = 16
    linear_output: int = 0  # 1: no sigmoid (inputs may exceed 1 after organ normalisation)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        return cls(**{k: int(data[k]) for k in cls.__dataclass_fields__ if k in data})


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


class AutoEncoder(nn.Module):
    """Input and output (n, in_channels, s, s) in [0, 1]; s must be divisible by 2**depth."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        widths = [min(arch.base_channels * 2**i, 256) for i in range(arch.depth)]
        encoder, cin = [], arch.in_channels
        for width in widths:
            encoder.append(_down(cin, width))
            cin = width
        self.encoder = nn.Sequential(*encoder)
        self.bottleneck = nn.Sequential(
            nn.Conv2d(cin, arch.latent_channels, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(arch.latent_channels, cin, 1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        decoder = []
        for width in reversed([arch.base_channels, *widths[:-1]]):
            decoder.append(_up(cin, width))
            cin = width
        self.decoder = nn.Sequential(*decoder)
        self.head = nn.Conv2d(cin, arch.in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.decoder(self.bottleneck(self.encoder(x))))
        return out if self.arch.linear_output else torch.sigmoid(out)


class Ensemble(nn.Module):
    """Several autoencoders of one architecture; the reconstruction is their mean."""

    def __init__(self, members: list[AutoEncoder]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.arch = members[0].arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(0)


def build_network(arch: Architecture, members: int = 1) -> nn.Module:
    """One autoencoder, or an ensemble of `members` of them."""
    if members <= 1:
        return AutoEncoder(arch)
    return Ensemble([AutoEncoder(arch) for _ in range(members)])


def fold_batch_norm(net: nn.Module) -> nn.Module:
    """An inference copy of `net` with each batch norm folded into the convolution before it
    (eval statistics): the same function up to float rounding, about 15 % less CPU time."""
    folded = copy.deepcopy(net).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module._modules.items())
        for (name, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if isinstance(conv, nn.Conv2d | nn.ConvTranspose2d) and isinstance(bn, nn.BatchNorm2d):
                transpose = isinstance(conv, nn.ConvTranspose2d)
                module._modules[name] = fuse_conv_bn_eval(conv, bn, transpose=transpose)
                module._modules[bn_name] = nn.Identity()
    return folded


def _weights_version(net: nn.Module) -> tuple:
    """Changes whenever a weight or buffer of `net` is changed in place (an optimiser step, a
    state dict loaded) or moved or cast: what an inference copy of it is kept by."""
    tensors = [*net.parameters(), *net.buffers()]
    places = tuple(sorted({(str(t.device), str(t.dtype)) for t in tensors}))
    return (id(net), sum(t._version for t in tensors), places)


class AnomalyModel:
    """A trained autoencoder with everything needed to use it: preprocessing, scoring, thresholds.

    `metadata` is the JSON-able dict stored in the checkpoint: name, version, architecture,
    preprocessing, scoring, threshold (series score), pixel_threshold (map → findings),
    min_size_mm3 / min_area_mm2, target_specificity and a training-data summary (counts only);
    optionally more calibrations per slice spacing (`model.thresholds`).
    """

    def __init__(
        self, net: AutoEncoder, metadata: dict, device: torch.device | str = "cpu"
    ) -> None:
        self.net = net.eval()
        self.metadata = metadata
        self.preprocessing = Preprocessing.from_dict(metadata["preprocessing"])
        self.scoring = Scoring.from_dict(metadata.get("scoring", {}))
        self.device = torch.device("cpu")
        self._inference: tuple[tuple, nn.Module] | None = None  # (weights version, copy)
        self.to(device)

    @property
    def threshold(self) -> float:
        """The series threshold of the main calibration."""
        return float(self.metadata.get("threshold", 0.0))

    def thresholds(self, volume: Volume) -> Thresholds:
        """The calibration `volume` is judged by: the one nearest its slice spacing."""
        return thresholds_for(self.metadata, volume_slice_mm(volume))

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=str(self.metadata.get("name", "model")),
            version=str(self.metadata.get("version", "")),
            threshold=self.threshold,
            device=self.device.type,
            body_part=", ".join(Fits.from_metadata(self.metadata).body_parts),
        )

    def to(self, device: torch.device | str) -> AnomalyModel:
        self.device = torch.device(device)
        # channels-last is faster for these convolutions on CPU (measured) and on CUDA
        self.net.to(self.device, memory_format=torch.channels_last)
        return self

    def inference_net(self) -> nn.Module:
        """`net` with its batch norms folded (`fold_batch_norm`), rebuilt whenever its weights
        change (fine-tuning updates `net` itself)."""
        self.net.eval()
        version = _weights_version(self.net)
        if self._inference is None or self._inference[0] != version:
            folded = fold_batch_norm(self.net).to(memory_format=torch.channels_last)
            self._inference = (version, folded)
        return self._inference[1]

    def reconstruct(self, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Reconstructions (n, c, s, s) of model inputs (n, c, s, s), batched, without autograd.
        Batches of 16 channels-last slices measured fastest on a 2-core CPU (they fit the cache)."""
        net = self.inference_net()
        out = np.empty_like(images, dtype=np.float32)
        cuda = self.device.type == "cuda"
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=cuda):
            for i in range(0, images.shape[0], batch_size):
                x = torch.from_numpy(images[i : i + batch_size]).to(self.device)
                x = x.contiguous(memory_format=torch.channels_last)
                out[i : i + batch_size] = net(x).float().cpu().numpy()
        return out
