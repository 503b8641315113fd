"""A synthetic axial head CT in HU: the training data of the bundled head model, and bleeds to
insert into head CT volumes (phantom or real) for benchmarks.

`make_head_phantom(seed)` draws, slice by slice from the skull base region to the vertex: air,
scalp, a skull ring (cortical tables and diploe), a thin subarachnoid CSF rim, grey-matter cortex
folded by CSF-filled sulci, white matter, deep grey nuclei, lateral and third ventricles and the
interhemispheric fissure with the falx; anatomy (head size, skull thickness, ventricle size,
atrophy, grey/white HU, pose, noise) varies by seed. No lesions: a normal head. `dura=True` adds
what a real head CT shows where the plain phantom's network leaves residual on CQ500 (`Dura`:
superior sagittal sinus, a denser falx, tentorium, straight and transverse sinuses, petrous ridges
and skull-base partial volume in the lowest slices, choroid plexus and pineal calcifications),
drawn from its own random stream so the plain phantom of a seed stays the same.

`add_bleed` paints a hyperdense bleed into a HU volume: an intraparenchymal blob or an extra-axial
crescent along the inner skull, with a soft edge; `brain_mask_hu` finds the brain (inside the
skull) by fixed HU thresholds to place them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ctviewer.volume import Volume

AIR, FAT, CSF, BONE = -1000.0, -90.0, 6.0, 1200.0
BLEED_KINDS = ("intraparenchymal", "extra-axial")


@dataclass
class HeadAnatomy:
    """The patient of one phantom, all lengths in mm."""

    radius_lr: float
    radius_ap: float
    scalp: float
    skull: float
    grey_hu: float
    white_hu: float
    ventricle_scale: float
    atrophy: float  # widens sulci and the subarachnoid rim
    sulci: np.ndarray  # (k, 3): angle, depth mm, width mm
    angle: float  # in-plane head rotation, rad
    shift: tuple[float, float]  # head centre offset (y, x) mm
    noise_hu: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> HeadAnatomy:
        atrophy = rng.uniform(0.0, 1.0)
        k = int(rng.integers(22, 34))
        sulci = np.stack(
            [
                np.sort(rng.uniform(-np.pi, np.pi, k)),
                rng.uniform(8, 20, k) * (1 + 0.3 * atrophy),
                rng.uniform(1.3, 2.3, k) * (1 + 0.8 * atrophy),
            ],
            axis=1,
        )
        return cls(
            radius_lr=rng.uniform(66, 78),
            radius_ap=rng.uniform(84, 98),
            scalp=rng.uniform(3, 7),
            skull=rng.uniform(5, 9),
            grey_hu=rng.uniform(36, 44),
            white_hu=rng.uniform(24, 31),
            ventricle_scale=rng.uniform(0.7, 1.5) * (1 + 0.4 * atrophy),
            atrophy=atrophy,
            sulci=sulci,
            angle=rng.uniform(-0.15, 0.15),
            shift=(rng.uniform(-8, 8), rng.uniform(-8, 8)),
            noise_hu=rng.uniform(2.5, 5.0),
        )


@dataclass
class Dura:
    """The dural sinuses, folds, skull base and calcifications of one phantom (mm, HU, t the
    slice height 0 ... 1 as in `_render_slice`)."""

    falx_hu: float
    falx_half: float  # half thickness
    sss_depth: float  # superior sagittal sinus: a triangle below the inner table on the midline
    sss_width: float
    sinus_hu: float  # over grey matter: venous blood
    tent_top: float  # the tentorium's highest slice height
    tent_hu: float
    tent_half: float
    tent_apex: tuple[float, float]  # apex y at t = 0 and at `tent_top`
    tent_slope: tuple[float, float]  # |x| per mm of y behind the apex, at t = 0 and `tent_top`
    transverse: tuple[float, float, float]  # top height, depth, half angle around the back
    base_top: float  # skull base: petrous ridges and partial volume below this height
    petrous: tuple[float, float, float]  # lateral y, medial y, medial |x|
    base_pv: float  # partial-volume HU over brain next to the floor, at t = 0
    plexus: float  # choroid plexus calcification HU (0: none)
    pineal: float  # pineal calcification HU (0: none)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Dura:
        return cls(
            falx_hu=rng.uniform(55, 95),
            falx_half=rng.uniform(0.4, 1.1),
            sss_depth=rng.uniform(5, 9),
            sss_width=rng.uniform(6, 11),
            sinus_hu=rng.uniform(15, 35),
            tent_top=rng.uniform(0.3, 0.42),
            tent_hu=rng.uniform(50, 80),
            tent_half=rng.uniform(0.5, 1.2),
            tent_apex=(rng.uniform(-2, 12), rng.uniform(45, 65)),
            tent_slope=(rng.uniform(1.2, 2.0), rng.uniform(0.3, 0.7)),
            transverse=(rng.uniform(0.12, 0.24), rng.uniform(3, 6), rng.uniform(0.8, 1.3)),
            base_top=rng.uniform(0.12, 0.22),
            petrous=(rng.uniform(5, 20), rng.uniform(-8, 2), rng.uniform(12, 20)),
            base_pv=rng.uniform(40, 160),
            plexus=rng.uniform(90, 250) if rng.uniform() < 0.7 else 0.0,
            pineal=rng.uniform(90, 250) if rng.uniform() < 0.6 else 0.0,
        )


def _ellipse(y: np.ndarray, x: np.ndarray, cy, cx, ry, rx) -> np.ndarray:
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1


def _render_slice(
    a: HeadAnatomy,
    t: float,
    y: np.ndarray,
    x: np.ndarray,
    px: float,
    dura: Dura | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One axial slice at height t (0 skull-base region ... 1 vertex) on the (y, x) mm grid
    (head-centred, already rotated); `dura` (with `rng` for its texture) adds `_add_dura`."""
    shrink = np.sqrt(max(1e-3, 1 - ((t - 0.3) / 0.78) ** 2))  # ellipsoidal head, widest at 0.3
    ry, rx = a.radius_ap * shrink, a.radius_lr * shrink
    theta = np.arctan2(y, x)
    wobble = 1 + 0.03 * np.sin(3 * theta + 1.3) + 0.02 * np.cos(5 * theta)
    head = ((y / ry) ** 2 + (x / rx) ** 2) < wobble**2
    out = np.full(y.shape, AIR, dtype=np.float32)
    if head.sum() < 50:
        return out
    depth = ndimage.distance_transform_edt(head) * px  # mm inside the skin
    skull_in = a.scalp + a.skull
    out[head] = 45.0  # skin and muscle
    out[head & (depth > 1.2) & (depth < a.scalp)] = FAT
    bone = head & (depth >= a.scalp) & (depth < skull_in)
    tables = np.abs(depth - (a.scalp + a.skull / 2)) > a.skull * 0.22  # diploe in between
    out[bone] = np.where(tables[bone], BONE + 300 * t, 450.0)
    inside = head & (depth >= skull_in)
    db = depth - skull_in  # mm inside the inner table
    rim = 0.8 + 1.6 * a.atrophy
    brain = inside & (db >= rim)
    out[inside] = CSF
    grey = brain & (db < rim + 2.8)
    white = brain & ~grey
    # sulci: CSF clefts from the surface inwards, lined by cortex
    radius = np.hypot(y, x)
    for angle, length, width in a.sulci:
        wiggle = 0.06 * np.sin(db / 3.0 + angle * 7)
        gap = np.abs(np.angle(np.exp(1j * (theta - angle - wiggle)))) * radius
        cleft = brain & (gap < width / 2) & (db < rim + length * (0.6 + 0.4 * shrink))
        lining = brain & (gap < width / 2 + 2.6) & (db < rim + length * (0.6 + 0.4 * shrink) + 2.4)
        grey |= lining
        white &= ~lining
        out[cleft] = CSF
        grey &= ~cleft
        white &= ~cleft
    # interhemispheric fissure with the falx
    fissure = brain & (np.abs(x) < 1.0 + 0.8 * a.atrophy) & (np.abs(y) > 18 * (1 - t) + 4)
    out[grey] = a.grey_hu
    out[white] = a.white_hu
    out[fissure] = CSF
    out[brain & (np.abs(x) < 0.5) & (np.abs(y) > 18 * (1 - t) + 4)] = 55.0  # falx
    # deep structures, in the middle slices only
    s = a.ventricle_scale
    if 0.15 < t < 0.6:
        nuclei = _ellipse(y, np.abs(x), 4, 17, 14, 7)
        out[brain & nuclei] = a.grey_hu - 3
        for side in (-1, 1):
            frontal = _ellipse(y, x, -14, side * 7 * s**0.5, 13 * s, 3.2 * s)
            body = _ellipse(y, x, 6, side * 9 * s**0.5, 16 * s, 2.8 * s) if t > 0.35 else False
            occipital = _ellipse(y, x, 24, side * 13 * s**0.5, 7 * s, 3 * s) if t < 0.45 else False
            out[brain & (frontal | body | occipital)] = CSF
        if t < 0.4:  # third ventricle
            out[brain & _ellipse(y, x, 2, 0, 9, 1.2 * s)] = CSF
    if dura is not None:
        _add_dura(out, a, dura, t, y, x, inside, db, rng or np.random.default_rng(0))
    return out


def _add_dura(
    out: np.ndarray,
    a: HeadAnatomy,
    d: Dura,
    t: float,
    y: np.ndarray,
    x: np.ndarray,
    inside: np.ndarray,
    db: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Paint `d`'s structures into one slice `out` (in place): `inside` the inner table, `db` mm
    from it, on the head-centred (y, x) mm grid."""
    blood = a.grey_hu + d.sinus_hu
    ax = np.abs(x)
    # a denser falx, over the whole front-to-back length in the upper slices
    gap = 18 * (1 - t) + 4 if t < 0.55 else 0.0
    out[inside & (ax < d.falx_half) & (np.abs(y) > gap) & (t > d.tent_top * 0.8)] = d.falx_hu
    # superior sagittal sinus: triangles under the inner table at both ends of the falx
    for end, scale in ((1, 1.0), (-1, 0.7)):
        depth, width = d.sss_depth * scale, d.sss_width * scale
        tri = inside & (end * y > 0) & (db < depth) & (ax < width / 2 * (1 - db / depth))
        out[tri] = blood
    f = min(1.0, max(0.0, t / d.tent_top))
    if t < d.tent_top:  # tentorium: a V opening backwards from its apex, the straight sinus
        apex = d.tent_apex[0] + f * (d.tent_apex[1] - d.tent_apex[0])
        k = d.tent_slope[0] + f * (d.tent_slope[1] - d.tent_slope[0])
        behind = y - apex
        line = np.abs(ax - k * behind) / np.hypot(1.0, k) < d.tent_half
        out[inside & (db > 1.0) & (behind > 0) & line] = d.tent_hu
        if f > 0.4:
            out[inside & (ax < 1.5) & (behind > 0) & (behind < 14)] = blood
    top, depth, half = d.transverse
    if t < top:  # transverse sinuses and the torcula along the back of the skull
        theta = np.arctan2(y, x)
        back = np.abs(np.angle(np.exp(1j * (theta - np.pi / 2)))) < half
        out[inside & back & (db < depth * (1 - 0.5 * t / top))] = blood
    if t < d.base_top:  # skull base: petrous ridges and partial volume of the floor
        g = 1 - t / d.base_top
        y_lat, y_med, x_med = d.petrous
        x_lat = a.radius_lr
        along = np.clip((ax - x_med) / (x_lat - x_med), 0, 1)
        ridge = np.abs(y - (y_med + along * (y_lat - y_med))) < 1 + 3 * g
        out[inside & (ax > x_med) & ridge] = 500 + 700 * g
        field = ndimage.gaussian_filter(rng.standard_normal(out.shape), 6.0)
        field = np.clip(field / (field.std() + 1e-6), 0, None)
        floor = inside & (db < 4 + 8 * g) & ~ridge & (out < 100)
        out[floor] += (d.base_pv * g * field / 2.5)[floor]
    if 0.3 < t < 0.5 and d.plexus:  # choroid plexus in the atria of the lateral ventricles
        s = a.ventricle_scale
        for side in (-1, 1):
            out[inside & _ellipse(y, x, 22, side * 13 * s**0.5, 2.5, 2.0)] = d.plexus
    if 0.3 < t < 0.42 and d.pineal:
        out[inside & _ellipse(y, x, 13, 0, 2.5, 2.5)] = d.pineal


def make_head_phantom(
    seed: int = 0,
    n_slices: int = 28,
    size: int = 256,
    field_of_view_mm: float = 240.0,
    slice_mm: float = 5.0,
    dura: bool = False,
) -> Volume:
    """A normal axial head CT phantom (HU, whole numbers) of `n_slices` slices of `size`²;
    different seeds give different heads; `dura` adds `Dura` and starts lower (skull base)."""
    rng = np.random.default_rng([seed, 7])
    a = HeadAnatomy.sample(rng)
    extra = np.random.default_rng([seed, 11])  # drawn from only with `dura`
    d = Dura.sample(extra) if dura else None
    px = field_of_view_mm / size
    coords = (np.arange(size) - (size - 1) / 2) * px
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    cos, sin = np.cos(a.angle), np.sin(a.angle)
    y = cos * (yy - a.shift[0]) - sin * (xx - a.shift[1])
    x = sin * (yy - a.shift[0]) + cos * (xx - a.shift[1])
    # from above the skull base (0) to near the vertex (0.95), whatever the slice count
    step = min(slice_mm / (2 * 0.78 * a.radius_ap), 0.8 / max(1, n_slices - 1))
    heights = rng.uniform(0.05, 0.15) - 0.06 * dura + np.arange(n_slices) * step
    slices = []
    for t in heights:
        image = _render_slice(a, float(t), y, x, px, d, extra)
        image = ndimage.gaussian_filter(image, 0.6)  # partial volume at edges
        noise = ndimage.gaussian_filter(rng.standard_normal(image.shape), 0.7) * a.noise_hu * 2
        slices.append(np.where(image > -900, image + noise, image))
    array = np.round(np.clip(np.stack(slices), -1024, 3071)).astype(np.float32)
    return Volume(
        array=array,
        spacing=(slice_mm, px, px),
        origin=(-(size - 1) / 2 * px, -(size - 1) / 2 * px, 0.0),
        source=f"head-phantom-{seed}" + ("-dura" if dura else ""),
        series_uid=f"2.25.{abs(hash(('head', seed, n_slices, size) + ('dura',) * dura)) % 10**30}",
        meta={"BodyPartExamined": "HEAD", "SeriesDescription": f"head phantom {seed}"},
    )


def brain_mask_hu(hu: np.ndarray, bone_hu: float = 300.0) -> np.ndarray:
    """(z, y, x) brain-and-CSF inside the skull, per slice: soft tissue (-20..100 HU) enclosed by
    bone, the largest such region of each slice."""
    out = np.zeros(hu.shape, dtype=bool)
    for z, image in enumerate(hu):
        bone = image > bone_hu
        inside = ndimage.binary_fill_holes(bone) & ~bone & (image > -20) & (image < 100)
        inside = ndimage.binary_opening(inside, iterations=2)
        labels, n = ndimage.label(inside)
        if n:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            out[z] = labels == sizes.argmax()
    return out


@dataclass
class Bleed:
    """Where a synthetic bleed went: its kind, size, contrast and voxel mask."""

    kind: str
    size_mm: float
    delta_hu: float
    mask: np.ndarray  # (z, y, x) bool, where it raised the HU by more than half its contrast


def add_bleed(
    hu: np.ndarray,
    brain: np.ndarray,
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    kind: str = "intraparenchymal",
    size_mm: float = 15.0,
    delta_hu: float = 60.0,
) -> tuple[np.ndarray, Bleed]:
    """A copy of `hu` with one bleed of about `size_mm` across, `delta_hu` over the brain around
    it (a soft edge, the scan's noise left on top), inside `brain`: an irregular ellipsoid
    ("intraparenchymal") or a crescent hugging the inner skull ("extra-axial")."""
    if kind not in BLEED_KINDS:
        raise ValueError(f"unknown bleed kind {kind!r}")
    sz, sy, sx = spacing
    zs = np.flatnonzero(brain.reshape(len(brain), -1).sum(1) > 0.5 * brain.sum() / len(brain))
    z = int(rng.choice(zs))
    if kind == "intraparenchymal":
        deep = ndimage.distance_transform_edt(brain[z], sampling=(sy, sx)) > size_mm / 2 + 3
        pool = np.argwhere(deep) if deep.any() else np.argwhere(brain[z])
    else:
        rim = brain[z] & ~ndimage.binary_erosion(brain[z], iterations=max(1, round(2 / sy)))
        pool = np.argwhere(rim)
    cy, cx = pool[rng.integers(len(pool))]
    zz, yy, xx = np.meshgrid(
        (np.arange(hu.shape[0]) - z) * sz,
        (np.arange(hu.shape[1]) - cy) * sy,
        (np.arange(hu.shape[2]) - cx) * sx,
        indexing="ij",
    )
    r = size_mm / 2
    if kind == "intraparenchymal":
        axes = r * rng.uniform(0.7, 1.0, 3)
        shape = (zz / axes[0]) ** 2 + (yy / axes[1]) ** 2 + (xx / axes[2]) ** 2 < 1
    else:  # a lens of brain rim: the outer few mm of brain within r of the centre
        thickness = max(2.0, min(8.0, size_mm / 3))
        depth = np.stack([ndimage.distance_transform_edt(b, sampling=(sy, sx)) for b in brain])
        shape = (zz**2 + yy**2 + xx**2 < r**2) & (depth < thickness)
    shape &= brain
    soft = ndimage.gaussian_filter(shape.astype(np.float32), (0.5, 1.0 / sy, 1.0 / sx))
    out = hu.astype(np.float32) + delta_hu * soft
    return out, Bleed(kind, size_mm, delta_hu, soft > 0.5)
