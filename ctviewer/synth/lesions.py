"""Lesions of known kind, size and position, drawn into a phantom with their ground truth.

- `nodule`: a solid lung nodule (~30–60 HU), a slightly lobulated sphere with a sharp edge.
- `ggo`: a ground-glass opacity (~−500 to −300 HU), fuzzy-edged; vessels stay visible through it.
- `liver`: a liver lesion, hypodense by default (~20 HU against ~60 HU liver) or hyperdense.
- `consolidation`: dense lung (~20–50 HU), a large lobulated region confined to the lung.
- `juxtapleural`: a solid nodule or tumour whose centre lies near the lung's rim, so that it
  touches the chest wall or the mediastinum and bulges into the lung from there.

A lesion without a centre is placed at random (deterministically from its seed) fully inside its
organ and away from the other lesions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import ndimage

from ctviewer.errors import InputError
from ctviewer.synth.canvas import LIVER, LUNG

LesionKind = Literal["nodule", "ggo", "liver", "consolidation", "juxtapleural"]
KINDS: tuple[str, ...] = ("nodule", "ggo", "liver", "consolidation", "juxtapleural")
DEFAULT_HU = {
    "nodule": 45.0,
    "ggo": -420.0,
    "liver": 20.0,
    "consolidation": 35.0,
    "juxtapleural": 40.0,
}
ORGAN = {"nodule": LUNG, "ggo": LUNG, "liver": LIVER, "consolidation": LUNG, "juxtapleural": LUNG}
RADIUS_RANGE_MM = {
    "nodule": (3.0, 10.0),
    "ggo": (6.0, 14.0),
    "liver": (6.0, 16.0),
    "consolidation": (10.0, 22.0),
    "juxtapleural": (4.0, 15.0),
}
CONFINED = ("ggo", "liver", "consolidation")  # drawn only inside their organ
INSIDE = {"consolidation": 0.5}  # share of the radius that must lie in the organ (default all)
RIM_DEPTH = (0.2, 0.6)  # juxtapleural centres: this many radii inside the lung's rim
LUNG_HU = -860.0


@dataclass(frozen=True)
class Lesion:
    """A lesion to draw. Give `center_vox` (z, y, x voxel index) or `center_mm` (LPS x, y, z), or
    neither to have it placed in its organ; `make_phantom` returns lesions with both filled in."""

    kind: LesionKind
    radius_mm: float
    center_vox: tuple[float, float, float] | None = None
    center_mm: tuple[float, float, float] | None = None
    hu: float | None = None  # None: the kind's typical value
    lobulation: float = 0.15  # relative radius variation of the surface (nodules)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown lesion kind {self.kind!r} (use one of {', '.join(KINDS)})")
        if self.radius_mm <= 0:
            raise InputError(f"lesion radius must be positive, got {self.radius_mm}")

    @property
    def value_hu(self) -> float:
        return DEFAULT_HU[self.kind] if self.hu is None else float(self.hu)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "radius_mm": self.radius_mm,
            "center_vox": list(self.center_vox) if self.center_vox else None,
            "center_mm": list(self.center_mm) if self.center_mm else None,
            "hu": self.value_hu,
            "lobulation": self.lobulation,
            "seed": self.seed,
        }


def random_lesions(
    rng: np.random.Generator, n: int, kinds: tuple[str, ...] | list[str] = KINDS
) -> list[Lesion]:
    """`n` lesions of random kind (from `kinds`), size and density, to be placed in their organ."""
    lesions = []
    for _ in range(n):
        kind = str(rng.choice(list(kinds)))
        low, high = RADIUS_RANGE_MM[kind]
        hu = DEFAULT_HU[kind] + float(rng.uniform(-15, 15))
        if kind == "liver" and rng.random() < 0.3:
            hu = float(rng.uniform(100, 130))  # hyperdense (e.g. a haemangioma in venous phase)
        lesions.append(
            Lesion(
                kind,  # type: ignore[arg-type]
                radius_mm=round(float(rng.uniform(low, high)), 1),
                hu=round(hu, 1),
                lobulation=float(rng.uniform(0.05, 0.25)),
                seed=int(rng.integers(2**31)),
            )
        )
    return lesions


def place_lesion(
    lesion: Lesion,
    labels: np.ndarray,
    per_slice: np.ndarray,
    spacing: tuple[float, float, float],
    taken: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """A voxel centre for `lesion` with the whole lesion (plus a margin) inside its organ and
    clear of the lesions in `taken` ((centre mm (z, y, x), radius) pairs). `per_slice[z]` is
    how many voxels of slice z belong to the lesion's organ."""
    organ = ORGAN[lesion.kind]
    if per_slice.sum() == 0:
        raise InputError(f"no {_organ_name(organ)} in this phantom to place a {lesion.kind} in")
    if lesion.kind == "juxtapleural":
        return _place_on_rim(lesion, labels, per_slice, spacing, taken, rng)
    reach = lesion.radius_mm * (INSIDE.get(lesion.kind, 1.0) + lesion.lobulation) + 3.0
    directions = _sphere_directions()
    weights = per_slice / per_slice.sum()
    spacing_arr = np.asarray(spacing)
    for _ in range(400):
        z = int(rng.choice(len(per_slice), p=weights))
        candidates = np.flatnonzero(labels[z] == organ)
        y, x = np.unravel_index(int(rng.choice(candidates)), labels.shape[1:])
        centre = np.array([z, y, x], dtype=float)
        probes = np.rint(centre + directions * reach / spacing_arr).astype(int)
        if (probes < 0).any() or (probes >= labels.shape).any():
            continue
        if not (labels[tuple(probes.T)] == organ).all():
            continue
        centre_mm = centre * spacing_arr
        if any(np.linalg.norm(centre_mm - c) < r + lesion.radius_mm + 8 for c, r in taken):
            continue
        return float(z), float(y), float(x)
    raise InputError(f"could not fit a {lesion.radius_mm} mm {lesion.kind} into the phantom")


def _place_on_rim(
    lesion: Lesion,
    labels: np.ndarray,
    per_slice: np.ndarray,
    spacing: tuple[float, float, float],
    taken: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """A centre inside the lung, `RIM_DEPTH` radii from its in-plane rim, on a slice whose
    neighbours within half a radius are lung at that point too."""
    reach_z = max(1, round(0.5 * lesion.radius_mm / spacing[0]))
    ok = np.flatnonzero(per_slice > 0)
    ok = ok[(ok >= reach_z) & (ok < len(per_slice) - reach_z)]
    if ok.size == 0:
        raise InputError(f"could not fit a {lesion.radius_mm} mm {lesion.kind} into the phantom")
    low, high = (d * lesion.radius_mm for d in RIM_DEPTH)
    for _ in range(40):
        z = int(rng.choice(ok))
        lung = ndimage.binary_fill_holes(labels[z] == LUNG)
        depth = ndimage.distance_transform_edt(lung, sampling=spacing[1:])
        candidates = np.flatnonzero((depth >= low) & (depth <= high))
        if candidates.size == 0:
            continue
        for flat in rng.choice(candidates, min(20, candidates.size), replace=False):
            y, x = np.unravel_index(int(flat), lung.shape)
            if not all(labels[z + d, y, x] == LUNG for d in (-reach_z, reach_z)):
                continue
            centre_mm = np.array([z, y, x], dtype=float) * np.asarray(spacing)
            if any(np.linalg.norm(centre_mm - c) < r + lesion.radius_mm + 8 for c, r in taken):
                continue
            return float(z), float(y), float(x)
    raise InputError(f"could not fit a {lesion.radius_mm} mm {lesion.kind} into the phantom")


def _organ_name(label: int) -> str:
    return {LUNG: "lung", LIVER: "liver"}[label]


def _sphere_directions() -> np.ndarray:
    """26 neighbour directions (unit vectors, z y x)."""
    grid = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij"), -1)
    vectors = grid.reshape(-1, 3)
    vectors = vectors[np.abs(vectors).sum(axis=1) > 0].astype(float)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def draw_lesion(
    volume: np.ndarray,
    lesion_labels: np.ndarray,
    labels: np.ndarray,
    lesion: Lesion,
    index: int,
    spacing: tuple[float, float, float],
) -> None:
    """Blend `lesion` (with a resolved `center_vox`) into the HU `volume` and mark its voxels
    with `index` in `lesion_labels`."""
    assert lesion.center_vox is not None
    rng = np.random.default_rng(lesion.seed)
    centre = np.asarray(lesion.center_vox)
    spacing_arr = np.asarray(spacing)
    fuzzy = lesion.kind == "ggo"
    reach_mm = lesion.radius_mm * (1 + lesion.lobulation + (0.6 if fuzzy else 0)) + 2 * spacing[1]
    lo = np.maximum(np.floor(centre - reach_mm / spacing_arr).astype(int), 0)
    hi = np.minimum(np.ceil(centre + reach_mm / spacing_arr).astype(int) + 1, volume.shape)
    if (hi <= lo).any():
        return
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dz, dy, dx = (
        ((np.arange(a, b) - c) * s).astype(np.float32)
        for a, b, c, s in zip(lo, hi, centre, spacing, strict=True)
    )
    dz, dy, dx = dz[:, None, None], dy[None, :, None], dx[None, None, :]
    dist = np.sqrt(dz**2 + dy**2 + dx**2) + np.float32(1e-3)
    radius = lesion.radius_mm * _lobes(rng, dz / dist, dy / dist, dx / dist, lesion.lobulation)
    soft = {"liver": 1.5, "consolidation": 2.0}
    edge = lesion.radius_mm * 0.35 if fuzzy else soft.get(lesion.kind, min(spacing))
    frac = np.clip((radius - dist) / edge + 0.5, 0, 1)
    if lesion.kind in CONFINED:
        frac *= labels[box] == ORGAN[lesion.kind]
    texture = ndimage.gaussian_filter(rng.standard_normal(frac.shape).astype(np.float32), 1.0)
    view = volume[box]
    if fuzzy:
        haze = LUNG_HU + frac * (lesion.value_hu - LUNG_HU + 60 * texture)
        np.maximum(view, haze, out=view)  # vessels inside the haze stay visible
    else:
        view += frac * (lesion.value_hu + 8 * texture - view)
    lesion_labels[box][frac >= 0.5] = index


def _lobes(
    rng: np.random.Generator, uz: np.ndarray, uy: np.ndarray, ux: np.ndarray, amount: float
) -> np.ndarray:
    """A smooth random radius factor over directions (degree-2 and -3 harmonics): lobulation."""
    factor = np.ones(np.broadcast_shapes(uz.shape, uy.shape, ux.shape), np.float32)
    if amount <= 0:
        return factor
    for power in (2, 3, 3):
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        cos = axis[0] * uz + axis[1] * uy + axis[2] * ux
        factor += np.float32(amount / 2) * (cos**power - (1 / 3 if power == 2 else 0))
    return factor


def resolve_center(lesion: Lesion, center_vox: tuple[float, float, float], to_mm) -> Lesion:
    """The lesion with both centres filled in (`to_mm` maps a voxel index to LPS mm)."""
    return replace(lesion, center_vox=center_vox, center_mm=to_mm(*center_vox), hu=lesion.value_hu)
