"""Anomaly map → findings: components, size filter, ordering by peak, measurements in mm."""

from __future__ import annotations

import numpy as np
import pytest

from ctviewer.anomaly.maps import Scoring, anomaly_map, residual, score_mask, slice_scores
from ctviewer.anomaly.segment import label_dtype, region_stats, segment
from ctviewer.errors import ModelError
from ctviewer.volume import Volume


def test_components_are_measured_and_numbered_by_peak() -> None:
    volume = Volume(
        array=np.zeros((6, 20, 20), np.float32), spacing=(2.0, 0.5, 0.5), origin=(10, 20, 30)
    )
    heat = np.zeros(volume.shape, np.float32)
    heat[1:3, 2:6, 2:6] = 0.5  # 32 voxels, weaker
    heat[2, 4, 4] = 0.6
    heat[3:6, 10:14, 12:18] = 0.9  # 72 voxels, stronger
    heat[0, 18, 18] = 0.95  # 1 voxel: below the minimum size
    labels, findings = segment(heat, volume, threshold=0.3, min_size_mm3=2.0)
    assert [f.id for f in findings] == [1, 2]
    strong, weak = findings
    assert (strong.voxels, weak.voxels) == (72, 32)
    assert strong.bbox == (3, 10, 12, 6, 14, 18) and (strong.slice_start, strong.slice_end) == (
        3,
        5,
    )
    assert strong.size_mm3 == pytest.approx(72 * 0.5) and strong.area_mm2 is None
    assert weak.peak == pytest.approx(0.6) and weak.mean == pytest.approx((31 * 0.5 + 0.6) / 32)
    # centre voxel (z, y, x) = (4, 11.5, 14.5); origin is LPS (x, y, z) = (10, 20, 30)
    assert strong.centroid_mm == pytest.approx((10 + 14.5 * 0.5, 20 + 11.5 * 0.5, 30 + 4 * 2.0))
    assert (labels == 1).sum() == 72 and (labels == 2).sum() == 32 and labels[0, 18, 18] == 0


def test_single_image_is_measured_in_mm2() -> None:
    volume = Volume(array=np.zeros((1, 10, 10), np.float32), spacing=(1.0, 0.8, 0.8), is_hu=False)
    heat = np.zeros(volume.shape, np.float32)
    heat[0, 2:7, 2:7] = 1.0
    _, findings = segment(heat, volume, threshold=0.5, min_area_mm2=5.0)
    assert len(findings) == 1
    assert findings[0].area_mm2 == pytest.approx(25 * 0.64) and findings[0].size_mm3 is None
    assert segment(heat, volume, threshold=1.0)[1] == []


def test_map_is_masked_filtered_and_scored() -> None:
    scoring = Scoring(erode_px=1, median=3, sigma=0.0, residual="positive", percent=10.0)
    images = np.full((1, 1, 16, 16), 0.5, np.float32)
    images[0, 0, 6:10, 6:10] = 0.9  # a bright block the reconstruction lacks
    images[0, 0, 0, 0] = 1.0  # a bright speck outside the body
    recon = np.full_like(images, 0.5)
    body = np.zeros((1, 16, 16), bool)
    body[0, 2:14, 2:14] = True
    mask = score_mask(body, scoring)
    heat = anomaly_map(residual(images, recon, scoring), mask, scoring)
    assert heat[0, 0, 0] == 0.0 and heat[0, 8, 8] == pytest.approx(0.4)
    assert heat[0, 2, 2] == 0.0  # eroded edge
    # top 10 % of the 100 mask pixels: all inside the block (16 pixels at 0.4)
    assert slice_scores(heat, mask, scoring)[0] == pytest.approx(0.4)
    darker = residual(recon, images, scoring)  # positive residual ignores darker-than-expected
    assert darker.max() == 0.0


def test_labels_are_the_kept_components_renumbered_by_peak() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    volume = Volume(array=np.zeros((8, 40, 40), np.float32), spacing=(1.0, 1.0, 1.0))
    heat = ndimage.gaussian_filter(rng.random(volume.shape).astype(np.float32), 1.5)
    threshold = float(np.quantile(heat, 0.97))
    labels, findings = segment(heat, volume, threshold, min_size_mm3=4.0)
    raw, n = ndimage.label(heat > threshold)
    assert labels.dtype == np.uint8 and labels.shape == volume.shape and len(findings) >= 2
    assert [f.peak for f in findings] == sorted((f.peak for f in findings), reverse=True)
    for finding in findings:
        region = labels == finding.id
        assert len(np.unique(raw[region])) == 1, "a finding is not one component"
        assert np.array_equal(region, raw == raw[region][0])
        assert region.sum() == finding.voxels >= 4
    dropped = (raw > 0) & (labels == 0)
    assert all((raw == c).sum() < 4 for c in np.unique(raw[dropped]))
    none, found = segment(heat, volume, float(heat.max()) + 1.0)
    assert found == [] and none.dtype == np.uint8 and not none.any()
    tiny, found = segment(heat, volume, threshold, min_size_mm3=1e9)
    assert found == [] and tiny.dtype == np.uint8 and not tiny.any()


def _volume() -> Volume:
    return Volume(array=np.zeros((8, 30, 30), np.float32), spacing=(2.0, 1.0, 1.0))


def test_a_finding_grows_from_its_peak_down_to_the_seed_level() -> None:
    heat = np.zeros((8, 30, 30), np.float32)
    heat[2:5, 5:15, 5:15] = 0.3  # the lesion's body, below the peak threshold
    heat[3, 9:11, 9:11] = 0.8  # its bright core
    heat[2:5, 20:28, 20:28] = 0.3  # as wide, but no voxel above the threshold
    labels, findings = segment(heat, _volume(), threshold=0.5, min_size_mm3=1.0, seed=0.2)
    assert len(findings) == 1 and findings[0].voxels == 300
    assert labels[2:5, 5:15, 5:15].all() and not labels[2:5, 20:28, 20:28].any()
    # without a seed level the finding is only the core
    _, core = segment(heat, _volume(), threshold=0.5, min_size_mm3=1.0)
    assert core[0].voxels == 4


def test_a_large_region_with_a_low_peak_is_a_finding_by_its_mass() -> None:
    heat = np.zeros((8, 30, 30), np.float32)
    heat[1:6, 4:16, 4:16] = 0.35  # 720 voxels x 2 mm³ x (0.35 - 0.2) = 216 mm³·map
    heat[3, 22:25, 22:25] = 0.35  # 9 voxels: 2.7 mm³·map
    _, findings = segment(heat, _volume(), 0.5, min_size_mm3=1.0, seed=0.2, mass=50.0)
    assert [f.voxels for f in findings] == [720]
    assert segment(heat, _volume(), 0.5, min_size_mm3=1.0, seed=0.2, mass=300.0)[1] == []
    peak, mass = region_stats(heat, _volume(), 0.2, min_size=1.0)
    assert peak == pytest.approx(0.35) and mass == pytest.approx(216.0, rel=1e-4)
    # regions smaller than min_size do not count
    assert region_stats(heat, _volume(), 0.2, min_size=2000.0) == (0.2, 0.0)


def test_max_over_channels_keeps_a_lesion_seen_in_one_window_only() -> None:
    images = np.zeros((1, 2, 8, 8), np.float32)
    images[0, 1, 3:5, 3:5] = 0.4  # ground glass: bright in the lung window, not in soft tissue
    recon = np.zeros_like(images)
    mean = residual(images, recon, Scoring(residual="positive"))
    high = residual(images, recon, Scoring(residual="positive", channels="max"))
    assert mean.max() == pytest.approx(0.2) and high.max() == pytest.approx(0.4)
    with pytest.raises(ModelError):
        Scoring(channels="sum")


def test_findings_match_scipy_per_label_measurements() -> None:
    """The bounding-box labelling and bincount measurements give what scipy's per-label
    functions give on the whole volume."""
    from scipy import ndimage

    rng = np.random.default_rng(7)
    volume = Volume(array=np.zeros((12, 50, 60), np.float32), spacing=(1.5, 0.7, 0.7))
    heat = np.zeros(volume.shape, np.float32)
    heat[3:10, 8:40, 10:45] = ndimage.gaussian_filter(rng.random((7, 32, 35)), 1.2)
    threshold = float(np.quantile(heat[heat > 0], 0.9))
    labels, findings = segment(heat, volume, threshold, min_size_mm3=3.0)
    raw, n = ndimage.label(heat > threshold)
    index = np.arange(1, n + 1)
    sizes = ndimage.sum_labels(np.ones_like(heat), raw, index)
    kept = index[sizes * 1.5 * 0.7 * 0.7 >= 3.0]
    peaks = ndimage.maximum(heat, raw, kept)
    assert len(findings) == kept.size >= 3
    for finding, k in zip(findings, kept[np.argsort(-peaks, kind="stable")], strict=True):
        region = raw == k
        assert np.array_equal(labels == finding.id, region)
        assert finding.voxels == region.sum() and finding.peak == heat[region].max()
        assert finding.mean == pytest.approx(float(heat[region].mean()), rel=1e-6)
        z, y, x = ndimage.find_objects(region.astype(int))[0]
        assert finding.bbox == (z.start, y.start, x.start, z.stop, y.stop, x.stop)
        assert finding.centroid_mm == pytest.approx(
            volume.index_to_mm(*ndimage.center_of_mass(region))
        )


def test_labels_take_the_smallest_type_for_the_finding_count() -> None:
    assert [label_dtype(n) for n in (0, 255, 256, 65535, 65536)] == [
        np.uint8,
        np.uint8,
        np.uint16,
        np.uint16,
        np.uint32,
    ]
    volume = Volume(array=np.zeros((2, 64, 64), np.float32), spacing=(1.0, 1.0, 1.0))
    heat = np.zeros(volume.shape, np.float32)
    heat[0, ::2, ::2] = np.linspace(0.5, 1.0, 32 * 32).reshape(32, 32)  # 1024 single voxels
    labels, findings = segment(heat, volume, threshold=0.1, min_size_mm3=1.0)
    assert labels.dtype == np.uint16 and len(findings) == 1024
    assert labels.max() == 1024 and labels[0, 62, 62] == 1  # the strongest is finding 1


def test_mirror_residual_keeps_what_only_one_side_shows() -> None:
    scoring = Scoring(residual="positive", mirror=1.0)
    recon = np.zeros((1, 1, 8, 8), np.float32)
    images = recon.copy()
    images[0, 0, 2:4, 1:3] = 0.5  # a symmetric pair: columns 1-2 and their mirror 5-6
    images[0, 0, 2:4, 5:7] = 0.5
    images[0, 0, 6, 1] = 0.8  # one-sided
    diff = residual(images, recon, scoring)
    assert diff[0, 2:4].max() == 0.0  # the pair cancels
    assert diff[0, 6, 1] == pytest.approx(0.8) and diff[0, 6, 6] == 0.0
    half = residual(images, recon, Scoring(residual="positive", mirror=0.5))
    assert half[0, 2, 1] == pytest.approx(0.25)
    assert np.array_equal(residual(images, recon, Scoring(residual="positive"))[0], images[0, 0])


def test_blob_score_prefers_one_blob_to_scattered_pixels() -> None:
    scoring = Scoring(slice_score="blob", percent=4.0)  # 4 of the 100 mask pixels
    mask = np.ones((2, 10, 10), bool)
    maps = np.zeros((2, 10, 10), np.float32)
    maps[0, 4:6, 4:6] = 1.0  # one 2×2 blob
    maps[1, [0, 0, 9, 9], [0, 9, 0, 9]] = 1.0  # four separate pixels
    blob, scattered = slice_scores(maps, mask, scoring)
    assert blob == pytest.approx(1.0)  # = the top-4 mean
    assert scattered == pytest.approx(0.25)
    top = slice_scores(maps, mask, Scoring(percent=4.0))
    assert top == pytest.approx([1.0, 1.0])


def test_flip_averages_the_mirrored_images_residual() -> None:
    from ctviewer.model.preprocess import Prepared, Preprocessing
    from ctviewer.pipeline import model_maps

    class LeftBlind:  # "reconstructs" only the left half: its mirror sees the other side
        preprocessing = Preprocessing(kind="image")

        def __init__(self, scoring: Scoring) -> None:
            self.scoring = scoring

        def reconstruct(self, images: np.ndarray) -> np.ndarray:
            out = images.copy()
            out[..., 4:] = 0.0
            return out

    images = np.zeros((1, 1, 8, 8), np.float32)
    images[0, 0, 3, 1] = images[0, 0, 3, 6] = 0.6
    prepared = Prepared(images, np.ones((1, 8, 8), bool), (0, 0, 8, 8))
    plain = Scoring(residual="positive", erode_px=0, median=1, sigma=0.0)
    one, _ = model_maps(prepared, LeftBlind(plain))
    both, _ = model_maps(prepared, LeftBlind(Scoring(**{**plain.to_dict(), "flip": True})))
    assert one[0, 3, 6] == pytest.approx(0.6) and one[0, 3, 1] == 0.0
    assert both[0, 3, 6] == pytest.approx(0.3) and both[0, 3, 1] == pytest.approx(0.3)
