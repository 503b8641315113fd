"""The blob filter keeps compact bright lesions and suppresses tubes and plates of the same
contrast, in 3D and on single images; a run of slices read with its halo gives the same values
as the whole volume."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ctviewer.anomaly.maps import Scoring, anomaly_map
from ctviewer.anomaly.shape import blob_filter, halo_slices

SPACING = (3.0, 2.0, 2.0)  # z, y, x mm
SCALES = (3.0, 5.0, 8.0, 12.0)


def _grid(shape=(40, 80, 80)):
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    return z * SPACING[0], y * SPACING[1], x * SPACING[2]


def _soft(mask: np.ndarray) -> np.ndarray:
    return ndimage.gaussian_filter(mask.astype(np.float32), 0.7) + 0.01  # > 0 everywhere


def test_sphere_kept_tubes_and_plates_suppressed_in_3d() -> None:
    z, y, x = _grid()
    r = 7.0
    sphere = _soft((z - 60) ** 2 + (y - 80) ** 2 + (x - 80) ** 2 < r**2)
    along_z = _soft((y - 80) ** 2 + (x - 80) ** 2 < r**2)
    along_x = _soft((z - 60) ** 2 + (y - 80) ** 2 < r**2)
    plate = _soft(np.abs(y - 80) < r)
    kept = blob_filter(sphere, SPACING, SCALES).max()
    assert kept > 0.05
    for other in (along_z, along_x, plate):
        assert blob_filter(other, SPACING, SCALES).max() < 0.25 * kept
    # the response sits on the sphere, and a flat map gives none
    response = blob_filter(sphere, SPACING, SCALES)
    peak = np.unravel_index(np.argmax(response), response.shape)
    assert sphere[peak] > 0.5
    assert blob_filter(np.full((8, 20, 20), 0.3, np.float32), SPACING, SCALES).max() < 0.05 * kept


def test_disc_kept_line_suppressed_on_a_single_image() -> None:
    _, y, x = _grid((1, 80, 80))
    disc = _soft((y - 80) ** 2 + (x - 80) ** 2 < 36.0)
    line = _soft(np.abs(y - 80) < 6.0)
    kept = blob_filter(disc, SPACING, SCALES).max()
    assert kept > 0.05 and blob_filter(line, SPACING, SCALES).max() < 0.25 * kept


def test_a_run_with_its_halo_matches_the_whole_volume() -> None:
    rng = np.random.default_rng(0)
    maps = np.clip(ndimage.gaussian_filter(rng.standard_normal((40, 48, 48)), 1.5), 0, None)
    maps = maps.astype(np.float32)
    halo = halo_slices(SCALES, SPACING)
    whole = blob_filter(maps, SPACING, SCALES)
    start, stop = 15, 25
    part = blob_filter(maps[start - halo : stop + halo], SPACING, SCALES)
    assert np.array_equal(part[halo : halo + stop - start], whole[start:stop])


def test_scoring_applies_the_filter_inside_the_mask_and_round_trips() -> None:
    z, y, x = _grid((20, 40, 40))
    sphere = ((z - 30) ** 2 + (y - 40) ** 2 + (x - 40) ** 2 < 49.0).astype(np.float32)
    mask = np.zeros(sphere.shape, bool)
    mask[:, 5:35, 5:35] = True
    scoring = Scoring(residual="positive", median=1, sigma=0.0, blob_mm=SCALES)
    out = anomaly_map(sphere, mask, scoring, SPACING)
    assert out.max() > 0 and not out[~mask].any()
    assert Scoring.from_dict(scoring.to_dict()) == scoring
    assert Scoring.from_dict(Scoring().to_dict()).blob_mm == ()


def test_runs_of_slices_give_the_whole_stack_and_shared_passes_the_plain_derivatives(
    monkeypatch,
) -> None:
    from ctviewer.anomaly import shape

    rng = np.random.default_rng(1)
    maps = np.clip(ndimage.gaussian_filter(rng.standard_normal((60, 40, 40)), 1.5), 0, None)
    maps = maps.astype(np.float32)
    whole = blob_filter(maps, SPACING, SCALES)
    monkeypatch.setattr(shape, "CHUNK_VOXELS", 10 * 40 * 40)  # runs of 4 halos of slices
    assert len(shape._runs(60, maps > 0, halo_slices(SCALES, SPACING))) > 1
    assert np.array_equal(blob_filter(maps, SPACING, SCALES), whole)
    sigmas, inside = (2.0, 1.5, 1.0), maps > 0.1
    shared = shape._hessian(maps, sigmas, SPACING, inside)
    for order, values in zip(shape.HESSIAN, shared, strict=True):
        plain = shape._derivative(maps, sigmas, order, SPACING)[inside]
        assert np.array_equal(values, plain)


def test_largest_over_images_on_threads_is_the_per_image_maximum(monkeypatch) -> None:
    from ctviewer.anomaly import shape

    rng = np.random.default_rng(2)
    images = [
        np.clip(ndimage.gaussian_filter(rng.standard_normal((48, 36, 36)), s), 0, None)
        for s in (1.2, 2.0)
    ]
    images = [im.astype(np.float32) for im in images]
    where = np.zeros(images[0].shape, bool)
    where[4:44, 6:30, 8:28] = True

    def alone(image: np.ndarray) -> np.ndarray:  # one image, one scale at a time, whole stack
        best = np.zeros_like(image)
        for radius in SCALES:
            sigmas = shape.blob_sigmas(radius, SPACING, True)
            response = shape._blob_3d(image, sigmas, SPACING, radius / math.sqrt(3), where)
            np.maximum(best, response, out=best)
        return np.where(where, best, 0.0).astype(np.float32)

    expected = np.maximum(alone(images[0]), alone(images[1]))
    monkeypatch.setattr(shape, "CHUNK_VOXELS", 12 * 36 * 36)  # several runs of slices
    assert len(shape._runs(48, where, halo_slices(SCALES, SPACING))) > 1
    for threads in (1, 2, 3):
        found = shape.largest_blob_filter(images, SPACING, SCALES, where, threads)
        assert np.array_equal(found, expected), threads
    assert np.array_equal(
        blob_filter(images[0], SPACING, SCALES, where, threads=2), alone(images[0])
    )


def test_broad_term_finds_faint_haze_that_thin_vessels_do_not_reach() -> None:
    zz, yy, xx = np.mgrid[:24, :48, :48].astype(np.float32)
    image = np.full((24, 48, 48), 0.3, np.float32)
    haze = np.sqrt((zz - 12) ** 2 + (yy - 14) ** 2 + (xx - 14) ** 2) < 5
    vessel = (np.abs(yy - 34) < 1) & (np.abs(xx - 34) < 1)  # a tube along z, 1 px wide
    image[haze] += 0.3
    image[vessel] += 0.6
    images = image[:, None]
    mask = np.ones(image.shape, bool)
    planar = np.full(image.shape, 0.01, np.float32)
    base = Scoring(blob_mm=(6.0,), blob_on="image", sigma=0.0, median=1)
    plain = anomaly_map(planar, mask, base, (1.0, 1.0, 1.0), images)
    broad = Scoring.from_dict({**base.to_dict(), "broad_mm": [5.0], "broad_gain": 3.0})
    assert Scoring.from_dict(broad.to_dict()) == broad
    out = anomaly_map(planar, mask, broad, (1.0, 1.0, 1.0), images)
    assert (out >= plain - 1e-6).all()  # only ever adds
    assert out[haze].max() > 0.1 > plain[haze].max()
    assert out[vessel].max() < 0.5 * out[haze].max()  # the opening removed the thin vessel


def test_thin_slices_merged_only_where_z_is_finer_than_in_plane() -> None:
    from ctviewer.anomaly import shape

    assert shape.merged_slices(14.0, (1.0, 2.7, 2.7)) == 2  # 1 mm slices, 2.7 mm pixels
    assert shape.merged_slices(6.0, (1.0, 2.7, 2.7)) == 1  # too narrow a z kernel to merge
    assert shape.merged_slices(14.0, (0.625, 2.7, 2.7)) >= 3
    for thick in ((1.6, 2.7, 2.7), (3.0, 2.0, 2.0), (5.0, 0.7, 0.7)):
        assert all(shape.merged_slices(r, thick) == 1 for r in (6.0, 9.0, 14.0)), thick


def test_merged_thin_slices_keep_blobs_and_suppress_tubes(monkeypatch) -> None:
    """On 1 mm slices with 2.7 mm pixels the merged measure stays within a few percent of the
    exact one on balls and keeps a tube suppressed; switched off it is the exact measure."""
    from ctviewer.anomaly import shape

    spacing, scales = (1.0, 2.7, 2.7), (6.0, 9.0, 14.0)
    z, y, x = np.mgrid[:120, :40, :40].astype(np.float32)
    z, y, x = z * spacing[0], y * spacing[1], x * spacing[2]
    image = np.full(z.shape, 0.05, np.float32)
    for cz, radius in ((25.0, 5.0), (60.0, 8.0), (95.0, 11.0)):  # balls in mm
        image += _soft((z - cz) ** 2 + (y - 54) ** 2 + (x - 54) ** 2 < radius**2)
    tube = _soft((y - 54) ** 2 + (x - 54) ** 2 < 16.0)
    where = np.ones(z.shape, bool)
    monkeypatch.setattr(shape, "MERGE_THIN", False)
    exact = shape.largest_blob_filter([image], spacing, scales, where)
    exact_tube = shape.largest_blob_filter([tube], spacing, scales, where)
    monkeypatch.setattr(shape, "MERGE_THIN", True)
    merged = shape.largest_blob_filter([image], spacing, scales, where)
    merged_tube = shape.largest_blob_filter([tube], spacing, scales, where)
    assert not np.array_equal(merged, exact)  # the merge did run
    for cz in (25, 60, 95):
        ball = slice(cz - 12, cz + 13)
        assert abs(merged[ball].max() - exact[ball].max()) < 0.05 * exact[ball].max()
    assert merged_tube.max() < 0.25 * merged.max()
    assert abs(merged_tube.max() - exact_tube.max()) < 0.25 * exact_tube.max() + 1e-3


def test_broad_term_only_at_thin_slices_and_on_its_channel() -> None:
    zz, yy, xx = np.mgrid[:24, :48, :48].astype(np.float32)
    image = np.full((24, 48, 48), 0.3, np.float32)
    image[np.sqrt((zz - 12) ** 2 + (yy - 14) ** 2 + (xx - 14) ** 2) < 5] += 0.3
    images = np.stack([np.full_like(image, 0.3), image], axis=1)  # the haze in channel 1 only
    mask = np.ones(image.shape, bool)
    planar = np.full(image.shape, 0.01, np.float32)
    base = Scoring(blob_mm=(6.0,), blob_on="image", sigma=0.0, median=1)
    broad = Scoring.from_dict({**base.to_dict(), "broad_mm": [5.0], "broad_gain": 3.0})
    limited = Scoring.from_dict({**broad.to_dict(), "broad_max_slice_mm": 2.0})
    assert Scoring.from_dict(limited.to_dict()) == limited

    def peak(scoring: Scoring, spacing: tuple[float, float, float], n: int = 24) -> float:
        return float(anomaly_map(planar[:n], mask[:n], scoring, spacing, images[:n]).max())

    plain, thin = peak(base, (1.0, 1.0, 1.0)), peak(broad, (1.0, 1.0, 1.0))
    assert thin > 0.1 > plain
    assert peak(limited, (2.0, 1.0, 1.0)) == peak(broad, (2.0, 1.0, 1.0))  # at the limit: on
    assert peak(limited, (2.5, 1.0, 1.0)) == peak(base, (2.5, 1.0, 1.0))  # thicker: off
    single = planar[12:13], mask[12:13], images[12:13]
    assert anomaly_map(*single[:2], limited, (1.0, 1.0, 1.0), single[2]).max() == (
        anomaly_map(*single[:2], base, (1.0, 1.0, 1.0), single[2]).max()
    )  # a single image: off
    lung = Scoring.from_dict({**broad.to_dict(), "broad_channel": 1})
    assert peak(lung, (1.0, 1.0, 1.0)) == thin  # the haze's channel alone: the same peak
    other = Scoring.from_dict({**broad.to_dict(), "broad_channel": 0})
    assert peak(other, (1.0, 1.0, 1.0)) < 0.5 * thin


def test_broad_term_gate_keeps_haze_drops_dense_tissue() -> None:
    zz, yy, xx = np.mgrid[:24, :48, :48].astype(np.float32)
    image = np.full((24, 48, 48), 0.3, np.float32)
    haze = np.sqrt((zz - 12) ** 2 + (yy - 14) ** 2 + (xx - 14) ** 2) < 5
    dense = np.sqrt((zz - 12) ** 2 + (yy - 34) ** 2 + (xx - 34) ** 2) < 5
    image[haze] += 0.3  # 0.6: hazy
    image[dense] += 0.6  # 0.9: soft tissue
    images = image[:, None]
    mask = np.ones(image.shape, bool)
    planar = np.full(image.shape, 0.01, np.float32)
    base = Scoring(blob_mm=(6.0,), blob_on="image", sigma=0.0, median=1)
    broad = Scoring.from_dict({**base.to_dict(), "broad_mm": [5.0], "broad_gain": 3.0})
    gated = Scoring.from_dict({**broad.to_dict(), "broad_max_value": 0.7})
    assert Scoring.from_dict(gated.to_dict()) == gated
    plain = anomaly_map(planar, mask, base, (1.0, 1.0, 1.0), images)
    ungated = anomaly_map(planar, mask, broad, (1.0, 1.0, 1.0), images)
    out = anomaly_map(planar, mask, gated, (1.0, 1.0, 1.0), images)
    assert ungated[dense].max() > 0.1 > plain[dense].max()
    assert out[dense].max() == plain[dense].max()  # above the value: the first term only
    assert out[haze].max() == ungated[haze].max() > 0.1


def test_broad_opening_reaches_the_same_mm_in_z_at_thin_slices() -> None:
    from ctviewer.anomaly.maps import open_slices

    assert open_slices(0.0, 1.0) == 3  # the default: 3 slices at any spacing
    assert [open_slices(14.0, mm) for mm in (6.25, 4.7, 3.1, 2.3, 1.56, 1.0)] == [3, 3, 5, 7, 9, 13]
    zz, yy, xx = np.mgrid[:24, :32, :32].astype(np.float32)
    image = np.full((24, 32, 32), 0.3, np.float32)
    image[(np.abs(zz - 12) < 2) & (np.hypot(yy - 16, xx - 16) < 8)] += 0.3  # a disc 3 slices thick
    images, mask = image[:, None], np.ones(image.shape, bool)
    planar = np.zeros(image.shape, np.float32)
    base = Scoring(blob_mm=(6.0,), blob_on="image", sigma=0.0, median=1)
    broad = Scoring.from_dict({**base.to_dict(), "broad_mm": [4.0], "broad_gain": 3.0})
    deep = Scoring.from_dict({**broad.to_dict(), "broad_open_mm": 7.0})  # 7 slices at 1 mm
    shallow = anomaly_map(planar, mask, broad, (1.0, 1.0, 1.0), images).max()
    assert anomaly_map(planar, mask, deep, (1.0, 1.0, 1.0), images).max() < 0.25 * shallow
