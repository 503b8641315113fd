"""A synthetic chest CT with known lesions: the test, demo and training data of ctviewer.

`make_phantom(shape, spacing, lesions, seed)` builds a `Phantom`: a HU `Volume` (whole numbers, so
that the DICOM series written by `write_dicom_series` holds exactly the same values), tissue
labels, and the lesions' ground truth. Everything is deterministic from the seeds: `anatomy_seed`
(default: `seed`) chooses the patient, `seed` the noise and where unplaced lesions go.

The chest spans about 280 mm from the lung apices to the diaphragm; the default spacing fits it
(and a little above and below) into `shape` with a 400 mm field of view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid
from scipy import ndimage

from ctviewer.synth.anatomy import sample_anatomy
from ctviewer.synth.canvas import AIR, LIVER, LUNG, TABLE, SliceCanvas
from ctviewer.synth.chest import LungTexture, render_slice, table_image
from ctviewer.synth.dicom_writer import write_dicom_series
from ctviewer.synth.lesions import (
    KINDS,
    ORGAN,
    Lesion,
    draw_lesion,
    place_lesion,
    random_lesions,
)
from ctviewer.synth.lesions import resolve_center as _resolve_center
from ctviewer.volume import Volume

__all__ = [
    "KINDS",
    "Lesion",
    "Phantom",
    "make_phantom",
    "random_lesions",
    "read_ground_truth",
    "write_dicom_series",
    "write_ground_truth",
]

DEFAULT_SHAPE = (64, 256, 256)
FIELD_OF_VIEW_MM = 400.0
DEFAULT_Z_EXTENT_MM = 300.0
MIN_HU, MAX_HU = -1024.0, 3071.0
GROUND_TRUTH_LABELS = "lesion_labels.npz"
GROUND_TRUTH_JSON = "lesions.json"


@dataclass
class Phantom:
    """A phantom volume and what is known about it."""

    volume: Volume
    lesion_labels: np.ndarray  # (z, y, x) uint8: 0 none, i + 1 where lesions[i] is
    lesions: list[Lesion]  # with centre_vox, centre_mm and hu filled in
    labels: np.ndarray  # (z, y, x) uint8 tissue labels (see ctviewer.synth.canvas)
    seed: int
    anatomy_seed: int

    @cached_property
    def mask(self) -> np.ndarray:
        """Ground truth: True on lesion voxels."""
        return self.lesion_labels > 0

    @property
    def body_mask(self) -> np.ndarray:
        return (self.labels != AIR) & (self.labels != TABLE)

    @property
    def lung_mask(self) -> np.ndarray:
        return self.labels == LUNG

    @property
    def liver_mask(self) -> np.ndarray:
        return self.labels == LIVER


def default_spacing(shape: tuple[int, int, int]) -> tuple[float, float, float]:
    nz, ny, nx = shape
    return DEFAULT_Z_EXTENT_MM / nz, FIELD_OF_VIEW_MM / ny, FIELD_OF_VIEW_MM / nx


def make_phantom(
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] | None = None,
    lesions: list[Lesion] | None = None,
    seed: int = 0,
    anatomy_seed: int | None = None,
    contrast: bool = False,
    noise_hu: float | None = None,
) -> Phantom:
    """A chest CT phantom of `shape` (z, y, x) voxels with `spacing` (z, y, x) mm.

    `lesions` are drawn into it (those without a centre are placed in their organ); `noise_hu`
    is the noise standard deviation (default: 10–18 HU, chosen by the seed).
    """
    shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive sizes (z, y, x), got {shape}")
    spacing = tuple(float(s) for s in (spacing or default_spacing(shape)))  # type: ignore[assignment]
    anatomy_seed = seed if anatomy_seed is None else anatomy_seed
    nz, ny, nx = shape
    origin = (-(nx - 1) / 2 * spacing[2], -(ny - 1) / 2 * spacing[1], -(nz - 1) / 2 * spacing[0])
    xs = origin[0] + np.arange(nx) * spacing[2]
    ys = origin[1] + np.arange(ny) * spacing[1]
    zs = origin[2] + np.arange(nz) * spacing[0]

    anatomy_rng = np.random.default_rng([anatomy_seed, 0])
    anatomy = sample_anatomy(anatomy_rng)
    half_fov = max(nx * spacing[2], ny * spacing[1]) / 2
    texture = LungTexture.sample(anatomy_rng, (zs[0], zs[-1]), half_fov)
    canvas = SliceCanvas(xs, ys, edge_mm=max(spacing[1], spacing[2]))
    table = table_image(canvas, anatomy.body_cy + anatomy.body_b_post + 3)
    array = np.empty(shape, np.float32)
    labels = np.empty(shape, np.uint8)
    for k, z in enumerate(zs):
        render_slice(canvas, anatomy, float(z), texture, table, contrast)
        array[k] = canvas.hu
        labels[k] = canvas.labels

    volume = Volume(
        array=array,
        spacing=spacing,  # type: ignore[arg-type]
        origin=origin,
        direction=np.eye(3),
        source="synthetic phantom",
        window=(40.0, 400.0),
    )
    lesion_rng = np.random.default_rng([seed, 2])
    lesion_labels = np.zeros(shape, np.uint8)
    placed: list[Lesion] = []
    taken: list[tuple[np.ndarray, float]] = []
    organ_counts: dict[int, np.ndarray] = {}  # organ label → voxels per slice, when needed
    for index, lesion in enumerate(lesions or [], start=1):
        centre = _lesion_centre(lesion, volume, labels, organ_counts, taken, lesion_rng)
        placed.append(_resolve_center(lesion, centre, volume.index_to_mm))
        taken.append((np.asarray(centre) * np.asarray(spacing), lesion.radius_mm))
        draw_lesion(array, lesion_labels, labels, placed[-1], index, spacing)  # type: ignore[arg-type]

    noise_rng = np.random.default_rng([seed, 1])
    sigma = noise_hu if noise_hu is not None else float(noise_rng.uniform(10.0, 18.0))
    _add_noise(array, noise_rng, sigma)
    volume.series_uid = _uid("series", anatomy_seed, seed, shape, spacing, contrast, placed)
    volume.meta = _patient_meta(anatomy_seed, seed, volume.series_uid, spacing)
    return Phantom(volume, lesion_labels, placed, labels, seed, anatomy_seed)


def _lesion_centre(
    lesion: Lesion,
    volume: Volume,
    labels: np.ndarray,
    organ_counts: dict[int, np.ndarray],
    taken: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    if lesion.center_vox is not None:
        return tuple(float(v) for v in lesion.center_vox)  # type: ignore[return-value]
    if lesion.center_mm is not None:
        offset = np.asarray(lesion.center_mm) - np.asarray(volume.origin)
        x, y, z = np.linalg.solve(volume.direction, offset) / np.asarray(volume.spacing[::-1])
        return float(z), float(y), float(x)
    own_rng = np.random.default_rng([int(rng.integers(2**31)), lesion.seed])
    organ = ORGAN[lesion.kind]
    if organ not in organ_counts:
        organ_counts[organ] = np.count_nonzero(labels == organ, axis=(1, 2))
    return place_lesion(lesion, labels, organ_counts[organ], volume.spacing, taken, own_rng)


def _add_noise(array: np.ndarray, rng: np.random.Generator, sigma: float) -> None:
    """Correlated Gaussian noise (a bank of smoothed noise images, shifted at random per slice),
    then rounding to whole HU within the 12-bit CT range."""
    nz, ny, nx = array.shape
    pad, bank_size = 32, 8
    bank = rng.standard_normal((bank_size, ny + pad, nx + pad), dtype=np.float32)
    bank = ndimage.gaussian_filter(bank, (0, 0.8, 0.8))
    bank *= np.float32(sigma / bank.std())
    picks = rng.integers(0, bank_size, nz)
    offsets = rng.integers(0, pad + 1, (nz, 2))
    for k in range(nz):
        oy, ox = offsets[k]
        plane = array[k]
        plane += bank[picks[k], oy : oy + ny, ox : ox + nx]
        np.clip(plane, MIN_HU, MAX_HU, out=plane)
        np.rint(plane, out=plane)


def _uid(kind: str, *parts: object) -> str:
    return generate_uid(entropy_srcs=["ctviewer-phantom", kind, *map(repr, parts)])


def _patient_meta(
    anatomy_seed: int, seed: int, series_uid: str, spacing: tuple[float, float, float]
) -> dict[str, object]:
    """A synthetic patient (no real person), the same for every series of one anatomy seed."""
    rng = np.random.default_rng([anatomy_seed, 3])
    birth = f"{1940 + int(rng.integers(0, 60))}{int(rng.integers(1, 13)):02d}"
    return {
        "PatientName": "PHANTOM^DEMO",
        "PatientID": f"PHANTOM-{anatomy_seed:05d}",
        "PatientBirthDate": f"{birth}{int(rng.integers(1, 29)):02d}",
        "PatientSex": str(rng.choice(["F", "M"])),
        "StudyDate": "20260115",
        "StudyTime": "093000",
        "AccessionNumber": f"SYN{anatomy_seed:05d}",
        "StudyID": "1",
        "StudyDescription": "CT CHEST (synthetic phantom)",
        "SeriesDescription": f"Phantom chest {spacing[0]:.2g} mm (seed {seed})",
        "SeriesNumber": 1,
        "Modality": "CT",
        "Manufacturer": "ctviewer synth",
        "BodyPartExamined": "CHEST",
        "StudyInstanceUID": _uid("study", anatomy_seed),
        "SeriesInstanceUID": series_uid,
        "FrameOfReferenceUID": _uid("frame", anatomy_seed, seed, series_uid),
    }


def write_ground_truth(phantom: Phantom, out_dir: str | Path) -> list[Path]:
    """Save the lesion labels (compressed .npz) and the lesion list (JSON) into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels_path, json_path = out / GROUND_TRUTH_LABELS, out / GROUND_TRUTH_JSON
    np.savez_compressed(labels_path, lesion_labels=phantom.lesion_labels)
    info = {
        "series_uid": phantom.volume.series_uid,
        "shape": list(phantom.volume.shape),
        "spacing": list(phantom.volume.spacing),
        "seed": phantom.seed,
        "anatomy_seed": phantom.anatomy_seed,
        "lesions": [lesion.to_json() for lesion in phantom.lesions],
    }
    json_path.write_text(json.dumps(info, indent=2))
    return [labels_path, json_path]


def read_ground_truth(folder: str | Path) -> tuple[np.ndarray, list[Lesion]]:
    """The lesion labels and lesions saved by `write_ground_truth`."""
    folder = Path(folder)
    with np.load(folder / GROUND_TRUTH_LABELS) as data:
        lesion_labels = data["lesion_labels"]
    info = json.loads((folder / GROUND_TRUTH_JSON).read_text())
    lesions = [
        Lesion(
            kind=item["kind"],
            radius_mm=item["radius_mm"],
            center_vox=tuple(item["center_vox"]),
            center_mm=tuple(item["center_mm"]),
            hu=item["hu"],
            lobulation=item["lobulation"],
            seed=item["seed"],
        )
        for item in info["lesions"]
    ]
    return lesion_labels, lesions
