"""ViewerModel without Qt: open → analyse → select → decide → measure, with its events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from ctviewer.feedback.store import FeedbackStore
from ctviewer.io import discover, load_series
from ctviewer.measurement import Measurement, roi_mask
from ctviewer.viewer import ViewerModel
from ctviewer.viewer.model import peak_voxel


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phantom with a nodule, as a NIfTI file, and a bright square to measure on slice 5."""
    from ctviewer.synth.phantom import Lesion, make_phantom

    phantom = make_phantom((16, 64, 64), lesions=[Lesion("nodule", radius_mm=9.0, seed=1)], seed=5)
    array = phantom.volume.array.copy()
    array[5, 10:20, 30:40] = 500.0
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in phantom.volume.spacing[::-1]))
    path = tmp_path_factory.mktemp("study") / "phantom.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def make_tiny_model(study: Path, folder: Path) -> Path:
    """A small untrained model whose pixel threshold is set so that `study` has findings and
    whose series threshold flags every series (the viewer is under test, not the model)."""
    import torch

    from ctviewer.io import load_volume
    from ctviewer.model.autoencoder import AnomalyModel, Architecture, AutoEncoder
    from ctviewer.model.checkpoint import save_model
    from ctviewer.model.preprocess import Preprocessing
    from ctviewer.pipeline import detect

    torch.manual_seed(0)
    arch = Architecture(in_channels=1, base_channels=4, depth=2, latent_channels=4)
    metadata = {
        "name": "tiny-test", "version": "t1", "architecture": arch.to_dict(),
        "preprocessing": Preprocessing(size=64).to_dict(), "threshold": 1e9,
        "pixel_threshold": 1e9, "min_size_mm3": 1.0,
    }  # fmt: skip
    model = AnomalyModel(AutoEncoder(arch), metadata, "cpu")
    amap = detect(load_volume(study), model).anomaly_map
    model.metadata["pixel_threshold"] = float(np.quantile(amap[amap > 0], 0.995))
    model.metadata["threshold"] = 0.0
    path = folder / "tiny.pt"
    save_model(model, path)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, study: Path) -> Path:
    return make_tiny_model(study, tmp_path_factory.mktemp("model"))


class Recorder:
    """Every event the model emits, by name, with its values."""

    def __init__(self, model: ViewerModel) -> None:
        self.seen: list[tuple[str, tuple]] = []
        for name, event in vars(model.events).items():
            event.connect(lambda *args, n=name: self.seen.append((n, args)))

    def names(self) -> list[str]:
        names = [n for n, _ in self.seen]
        self.seen.clear()
        return names


def test_open_analyse_select_decide_measure(study: Path, tiny_model: Path) -> None:
    model = ViewerModel(tiny_model, device="cpu")
    events = Recorder(model)
    series = model.set_study(discover(study))
    volume = load_series(series)
    model.set_volume(volume)
    assert events.names() == ["study", "volume", "result", "measurements"]
    assert model.position == (8, 32, 32) and model.window[1] > 0 and model.result is None

    # analyse (what a worker runs), then show it
    result = model.analyse()
    assert result.findings and result.item_key == volume.item_key
    other = load_series(series)
    other.source = "elsewhere"
    assert not model.set_result(model.analyse(other))  # another series' result is ignored
    assert model.set_result(result) and model.result is result
    assert events.names() == ["result", "decisions"]

    # selecting a finding moves all three planes to its peak
    finding = result.findings[-1]
    model.select_finding(finding)
    z, y, x = model.position
    assert result.labels[z, y, x] == finding.id
    inside = result.anomaly_map[result.labels == finding.id]
    assert result.anomaly_map[z, y, x] == inside.max()
    assert model.position == peak_voxel(result, finding)
    assert events.names() == ["position", "selection"]

    # decide: in the store at once, and told to listeners
    model.decide("reject", finding, "Dr Model")
    assert model.decisions()[finding.id].decision == "reject"
    assert FeedbackStore().decisions(volume.item_key)[0].reviewer == "Dr Model"
    assert events.seen[-1][0] == "decisions" and finding.id in events.seen[-1][1][0]

    # measure: a 10-pixel-wide square of 500 HU; the length in mm from the pixel spacing
    sy, sx = volume.spacing[1:]
    length = model.add_measurement(Measurement("length", 5, ((12, 30), (12, 40))))
    assert length.values["length"] == pytest.approx(10 * sx)
    roi = model.add_measurement(Measurement("rectangle", 5, ((10, 30), (19, 39))))
    assert roi.values["mean"] == pytest.approx(500.0) and roi.values["pixels"] == 100
    assert roi.values["area"] == pytest.approx(100 * sy * sx)
    model.update_measurement(length.id, ((12, 30), (18, 38)))
    assert length.values["length"] == pytest.approx(np.hypot(6 * sy, 8 * sx))
    wide = model.add_measurement(Measurement("ellipse", 5, ((5, 25), (25, 45))))
    pixels = volume.array[5][roi_mask("ellipse", wide.points_yx, volume.shape[1:])]
    model.window_from_roi(wide.id)  # from the lowest to the highest value inside
    assert model.window == pytest.approx(((pixels.min() + pixels.max()) / 2, np.ptp(pixels)))
    with pytest.raises(ValueError):
        model.window_from_roi(length.id)
    model.remove_measurement(wide.id)
    model.remove_measurement(roi.id)

    # a new session of the same series finds the measurements it kept
    again = ViewerModel(tiny_model, device="cpu")
    again.set_volume(load_series(series))
    assert [(m.id, m.points_yx) for m in again.measurements] == [(length.id, length.points_yx)]


def test_navigation_clips_and_cine_wraps(study: Path) -> None:
    model = ViewerModel()
    model.set_volume(load_series(discover(study).all_series()[0]))
    events = Recorder(model)
    model.set_index("axial", 99)
    assert model.position[0] == 15
    model.step("axial", 1)
    assert model.position[0] == 15 and events.names() == ["position"]  # no change, no event
    model.step("axial", 1, wrap=True)
    assert model.position[0] == 0
    model.set_index("sagittal", 3)
    assert model.position == (0, 32, 3) and model.index_of("sagittal") == 3
    model.set_window((10.0, -5.0))
    assert model.window == (10.0, 1.0)
    model.reset_window()
    assert model.window[1] > 1.0
    model.close()
    assert model.volume is None and model.measurements == []


def test_the_viewer_package_imports_neither_qt_nor_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ctviewer.viewer, ctviewer.viewer.corner_text, ctviewer.viewer.oblique, "
        "ctviewer.viewer.bindings; "
        "print([m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'torch'))])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
