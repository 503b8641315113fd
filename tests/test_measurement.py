"""Length and ROI measurements against numpy on the same pixels."""

import numpy as np
import pytest

from ctviewer.measurement import Measurement, measure, roi_mask
from ctviewer.volume import Volume


def _volume(spacing=(2.0, 0.5, 0.8), known=True) -> Volume:
    rng = np.random.default_rng(0)
    array = rng.normal(40, 10, size=(3, 64, 80)).astype(np.float32)
    return Volume(array=array, spacing=spacing, spacing_known=known)


def test_length_uses_in_plane_spacing_and_pixels_without_it():
    m = measure(_volume(), Measurement("length", 1, ((10, 10), (13, 14))))
    assert m.values["length"] == pytest.approx(np.hypot(3 * 0.5, 4 * 0.8))
    m = measure(_volume(known=False), Measurement("length", 1, ((10, 10), (13, 14))))
    assert m.values["length"] == pytest.approx(5.0)


@pytest.mark.parametrize("kind", ["ellipse", "rectangle"])
def test_roi_statistics_match_numpy(kind):
    volume = _volume()
    m = measure(volume, Measurement(kind, 2, ((5, 6), (30, 41))))
    inside = roi_mask(kind, m.points_yx, volume.array.shape[1:])
    pixels = volume.array[2][inside].astype(np.float64)
    assert m.values["mean"] == pytest.approx(pixels.mean())
    assert m.values["sd"] == pytest.approx(pixels.std())
    assert m.values["area"] == pytest.approx(pixels.size * 0.5 * 0.8)
    assert m.values["max"] == pytest.approx(pixels.max())


def test_ellipse_is_inside_its_rectangle():
    ellipse = roi_mask("ellipse", ((0, 0), (20, 30)), (40, 40))
    rectangle = roi_mask("rectangle", ((0, 0), (20, 30)), (40, 40))
    assert ellipse.sum() < rectangle.sum()
    assert not (ellipse & ~rectangle).any()


def test_round_trip_and_bad_input():
    m = measure(_volume(), Measurement("rectangle", 0, ((1, 1), (4, 4)), label="liver"))
    again = Measurement.from_json(m.to_json())
    assert again == m
    with pytest.raises(ValueError, match="unknown measurement kind"):
        Measurement("angle", 0, ((0, 0), (1, 1)))
    with pytest.raises(ValueError, match="outside the series"):
        measure(_volume(), Measurement("length", 9, ((0, 0), (1, 1))))
