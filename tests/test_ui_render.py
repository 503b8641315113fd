"""Window presets file and the Qt-free view compositing (render_view) used by snapshot/report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctviewer.errors import InputError
from ctviewer.presets import default_window, get_preset, load_presets, presets_path
from ctviewer.render import (
    OUTLINE_RGB,
    colormap_lut,
    orientation_letters,
    outline,
    pixel_of,
    plane,
    plane_spacing,
    render_view,
    voxel_of,
    window_to_uint8,
)
from ctviewer.volume import Finding, ModelInfo, Result, Volume

EXPECTED = {  # name: (width, center) as the issue lists them
    "lung": (1500, -600),
    "mediastinum": (400, 40),
    "bone": (1800, 400),
    "brain": (80, 40),
    "abdomen": (400, 50),
    "liver": (150, 30),
}


def test_presets_file_has_the_radiology_presets_with_unique_keys() -> None:
    presets = {p.name: p for p in load_presets()}
    assert {name: (p.width, p.center) for name, p in presets.items()} == EXPECTED
    keys = [p.key for p in presets.values()]
    assert len(set(keys)) == len(keys) and all(k.isdigit() for k in keys)
    assert get_preset("LUNG").window == (-600, 1500)


def test_unknown_preset_and_broken_file_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="unknown window preset 'spine'.*lung"):
        get_preset("spine")
    bad = tmp_path / "presets.json"
    bad.write_text(json.dumps({"presets": [{"name": "x", "center": 0}]}))
    with pytest.raises(InputError, match=str(bad)):
        load_presets(bad)
    assert presets_path().is_file()


def _volume(shape=(6, 40, 30), spacing=(2.5, 0.5, 0.5), window=None) -> Volume:
    rng = np.random.default_rng(0)
    array = rng.normal(0, 20, shape).astype(np.float32) - 1000
    array[:, 10:30, 5:25] = 40 + rng.normal(0, 5, (shape[0], 20, 20))
    return Volume(array=array, spacing=spacing, window=window)


def _result(volume: Volume) -> Result:
    amap = np.zeros(volume.shape, np.float32)
    labels = np.zeros(volume.shape, np.int32)
    amap[2:4, 15:21, 10:16] = 1.0
    labels[2:4, 15:21, 10:16] = 1
    finding = Finding(1, 2, 3, (2, 15, 10, 4, 21, 16), (0, 0, 0), 72, 9.0, None, 1.0, 1.0)
    return Result("v", None, ModelInfo("m", "1", 0.5), 0.9, 0.5, True, np.zeros(6), amap, labels,
                  [finding])  # fmt: skip


def test_default_window_uses_the_file_window_else_a_percentile_fit() -> None:
    assert default_window(_volume(window=(40.0, 400.0))) == (40.0, 400.0)
    center, width = default_window(_volume())
    assert -1100 < center - width / 2 < -1000 and 40 < center + width / 2 < 80


def test_planes_keep_geometry_and_put_the_head_up() -> None:
    volume = _volume()
    volume.array[0] = 111  # slice 0 is inferior: LPS direction identity → z points superior
    coronal = plane(volume, volume.array, "coronal", 5)
    assert coronal.shape == (6, 30) and (coronal[-1] == 111).all()
    assert plane_spacing(volume, "coronal") == (2.5, 0.5)
    assert plane(volume, volume.array, "sagittal", 3).shape == (6, 40)


def test_window_lut_and_outline() -> None:
    assert window_to_uint8(np.array([-100.0, 40.0, 300.0]), (40, 200)).tolist() == [0, 127, 255]
    lut = colormap_lut("hot")
    assert lut.shape == (256, 4) and lut[0, 3] == 0 and lut[-1, 3] == 255
    labels = np.zeros((7, 7), np.int32)
    labels[2:5, 2:5] = 3
    edge = outline(labels)
    assert edge.sum() == 8 and not edge[3, 3]
    with pytest.raises(InputError):
        colormap_lut("rainbow")


def test_render_view_draws_overlay_and_outline_only_where_asked() -> None:
    volume = _volume(window=(40.0, 400.0))
    result = _result(volume)
    plain = render_view(volume, None, 2)
    shown = render_view(volume, result, 2, overlay=True)
    hidden = render_view(volume, result, 2, overlay=False)
    assert plain.shape == (40, 30, 4) and plain.dtype == np.uint8
    np.testing.assert_array_equal(plain, hidden)
    changed = np.any(shown != plain, axis=2)
    assert changed[15:21, 10:16].any() and not changed[:10].any()
    assert tuple(shown[15, 12, :3]) == OUTLINE_RGB  # outline colour on the region edge
    assert render_view(volume, result).shape == plain.shape  # defaults to the finding's slice
    coronal = render_view(volume, result, axis="coronal")
    assert coronal.shape == (30, 30, 4)  # 6 slices × 2.5 mm resampled to 0.5 mm rows


def test_orientation_letters_follow_the_patient_axes() -> None:
    volume = _volume()  # identity direction: x → L, y → P, z → S (LPS)
    assert orientation_letters(volume, "axial") == {
        "right": "L", "left": "R", "bottom": "P", "top": "A"
    }  # fmt: skip
    assert orientation_letters(volume, "coronal")["top"] == "S"
    flipped = _volume()
    flipped.direction = np.diag([1.0, 1.0, -1.0])  # slices stored head first
    assert orientation_letters(flipped, "sagittal") == {
        "right": "P", "left": "A", "bottom": "I", "top": "S"
    }  # fmt: skip


def test_voxel_and_pixel_of_a_plane_are_inverse() -> None:
    for direction in (np.eye(3), np.diag([1.0, 1.0, -1.0])):
        volume = _volume()
        volume.direction = direction
        for axis, index in (("axial", 4), ("coronal", 17), ("sagittal", 9)):
            voxel = voxel_of(volume, axis, index, 2, 5)
            assert pixel_of(volume, axis, voxel) == (2, 5)
            assert plane(volume, volume.array, axis, index)[2, 5] == volume.array[voxel]
