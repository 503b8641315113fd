"""Pick the torch device: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

from ctviewer.errors import ModelError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def choose_device(name: str = "auto") -> torch.device:
    """`auto` takes the fastest available device; naming one that is absent is a ModelError."""
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES:
        raise ModelError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ModelError(f"device {name!r} is not available on this machine")
    return torch.device(name)
