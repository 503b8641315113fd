"""Which body part a series shows: from its DICOM header and from a cheap look at the image.

The header words are the ones scanners and PACS really write in BodyPartExamined, the study and
series descriptions and the protocol name ("HEAD", "CT BRAIN W/O", "SCHAEDEL", "THORAX", "CAP",
...). The image check classifies a few sampled slices at coarse resolution by what a reader sees
first: a closed bright ring of bone around soft tissue (a skull), large air-filled regions inside
the body (lungs), or a body without either (abdomen / pelvis). numpy and scipy only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.morphology import convex_hull_image

from ctviewer.volume import Volume

BODY_PARTS = ("head", "chest", "abdomen")
UNKNOWN = "unknown"
SAMPLED_SLICES = 15
COARSE_PX = 128

# whole words (or word starts) per body part, upper case; first match in priority order wins
HEADER_WORDS: dict[str, tuple[str, ...]] = {
    "head": (
        "HEAD",
        "BRAIN",
        "SKULL",
        "CRANI",
        "CEREBR",
        "NEURO",
        "SCHAEDEL",
        "SCHADEL",
        "SCHÄDEL",
        "KOPF",
        "CRANE",
        "CRANEO",
        "CT HD",
        "HEMORR",
        "STROKE",
    ),
    "chest": (
        "CHEST",
        "THORAX",
        "THORAC",
        "LUNG",
        "PULMO",
        "THX",
        "CTPA",
        "TORAX",
        "TÓRAX",
        "POUMON",
        "THORAKS",
    ),
    "abdomen": ("ABDOMEN", "ABD", "PELVIS", "LIVER", "ABDOM", "BAUCH", "LEBER", "PELV", "KIDNEY"),
}
# combined protocols: chest + abdomen (+ pelvis)
COMBINED = re.compile(r"\b(CAP|TAP|C/A/P|CHEST[ /-]*ABD\w*|THORAX[ /-]*ABD\w*)\b")
HEADER_KEYS = ("BodyPartExamined", "SeriesDescription", "ProtocolName", "StudyDescription")


@dataclass
class AnatomyGuess:
    """Body parts a series shows, and where that came from."""

    parts: tuple[str, ...]  # e.g. ("chest",), ("chest", "abdomen"); () when unknown
    source: str  # "header", "image", "header+image" or "none"
    shares: dict[str, float] = field(default_factory=dict)  # image: share of sampled slices

    @property
    def main(self) -> str:
        """The body part to name in messages ("unknown" when nothing could be told)."""
        return self.parts[0] if self.parts else UNKNOWN

    def text(self) -> str:
        return " + ".join(self.parts) if self.parts else "an unknown body part"


def header_body_parts(meta: dict) -> tuple[str, ...]:
    """Body parts named by the header fields, most specific field first; () if none says."""
    for key in HEADER_KEYS:
        words = str(meta.get(key, "") or "").upper()
        if not words:
            continue
        if COMBINED.search(words):
            return ("chest", "abdomen")
        found = [
            part
            for part, names in HEADER_WORDS.items()
            if any(re.search(rf"(^|[^A-Z]){re.escape(n)}", words) for n in names)
        ]
        if found:
            return tuple(found)
    return ()


def _body(slice_: np.ndarray, level: float) -> np.ndarray:
    """Largest connected region above `level`, holes filled (drops the table and head-rest)."""
    labels, n = ndimage.label(ndimage.binary_opening(slice_ > level, iterations=1))
    if n == 0:
        return np.zeros(slice_.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(labels == sizes.argmax())


def _block_any(mask: np.ndarray, step: int) -> np.ndarray:
    """Downsample a mask by `step`, keeping a pixel where any of its block is set (a thin skull
    stays a closed ring, which plain subsampling breaks)."""
    if step == 1:
        return mask
    ny, nx = (-(-mask.shape[0] // step)) * step, (-(-mask.shape[1] // step)) * step
    padded = np.zeros((ny, nx), dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return padded.reshape(ny // step, step, nx // step, step).any(axis=(1, 3))


def classify_slice(image: np.ndarray, is_hu: bool, pixel_mm: float | None) -> str:
    """'head', 'chest', 'abdomen' or 'unknown' for one full-resolution slice.

    HU: body > -500 HU, internal air < -400 HU, bone > 250 HU. 8-bit images (window unknown):
    body above the 2nd percentile + 0.1, bone the saturated top, air the near-black inside the
    body (lungs in a lung window; a brain window shows no air inside the skull).
    """
    step = max(1, int(np.ceil(max(image.shape) / COARSE_PX)))
    coarse = image[::step, ::step]
    if is_hu:
        body = _body(coarse, -500.0)
        air, bone_full = coarse < -400.0, image > 250.0
    else:
        body = _body(coarse, max(float(np.percentile(coarse, 2)) + 0.1, 0.1))
        inside = coarse[body]
        if inside.size == 0:
            return UNKNOWN
        air = coarse < 0.12
        bone_full = image >= max(0.9, float(np.percentile(inside, 99)) - 0.02)
    bone = _block_any(bone_full, step)[: body.shape[0], : body.shape[1]] & body
    if not is_hu and body.any():  # cropped 8-bit images cut the chest wall: lungs are not holes
        body = convex_hull_image(body)
    air &= body
    area = int(body.sum())
    if area < 0.02 * body.size:
        return UNKNOWN
    enclosed = ndimage.binary_fill_holes(ndimage.binary_closing(bone, iterations=2)) & ~bone
    ring = enclosed.sum() / area  # what a closed bone ring holds (the cranial cavity)
    air_share = air.sum() / area
    if ring > 0.35 and air_share < 0.1:
        return "head"
    if air_share > 0.12:
        return "chest"
    if pixel_mm is None:
        return UNKNOWN
    ys, xs = np.nonzero(body)
    if max(np.ptp(ys), np.ptp(xs)) * pixel_mm * step < 180.0:
        return UNKNOWN  # too small for a trunk: a limb, a neck, a cropped image
    return "abdomen"


def image_body_parts(volume: Volume) -> tuple[tuple[str, ...], dict[str, float]]:
    """Body parts seen in up to SAMPLED_SLICES slices: every part seen on at least a fifth of
    them, most frequent first; with their shares."""
    n = volume.n_slices
    zs = np.unique(np.linspace(0, n - 1, min(n, SAMPLED_SLICES)).round().astype(int))
    pixel_mm = float(volume.spacing[1]) if volume.spacing_known and volume.is_hu else None
    votes = [classify_slice(np.asarray(volume.array[z]), volume.is_hu, pixel_mm) for z in zs]
    shares = {p: votes.count(p) / len(votes) for p in (*BODY_PARTS, UNKNOWN) if p in votes}
    seen = sorted((p for p in BODY_PARTS if shares.get(p, 0.0) >= 0.2), key=lambda p: -shares[p])
    return tuple(seen), shares


CLEAR_SHARE = 0.5  # the image overrules the header only where it shows its part this often


def guess_body_parts(volume: Volume) -> AnatomyGuess:
    """The header's word where the image agrees or cannot tell; the image's where the header
    is silent or clearly contradicted by it (a chest protocol that shows a skull on most slices
    is a head). A weak contradiction (a "BRAIN" QA phantom whose air inserts look like lung on a
    third of its slices) leaves the header's word, so the model for that part decides."""
    header = header_body_parts(volume.meta)
    image, shares = image_body_parts(volume)
    if header and (not image or set(header) & set(image)):
        return AnatomyGuess(header, "header+image" if image else "header", shares)
    if header and shares[image[0]] < CLEAR_SHARE:
        return AnatomyGuess(header, "header (image unclear)", shares)
    if image:
        return AnatomyGuess(image, "image", shares)
    return AnatomyGuess((), "none", shares)
