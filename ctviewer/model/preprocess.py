"""The one preprocessing function shared by training and detection.

A Volume becomes model input in three steps: a square crop around the body (the same box for every
slice of a volume), a resize to the model's input size, and intensities to [0, 1] (one channel per
HU window for CT, plain [0, 1] for 8-bit images). An "image" model that declares an `hu_window`
(the head-CT recipe: the brain window) reads CT volumes too: their HU are first windowed into the
same [0, 1] image an 8-bit brain-window PNG is, and from there both take one path. Body and
organ masks are found at model resolution; "organ" normalisation (optional) anchors each slice
on its organ's median and IQR.
`restore` maps a model-resolution map back onto the volume's own grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import convex_hull_image

from ctviewer.errors import ModelError
from ctviewer.model import planes
from ctviewer.volume import Volume

Box = tuple[int, int, int, int]  # y0, x0, y1, x1 in volume pixels (square, may exceed the image)

KINDS = ("hu", "image")
ORGANS = ("body", "inner", "lungs")
LUNG_HU = (-990.0, -300.0)  # aerated lung; nodules and vessels inside are holes that get filled
LUNG_CLOSE = 2  # closing of each lung (pixels of a 128-pixel slice)
POCKET_AREA = 0.2  # a lung's hull pocket is kept up to this share of the lung's area...
POCKET_DEPTH = 4.5  # ...and this inscribed radius (pixels of a 128-pixel slice)...
POCKET_FAT = 0.15  # ...and this share of fat
FAT_HU = (-120.0, -40.0)
NORMALIZE = ("none", "organ")
LEVEL, SPREAD = 0.45, 0.08  # where "organ" normalisation puts the organ's median and IQR
AIR_HU = -1024.0
COARSE_SIZE = 192  # resolution at which the crop box is found
MASK_SIZE = 128  # masks and normalisation statistics are found at about this resolution
RESIZE_SLICES = 16  # raw slices cropped and resized at a time


@dataclass(frozen=True)
class Preprocessing:
    """Everything that turns a Volume into model input; stored in every checkpoint."""

    kind: str = "hu"  # "hu": CT in Hounsfield units; "image": 8-bit images scaled to [0, 1]
    size: int = 128  # model input is size x size
    windows: tuple[tuple[float, float], ...] = ((40.0, 400.0),)  # HU (center, width) per channel
    context: int = 0  # neighbouring slices on each side, as extra channels (2.5D)
    crop: bool = True  # crop to the body before resizing
    organ: str = "body"  # scoring region: "body", "inner" (inside the bright shell: the brain),
    # or "lungs" (CT: aerated lung with what it encloses)
    normalize: str = "none"  # "organ": organ median → LEVEL, IQR → SPREAD, 0 outside the body
    body_hu: float = -500.0  # HU above which a voxel is body (CT)
    hu_range: tuple[float, float] | None = None  # CT: score only tissue in this HU range
    margin: float = 0.05  # extra border around the body box, as a fraction of its side
    hu_window: tuple[float, float] | None = None  # "image" models: (centre, width) at which CT
    # input in HU is windowed to [0, 1] first, to read it as the 8-bit images trained on
    skull_hu: bool = False  # "inner" organ of CT read through `hu_window`: strip the skull by
    # HU (skull_strip_hu, extra-axial rim kept) and lift the window's top inside it. Off in the
    # head recipe: on CQ500 with the phantom model it added false positives (midline sinus)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"unknown input kind {self.kind!r}")
        if self.organ not in ORGANS or self.normalize not in NORMALIZE:
            raise ModelError(f"unknown organ {self.organ!r} or normalisation {self.normalize!r}")
        if self.size % 16:
            raise ModelError(f"model input size {self.size} is not a multiple of 16")
        if self.hu_window is not None and (self.kind != "image" or self.hu_window[1] <= 0):
            raise ModelError(f"an HU window {self.hu_window} needs an image model and a width > 0")

    @property
    def channels_per_slice(self) -> int:
        return len(self.windows) if self.kind == "hu" else 1

    @property
    def in_channels(self) -> int:
        return self.channels_per_slice * (2 * self.context + 1)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["windows"] = [list(w) for w in self.windows]
        data["hu_range"] = list(self.hu_range) if self.hu_range else None
        data["hu_window"] = list(self.hu_window) if self.hu_window else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["windows"] = tuple(tuple(float(v) for v in w) for w in known.get("windows", ()))
        for key in ("hu_range", "hu_window"):
            if known.get(key):
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)


@dataclass
class Prepared:
    """Model input for a run of slices of one volume."""

    images: np.ndarray  # (n, in_channels, size, size) float32 in [0, 1]
    body: np.ndarray  # (n, size, size) bool: the body, or the organ when `organ` is "inner"
    box: Box  # crop box on the volume's (y, x) grid
    from_hu: bool = False  # the organ mask was found by HU thresholds (head CT: skull_strip_hu)
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)  # (z, y, x) voxel at model size


def model_spacing(volume: Volume, box: Box, size: int) -> tuple[float, float, float]:
    """(z, y, x) voxel size in mm of the model-resolution slices of a volume cut to `box`
    (pixels count as 1 mm where the pixel size is unknown)."""
    sz, sy, sx = (float(v) for v in volume.spacing) if volume.spacing_known else (1.0, 1.0, 1.0)
    side = box[2] - box[0]
    return (sz, sy * side / size, sx * side / size)


def windows_hu(volume: Volume, pre: Preprocessing) -> bool:
    """Whether this volume is CT in HU read by an image model through its declared HU window."""
    return volume.is_hu and pre.kind == "image" and pre.hu_window is not None


def window_hu(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """HU → [0, 1] at a (centre, width) window: the values an 8-bit PNG saved at that window
    holds (before its 1/255 rounding)."""
    centre, width = window
    return np.clip((np.asarray(hu, dtype=np.float32) - (centre - width / 2)) / width, 0.0, 1.0)


def model_values(volume: Volume, pre: Preprocessing, index=slice(None)) -> np.ndarray:
    """The volume's slices `index` as the model's kind expects them: as stored, or CT in HU
    windowed to [0, 1] for an image model with an HU window (see `windows_hu`)."""
    raw = volume.array[index]
    return window_hu(raw, pre.hu_window) if windows_hu(volume, pre) else raw


def check_kind(volume: Volume, pre: Preprocessing) -> None:
    """A model trained on HU volumes cannot read 8-bit images, nor an image model CT in HU
    unless it declares the HU window its images were made with (`Preprocessing.hu_window`)."""
    kind = "hu" if volume.is_hu else "image"
    if kind != pre.kind and not windows_hu(volume, pre):
        wanted = "CT volumes in HU" if pre.kind == "hu" else "8-bit images (PNG/JPG)"
        got = "CT in HU" if volume.is_hu else "an 8-bit image"
        raise ModelError(
            f"this model was trained on {wanted} but the input is {got}; "
            "train a model on images like it",
            volume.source or None,
        )


def _intensities(slab: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """(n, y, x) raw → (n, channels_per_slice, y, x) in [0, 1]."""
    if pre.kind == "image":
        return np.clip(slab, 0.0, 1.0)[:, None].astype(np.float32)
    channels = [np.clip((slab - (c - w / 2)) / w, 0.0, 1.0) for c, w in pre.windows]
    return np.stack(channels, axis=1).astype(np.float32)


def _foreground(slab: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Rough foreground of raw slices: above the body HU level (CT), or clearly above the
    background level (images: 2nd percentile + 0.08, at least 0.1)."""
    if pre.kind == "hu":
        return slab > pre.body_hu
    levels = np.maximum(np.percentile(slab.reshape(len(slab), -1), 2, axis=1) + 0.08, 0.1)
    return slab > levels[:, None, None]


def body_mask_2d(foreground: np.ndarray) -> np.ndarray:
    """`body_masks` of one slice."""
    return body_masks(np.asarray(foreground, dtype=bool)[None])[0]


def body_masks(foreground: np.ndarray) -> np.ndarray:
    """Per slice of an (n, y, x) stack: the largest connected region of the slice's foreground,
    opened (cuts thin attachments such as the table or letter marks) and with its holes filled.
    Holes are filled before the opening too: a chest wall thinner than the opening would
    otherwise open a lung to the outside. Each step runs on the whole stack (`planes`)."""
    foreground = np.asarray(foreground, dtype=bool)
    if not foreground.any():
        return foreground
    iterations = max(1, round(foreground.shape[1] / 64))
    before = planes.fill_holes(planes.largest(foreground))
    opened = planes.opening(foreground, iterations)
    empty = ~opened.any(axis=(1, 2))  # slices the opening emptied keep their foreground
    opened[empty] = foreground[empty]
    after = planes.fill_holes(planes.largest(opened))
    return after | planes.largest(planes.opening(before, iterations))


def body_box(volume: Volume, pre: Preprocessing) -> Box:
    """Square box around the body over all slices (the whole slice if cropping is off)."""
    _, ny, nx = volume.shape
    if not pre.crop:
        side = max(ny, nx)
        return _square(0, 0, ny, nx, side)
    step = max(1, int(np.ceil(max(ny, nx) / COARSE_SIZE)))
    zs = np.linspace(0, volume.n_slices - 1, min(volume.n_slices, 24)).round().astype(int)
    coarse = model_values(volume, pre, np.unique(zs))[:, ::step, ::step]
    fg = _foreground(coarse, pre)
    union = body_masks(fg).any(axis=0)
    if not union.any():
        return _square(0, 0, ny, nx, max(ny, nx))
    ys, xs = np.nonzero(union)
    y0, y1 = ys.min() * step, min(ny, (ys.max() + 1) * step)
    x0, x1 = xs.min() * step, min(nx, (xs.max() + 1) * step)
    side = int(np.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * pre.margin)))
    return _square(y0, x0, y1, x1, side)


def _square(y0: int, x0: int, y1: int, x1: int, side: int) -> Box:
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    top, left = cy - side // 2, cx - side // 2
    return (top, left, top + side, left + side)


def _crop(slab: np.ndarray, box: Box, fill: float) -> np.ndarray:
    """Crop (n, y, x) to the box (a view when it lies inside), padding with `fill` outside."""
    n, ny, nx = slab.shape
    y0, x0, y1, x1 = box
    if y0 >= 0 and x0 >= 0 and y1 <= ny and x1 <= nx:
        return slab[:, y0:y1, x0:x1]
    out = np.full((n, y1 - y0, x1 - x0), fill, dtype=np.float32)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, ny), min(x1, nx)
    out[:, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = slab[:, sy0:sy1, sx0:sx1]
    return out


def _resize(slab: np.ndarray, size: int) -> np.ndarray:
    """(n, h, w) → (n, size, size), antialiased when shrinking."""
    if slab.shape[-2:] == (size, size):
        return np.array(slab, dtype=np.float32)
    t = torch.from_numpy(slab.astype(np.float32, copy=False))[:, None]
    shrink = slab.shape[-1] > size
    out = F.interpolate(
        t, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
    )
    return out[:, 0].numpy()


def _normalize(images: np.ndarray, body: np.ndarray, organ: np.ndarray) -> np.ndarray:
    """Per slice and channel: organ median → LEVEL, organ IQR → SPREAD (undoes each image's
    unknown window/level); clipped to [0, 1.5]; 0 outside the body."""
    out = np.zeros_like(images)
    for i in range(images.shape[0]):
        region = organ[i] if organ[i].sum() >= 16 else body[i]
        for c in range(images.shape[1]):
            if not region.any():
                continue
            q25, q50, q75 = np.percentile(images[i, c][region], [25, 50, 75])
            scaled = (images[i, c] - q50) / max(q75 - q25, 0.02) * SPREAD + LEVEL
            out[i, c] = np.where(body[i], np.clip(scaled, 0.0, 1.5), 0.0)
    return out


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """`ndimage.binary_fill_holes` of a 2D mask (`planes.fill_holes` of one slice); other
    dimensions go to scipy."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        return ndimage.binary_fill_holes(mask)
    return planes.fill_holes(mask[None])[0]


def _largest(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())


def _morph(operation, mask: np.ndarray, iterations: int) -> np.ndarray:
    """Apply a binary morphology operation `iterations` times (0: leave the mask as it is)."""
    return operation(mask, iterations=iterations) if iterations > 0 else mask


def inner_mask(image: np.ndarray, body: np.ndarray) -> np.ndarray:
    """The body's interior without its bright shell and air pockets: the brain of a head slice
    (skull stripping). Enclosed bright islands (a haemorrhage) stay inside. Morphology is sized
    for a 128-pixel slice and scaled with the slice."""
    values = image[body]
    if values.size < 64:
        return body
    one, two = round(image.shape[0] / 128), max(1, round(image.shape[0] / 64))
    median = np.percentile(values, 50)
    bone = body & (image >= max(np.percentile(values, 97) - 0.05, median + 0.25))
    air = image < 0.2 * median
    deep = ndimage.distance_transform_edt(body) > 0.02 * image.shape[0]
    inner = _largest(_morph(ndimage.binary_opening, body & ~bone & ~air & deep, two))
    inner = fill_holes(inner)
    # bone let in by the hole filling but joined to the skull is not parenchyma
    bone_labels, _ = ndimage.label(bone, structure=np.ones((3, 3)))
    skull = np.unique(bone_labels[bone & ~ndimage.binary_dilation(inner, iterations=two)])
    inner &= ~np.isin(bone_labels, skull[skull > 0])
    inner = _largest(_morph(ndimage.binary_opening, inner, one))
    return _morph(ndimage.binary_erosion, inner, one)


BONE_HU = 200.0  # head CT in HU: skull above this; blood (up to ~130 HU) and brain below
HEAD_CAP = 1.6  # inside the skull, windowed CT may exceed the window's top (1) up to this
# (brain window: 128 HU): a bleed 90 HU over brain is not clipped flat like the bone around it


def skull_strip_hu(hu: np.ndarray, body: np.ndarray) -> np.ndarray:
    """What lies inside the skull on a head slice in HU: everything below bone level and above
    air enclosed by the (closed) bone ring, the extra-axial rim included, so a bleed against the
    inner table stays in. Empty when the slice has no closed skull (vertex, skull base gaps)."""
    one = max(1, round(hu.shape[0] / 128))
    bone = body & (hu > BONE_HU)
    ring = _morph(ndimage.binary_closing, bone, 2 * one)
    inside = fill_holes(ring) & ~ring & (hu > -200.0)
    inside = _largest(_morph(ndimage.binary_opening, inside, one))
    return inside if inside.sum() >= 16 * one * one else np.zeros_like(inside)


def lung_mask(hu: np.ndarray, body: np.ndarray) -> np.ndarray:
    """`lung_masks` of one slice."""
    return lung_masks(np.asarray(hu)[None], np.asarray(body, dtype=bool)[None])[0]


def lung_masks(hu: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Per slice of (n, y, x) HU and body stacks: aerated lung inside the body with what it
    encloses (nodules, vessels) filled in, and what bulges into it from its rim kept: each lung
    is closed, and the small, shallow pockets between it and its convex hull (a juxtapleural
    nodule, a tumour on the chest wall or mediastinum) are added. The opening, labelling and
    hole filling run on the whole stack (`planes`); each lung's pockets on their own.
    Morphology is sized for a 128-pixel slice and scaled with the slice."""
    lung = planes.opening(body & (hu > LUNG_HU[0]) & (hu < LUNG_HU[1]), 1)
    labels, z = planes.label(lung)
    if not z.size:
        return lung
    sizes = np.bincount(labels.ravel(), minlength=z.size + 1)[1:]
    largest = np.zeros(len(lung), sizes.dtype)
    np.maximum.at(largest, z, sizes)
    out = np.zeros_like(lung)
    scale = hu.shape[1] / 128
    close = max(1, round(LUNG_CLOSE * scale))
    for k in np.flatnonzero(sizes >= np.maximum(16, 0.1 * largest[z])) + 1:
        # everything below stays inside the lung's convex hull: work in its box, framed
        at = z[k - 1]
        one = labels[at] == k
        ys, xs = np.flatnonzero(one.any(axis=1)), np.flatnonzero(one.any(axis=0))
        box = (slice(max(ys[0] - 1, 0), ys[-1] + 2), slice(max(xs[0] - 1, 0), xs[-1] + 2))
        part = _with_pockets(one[box], hu[at][box], close, scale) & body[at][box]
        out[at][box] |= part
    return planes.fill_holes(out | lung)


def _closed_filled(one: np.ndarray, close: int) -> np.ndarray:
    """A 2D mask closed by the cross `close` times within a padded frame (so that its edge does
    not erode it), its holes filled."""
    pad = close + 1
    closed = planes.closing(np.pad(one, pad), close)[pad:-pad, pad:-pad]
    return fill_holes(closed | one)


def _with_pockets(one: np.ndarray, hu: np.ndarray, close: int, scale: float) -> np.ndarray:
    """One lung, closed (`close` pixels, within a padded frame), holes filled, plus the
    convex-hull pockets that are small, shallow (depth in pixels of a 128-pixel slice × `scale`)
    and hardly fat: a lesion on the rim fills a shallow cap of soft tissue, the heart's bay, the
    hilum and the spine's groove are wide and deep, and the mediastinum's shallow bays hold fat."""
    lung = _closed_filled(one, close)
    pockets, n = ndimage.label(convex_hull_image(lung) & ~lung)
    if n == 0:
        return lung
    depth = ndimage.distance_transform_edt(pockets > 0)
    sizes = np.bincount(pockets.ravel(), minlength=n + 1)
    deepest = np.zeros(n + 1)  # per pocket; scipy's per-label maximum sorts the whole slice
    np.maximum.at(deepest, pockets.ravel(), depth.ravel())
    fat = np.bincount(pockets.ravel(), weights=((hu > FAT_HU[0]) & (hu < FAT_HU[1])).ravel())
    keep = (sizes <= POCKET_AREA * lung.sum()) & (deepest <= POCKET_DEPTH * scale)
    keep &= fat <= POCKET_FAT * sizes
    keep[0] = False
    return lung | keep[pockets]


def prepare(
    volume: Volume,
    pre: Preprocessing,
    start: int = 0,
    stop: int | None = None,
    box: Box | None = None,
) -> Prepared:
    """Model input for slices [start, stop) of a volume (all of them by default)."""
    check_kind(volume, pre)
    stop = volume.n_slices if stop is None else stop
    box = body_box(volume, pre) if box is None else box
    z = np.arange(start, stop)
    offsets = np.arange(-pre.context, pre.context + 1)
    index = np.clip(z[:, None] + offsets[None, :], 0, volume.n_slices - 1)  # edge slices repeat
    needed = np.unique(index)
    # crop and shrink the raw values first, window at model resolution: cheap for 512² slices
    # masks and normalisation work at >= 128 px (morphology and statistics need the detail),
    # then the result is block-averaged down to a smaller model input
    fill = AIR_HU if pre.kind == "hu" else 0.0
    work = pre.size * max(1, MASK_SIZE // pre.size)
    small = np.concatenate(  # RESIZE_SLICES raw slices at a time: full-size copies stay small
        [
            _resize(_crop(model_values(volume, pre, _run(part)), box, fill), work)
            for part in np.split(needed, range(RESIZE_SLICES, needed.size, RESIZE_SLICES))
        ]
    )
    where = np.searchsorted(needed, index)  # (n, 2*context+1) rows of `small`
    channels = _intensities(small, pre)[where].reshape(len(z), pre.in_channels, work, work)
    body = body_masks(_foreground(small[where[:, pre.context]], pre))
    centre = channels[:, pre.context * pre.channels_per_slice]
    hu_head = windows_hu(volume, pre) and pre.organ == "inner" and pre.skull_hu
    if hu_head:  # head CT in HU: the skull stripped by HU (skull_strip_hu)
        raw = volume.array[needed[where[:, pre.context]]]
        organ = np.stack(list(map(skull_strip_hu, _resize(_crop(raw, box, AIR_HU), work), body)))
        # inside the skull the window's top is lifted, and bone is left out of the shrinking
        # (its partial volume would light up the brain's rim like an extra-axial bleed)
        soft = np.where(raw > BONE_HU, np.float32(pre.hu_window[0]), raw)
        soft = _resize(_crop(soft, box, AIR_HU), work)
        low = pre.hu_window[0] - pre.hu_window[1] / 2
        centre[organ] = np.clip((soft[organ] - low) / pre.hu_window[1], 0.0, HEAD_CAP)
    elif pre.organ == "inner":
        organ = np.stack(list(map(inner_mask, centre, body)))
    elif pre.organ == "lungs" and pre.kind == "hu":
        organ = lung_masks(small[where[:, pre.context]], body)
    elif pre.organ == "lungs":  # 8-bit chest images: the dark fields inside the body
        organ = np.stack(list(map(lung_mask_image, centre, body)))
    else:
        organ = body
    if pre.hu_range is not None and pre.kind == "hu":  # e.g. leave bone out of the scoring
        centre_hu = small[where[:, pre.context]]
        organ = organ & (centre_hu >= pre.hu_range[0]) & (centre_hu <= pre.hu_range[1])
    if pre.normalize == "organ":
        channels = _normalize(channels, body, organ)
    if work != pre.size:
        channels = _pool(channels, work // pre.size)
        organ = _pool(organ.astype(np.float32), work // pre.size) > 0.5
    return Prepared(
        images=np.ascontiguousarray(channels),
        body=organ,
        box=box,
        from_hu=hu_head,
        spacing_mm=model_spacing(volume, box, pre.size),
    )


def _run(index: np.ndarray) -> np.ndarray | slice:
    """Sorted slice indices as a slice when they are consecutive (a view, not a copy)."""
    if index.size and index[-1] - index[0] + 1 == index.size:
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _pool(stack: np.ndarray, f: int) -> np.ndarray:
    """Mean over f x f blocks of the last two axes."""
    *lead, h, w = stack.shape
    return stack.reshape(*lead, h // f, f, w // f, f).mean(axis=(-3, -1))


def prepare_volume(volume: Volume, pre: Preprocessing, chunk: int = 32) -> Prepared:
    """Model input for every slice of a volume, prepared `chunk` slices at a time."""
    box = body_box(volume, pre)
    parts = [
        prepare(volume, pre, start, min(start + chunk, volume.n_slices), box)
        for start in range(0, volume.n_slices, chunk)
    ]
    return Prepared(
        images=np.concatenate([p.images for p in parts]),
        body=np.concatenate([p.body for p in parts]),
        box=box,
        from_hu=any(p.from_hu for p in parts),
        spacing_mm=model_spacing(volume, box, pre.size),
    )


def upsample(maps: np.ndarray, box: Box) -> np.ndarray:
    """(n, size, size) model-resolution maps → (n, side, side) float32 on the box's own grid."""
    side = box[2] - box[0]
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    return F.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)[:, 0].numpy()


def visible(box: Box, shape_yx: tuple[int, int]) -> tuple[slice, slice, slice, slice]:
    """The part of the box inside the image: (rows, cols) on the image grid and the same (rows,
    cols) on the box grid."""
    y0, x0, y1, x1 = box
    ny, nx = shape_yx
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, ny), min(x1, nx)
    return (
        slice(sy0, sy1),
        slice(sx0, sx1),
        slice(sy0 - y0, sy1 - y0),
        slice(sx0 - x0, sx1 - x0),
    )


def restore(maps: np.ndarray, box: Box, shape_yx: tuple[int, int]) -> np.ndarray:
    """(n, size, size) model-resolution maps → (n, y, x) on the volume grid (0 outside the box)."""
    rows, cols, box_rows, box_cols = visible(box, shape_yx)
    out = np.zeros((maps.shape[0], *shape_yx), dtype=np.float32)
    out[:, rows, cols] = upsample(maps, box)[:, box_rows, box_cols]
    return out


IMAGE_LUNG_MIN = 0.01  # an 8-bit lung field covers at least this share of the slice...
IMAGE_LUNG_RELATIVE = 0.1  # ...and this share of the largest one
BLACK = 0.06  # 8-bit value below which a pixel is black (air in a soft-tissue window)
SOFT_WINDOW_BLACK = 0.125  # share of black inside the chest above which it is a soft-tissue window


def lung_mask_image(image: np.ndarray, body: np.ndarray) -> np.ndarray:
    """The lung fields of an 8-bit chest slice (window unknown): the large regions inside the
    body darker than the Otsu level between lung and soft tissue, not touching the image's
    edge, each closed and with its holes filled (vessels, nodules and enclosed ground glass
    stay in). Morphology is sized for a 128-pixel slice and scaled with the slice."""
    values = image[body]
    if values.size < 64 or np.ptp(values) < 0.05:
        return np.zeros_like(body)
    one = max(1, round(image.shape[0] / 128))
    dark = _morph(ndimage.binary_opening, body & (image < threshold_otsu(values)), one)
    labels, n = ndimage.label(dark)
    if n == 0:
        return dark
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    sizes[edge] = 0
    keep = sizes >= max(IMAGE_LUNG_MIN * image.size, IMAGE_LUNG_RELATIVE * sizes.max(), 1)
    keep[0] = False
    out = np.zeros_like(dark)
    for k in np.flatnonzero(keep):
        out |= _closed_filled(labels == k, 2 * one)
    return out & body


def black_share(image: np.ndarray) -> float:
    """Share of black pixels (below BLACK) inside the chest of an 8-bit slice: the convex hull
    of its largest bright region, eroded. In a lung window the lungs are grey (share near 0);
    in a soft-tissue (mediastinal) window they are black (share 0.2-0.6)."""
    step = max(1, int(np.ceil(max(image.shape) / MASK_SIZE)))
    image = np.asarray(image, dtype=np.float32)
    ny, nx = (image.shape[0] // step) * step, (image.shape[1] // step) * step
    small = _pool(image[:ny, :nx], step) if step > 1 else image
    bright = _largest(ndimage.binary_opening(small > 2 * BLACK, iterations=1))
    if bright.sum() < 64:
        return 0.0
    chest = ndimage.binary_erosion(convex_hull_image(bright), iterations=2)
    return float((small[chest] < BLACK).mean()) if chest.any() else 0.0


def soft_tissue_window(image: np.ndarray) -> bool:
    """Whether an 8-bit chest slice is shown in a soft-tissue window (lungs black, their
    texture gone), where a lung model cannot judge the lungs."""
    return black_share(image) >= SOFT_WINDOW_BLACK
