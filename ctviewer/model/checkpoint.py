"""Save and load models: weights plus JSON metadata, read with `torch.load(weights_only=True)`.

A checkpoint is a plain dict {"format", "metadata_json", "state_dict"}; nothing in it executes
on load. A pickle that carries code or arbitrary objects is refused with a ModelError.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import tempfile
import textwrap
from pathlib import Path

import torch

from ctviewer import paths
from ctviewer.errors import ModelError
from ctviewer.model.autoencoder import AnomalyModel, Architecture, build_network
from ctviewer.model.device import choose_device
from ctviewer.model.thresholds import SPACING_KEY, THRESHOLD_KEYS

FORMAT = "ctviewer-anomaly-model/1"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def refusal_reason(error: Exception) -> str:
    """A short, clean reason from torch's multi-paragraph, ANSI-coloured UnpicklingError."""
    text = ANSI_ESCAPE.sub("", str(error))
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return f"it would import {found.group(1)}, which can run code"
    return textwrap.shorten(" ".join(text.split()), 100, placeholder=" …") or "unsafe content"


def check_finite(state_dict: dict, metadata: dict) -> None:
    """ModelError when a weight or a threshold is NaN or infinite (every verdict would be void),
    in the main calibration or one made for a slice spacing."""
    for where, calibration in (("", metadata), *_per_spacing(metadata)):
        for key in THRESHOLD_KEYS:
            value = calibration.get(key)
            if value is not None and not math.isfinite(float(value)):
                raise ModelError(f"{where}{key} is {value}, not a finite number")
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelError(f"weight {name} holds NaN or infinite values")


def _per_spacing(metadata: dict) -> list[tuple[str, dict]]:
    """(label, calibration) of each calibration made for a slice spacing."""
    extra = metadata.get(SPACING_KEY) or []
    if not isinstance(extra, list) or not all(isinstance(c, dict) for c in extra):
        raise ModelError(f"{SPACING_KEY} is not a list of calibrations")
    return [(f"{SPACING_KEY}[{k}] ({c.get('slice_mm')} mm) ", c) for k, c in enumerate(extra)]


def save_model(model: AnomalyModel, path: str | Path, metadata: dict | None = None) -> Path:
    """Write `model` (its metadata updated with `metadata`) atomically to `path`."""
    path = Path(path)
    if metadata:
        model.metadata.update(metadata)
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    payload = {
        "format": FORMAT,
        "metadata_json": json.dumps(model.metadata, sort_keys=True),
        "state_dict": state,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_model(path: str | Path | None = None, device: str = "auto") -> AnomalyModel:
    """Load a checkpoint (the bundled default when `path` is None) onto `device`."""
    path = Path(path) if path is not None else paths.default_model_path()
    if not path.is_file():
        raise ModelError("model file not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = refusal_reason(error)
        raise ModelError(f"refused to load: not a plain weights file ({reason})", path) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise ModelError(f"cannot read model checkpoint ({type(error).__name__})", path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError("not a ctviewer model checkpoint", path)
    try:
        metadata = json.loads(payload["metadata_json"])
        arch = Architecture.from_dict(metadata["architecture"])
        check_finite(payload["state_dict"], metadata)
        net = build_network(arch, int(metadata.get("members", 1)))
        net.load_state_dict(payload["state_dict"])
        return AnomalyModel(net, metadata, choose_device(device))
    except ModelError as error:
        raise ModelError(str(error), path) from None
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ModelError(f"damaged model checkpoint ({type(error).__name__})", path) from None
