"""Checkpoints: weights + metadata round trip; anything that is not plain weights is refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ctviewer.errors import ModelError
from ctviewer.model.autoencoder import AnomalyModel, Architecture, AutoEncoder
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.preprocess import Preprocessing


def tiny_model() -> AnomalyModel:
    torch.manual_seed(0)
    arch = Architecture(in_channels=2, base_channels=4, depth=2, latent_channels=3)
    pre = Preprocessing(size=32, windows=((40.0, 400.0), (-600.0, 1500.0)))
    metadata = {
        "name": "tiny",
        "version": "v1",
        "architecture": arch.to_dict(),
        "preprocessing": pre.to_dict(),
        "threshold": 0.25,
        "pixel_threshold": 0.5,
        "training": {"volumes": 3},
    }
    return AnomalyModel(AutoEncoder(arch), metadata)


def test_round_trip_keeps_weights_and_metadata(tmp_path: Path) -> None:
    model = tiny_model()
    path = save_model(model, tmp_path / "m.pt", {"note": "hello"})
    loaded = load_model(path, device="cpu")
    assert loaded.info.name == "tiny" and loaded.info.version == "v1"
    assert loaded.info.threshold == 0.25 and loaded.info.device == "cpu"
    assert loaded.metadata["note"] == "hello"
    assert loaded.preprocessing == model.preprocessing
    x = np.random.default_rng(0).random((3, 2, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), atol=1e-6)


class _Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.target = str(marker)
    path = tmp_path / "evil.pt"
    torch.save({"format": "ctviewer-anomaly-model/1", "payload": exploit}, path)
    with pytest.raises(ModelError, match="refused") as info:
        load_model(path)
    assert not marker.exists()
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_plain_pickle_and_garbage_are_refused(tmp_path: Path) -> None:
    pickled = tmp_path / "plain.pkl"
    pickled.write_bytes(pickle.dumps({"format": "x", "obj": _Exploit}))
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a model")
    wrong = tmp_path / "wrong.pt"
    torch.save({"weights": torch.zeros(2)}, wrong)
    for path in (pickled, garbage, wrong, tmp_path / "missing.pt"):
        with pytest.raises(ModelError) as info:
            load_model(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unknown_device_is_a_model_error(tmp_path: Path) -> None:
    path = save_model(tiny_model(), tmp_path / "m.pt")
    with pytest.raises(ModelError, match="device"):
        load_model(path, device="tpu")


def test_refusal_message_is_clean_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    exploit = _Exploit()
    exploit.target = str(tmp_path / "pwned")
    torch.save({"format": "ctviewer-anomaly-model/1", "payload": exploit}, path)
    with pytest.raises(ModelError) as info:
        load_model(path)
    message = str(info.value)
    assert "\x1b" not in message and message.endswith(")") and "getattr" in message


@pytest.mark.parametrize("key", ["threshold", "pixel_threshold"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_threshold_is_refused(tmp_path: Path, key: str, value: float) -> None:
    model = tiny_model()
    path = save_model(model, tmp_path / "m.pt", {key: value})
    with pytest.raises(ModelError, match=key):
        load_model(path, device="cpu")


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    model = tiny_model()
    with torch.no_grad():
        next(model.net.parameters())[0] = float("nan")
    path = save_model(model, tmp_path / "m.pt")
    with pytest.raises(ModelError, match="NaN"):
        load_model(path, device="cpu")
