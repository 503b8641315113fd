"""Numpy compositing of a view: a windowed slice, the anomaly map in colour, finding outlines.

Qt-free, so that `ctviewer snapshot`, the report and the self-test draw exactly what the viewer
shows. The viewer uses the same planes, lookup tables and outlines with pyqtgraph items.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ctviewer.errors import InputError
from ctviewer.presets import default_window
from ctviewer.volume import Result, Volume

AXES = ("axial", "coronal", "sagittal")
OUTLINE_RGB = (0, 230, 255)  # cyan: stands out against the warm colour maps
DEFAULT_OPACITY = 0.5

# Colour maps as control points (position, r, g, b); alpha ramps up so low scores stay clear.
COLORMAPS: dict[str, list[tuple[float, int, int, int]]] = {
    "hot": [(0.0, 80, 0, 0), (0.4, 230, 30, 0), (0.75, 255, 200, 0), (1.0, 255, 255, 255)],
    "jet": [(0.0, 0, 0, 160), (0.35, 0, 200, 255), (0.6, 120, 255, 120), (0.8, 255, 200, 0),
            (1.0, 200, 0, 0)],
    "magenta": [(0.0, 90, 0, 90), (0.5, 230, 0, 230), (1.0, 255, 180, 255)],
    "green": [(0.0, 0, 80, 0), (0.5, 0, 220, 0), (1.0, 200, 255, 200)],
}  # fmt: skip
ALPHA_RAMP = (0.3, 0.75)  # fraction of the map's range where alpha goes 0 → 1


def check_axis(axis: str) -> str:
    if axis not in AXES:
        raise InputError(f"unknown view axis {axis!r} (use one of {', '.join(AXES)})")
    return axis


def axis_length(shape: tuple[int, ...], axis: str) -> int:
    """How many planes a (z, y, x) array has along the view axis."""
    return int(shape[{"axial": 0, "coronal": 1, "sagittal": 2}[check_axis(axis)]])


def _superior_first(volume: Volume) -> bool:
    """Whether slice index 0 is the top (superior) end; LPS +z is superior."""
    return float(np.asarray(volume.direction)[2, 2]) < 0


def plane(volume: Volume, array: np.ndarray, axis: str, index: int) -> np.ndarray:
    """The 2D plane of `array` (shaped like the volume) for display: axial as stored, coronal
    and sagittal with the patient's head up."""
    index = int(np.clip(index, 0, axis_length(array.shape, axis) - 1))
    if axis == "axial":
        return array[index]
    image = array[:, index, :] if axis == "coronal" else array[:, :, index]
    return image if _superior_first(volume) else image[::-1]


def voxel_of(volume: Volume, axis: str, index: int, row: int, col: int) -> tuple[int, int, int]:
    """The (z, y, x) voxel shown at (row, col) of `plane(volume, ..., axis, index)`."""
    if axis == "axial":
        return (index, row, col)
    z = row if _superior_first(volume) else volume.n_slices - 1 - row
    return (z, index, col) if axis == "coronal" else (z, col, index)


def pixel_of(volume: Volume, axis: str, voxel: tuple[int, int, int]) -> tuple[int, int]:
    """(row, col) where `voxel` (z, y, x) appears in that axis' plane; inverse of `voxel_of`."""
    z, y, x = voxel
    if axis == "axial":
        return (y, x)
    row = z if _superior_first(volume) else volume.n_slices - 1 - z
    return (row, x) if axis == "coronal" else (row, y)


def plane_axes(volume: Volume, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """LPS unit vectors along the rows (downwards) and columns (rightwards) of the shown plane."""
    x_dir, y_dir, z_dir = np.asarray(volume.direction, dtype=float).T
    down_z = z_dir if _superior_first(volume) else -z_dir
    rows, cols = {"axial": (y_dir, x_dir), "coronal": (down_z, x_dir), "sagittal": (down_z, y_dir)}[
        check_axis(axis)
    ]
    return rows, cols


def orientation_letters(volume: Volume, axis: str) -> dict[str, str]:
    """Patient direction at each edge of the shown plane, e.g. {"left": "R", "top": "A", ...}."""

    def letter(v: np.ndarray) -> str:
        k = int(np.argmax(np.abs(v)))
        return ("LR", "PA", "SI")[k][0 if v[k] > 0 else 1]

    rows, cols = plane_axes(volume, axis)
    return {
        "right": letter(cols),
        "left": letter(-cols),
        "bottom": letter(rows),
        "top": letter(-rows),
    }


def plane_spacing(volume: Volume, axis: str) -> tuple[float, float]:
    """(row, column) pixel size in mm of `plane(...)` for the view axis."""
    dz, dy, dx = (float(s) for s in volume.spacing)
    return {"axial": (dy, dx), "coronal": (dz, dx), "sagittal": (dz, dy)}[check_axis(axis)]


def window_bounds(window: tuple[float, float]) -> tuple[float, float]:
    """(center, width) → (low, high) display levels."""
    center, width = window
    width = max(float(width), 1e-6)
    return (center - width / 2, center + width / 2)


def window_to_uint8(image: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    low, high = window_bounds(window)
    scaled = (image.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def colormap_lut(name: str) -> np.ndarray:
    """(256, 4) uint8 RGBA lookup table of a colour map, transparent at the low end."""
    if name not in COLORMAPS:
        raise InputError(f"unknown colour map {name!r} (use one of {', '.join(COLORMAPS)})")
    points = np.array(COLORMAPS[name], dtype=float)
    x = np.linspace(0.0, 1.0, 256)
    rgb = [np.interp(x, points[:, 0], points[:, c]) for c in (1, 2, 3)]
    alpha = np.clip((x - ALPHA_RAMP[0]) / (ALPHA_RAMP[1] - ALPHA_RAMP[0]), 0.0, 1.0) * 255
    return np.stack([*rgb, alpha], axis=1).round().astype(np.uint8)


def argb32_lut(colormap: str, opacity: float) -> np.ndarray:
    """(256,) uint32 premultiplied 0xAARRGGBB (Qt's ARGB32_Premultiplied) with opacity baked in."""
    lut = colormap_lut(colormap).astype(np.uint32)
    alpha = (lut[:, 3] * float(np.clip(opacity, 0.0, 1.0))).round().astype(np.uint32)
    r, g, b = ((lut[:, c] * alpha + 127) // 255 for c in range(3))
    return (alpha << 24) | (r << 16) | (g << 8) | b


OUTLINE_ARGB32 = np.uint32(0xFF000000 | OUTLINE_RGB[0] << 16 | OUTLINE_RGB[1] << 8 | OUTLINE_RGB[2])


def lut_index(values: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """Map values onto 0..255 lookup-table indices over `levels` (low, high)."""
    low, high = levels
    return np.clip((values - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)


def overlay_argb32(
    values: np.ndarray, labels: np.ndarray, levels: tuple[float, float], lut32: np.ndarray
) -> np.ndarray:
    """One premultiplied ARGB32 layer: the coloured map with the finding outlines on top."""
    layer = lut32[lut_index(values, levels)]
    layer[outline(labels)] = OUTLINE_ARGB32
    return layer


def overlay_levels(result: Result) -> tuple[float, float]:
    """Display range of the anomaly map: 0 to a robust maximum (subsampled for speed)."""
    sample = result.anomaly_map[::2, ::4, ::4]
    positive = sample[sample > 0]
    high = float(np.percentile(positive, 99.5)) if positive.size else 0.0
    return (0.0, high if high > 0 else 1.0)


def outline(labels: np.ndarray) -> np.ndarray:
    """Boolean mask of the boundary pixels of every labelled region in a 2D label image."""
    inside = labels != 0
    if not inside.any():
        return inside
    edge = np.zeros_like(inside)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & inside


def _square_pixels(image: np.ndarray, spacing: tuple[float, float], order: int) -> np.ndarray:
    """Resample rows so that pixels are square (columns keep their count)."""
    factor = spacing[0] / spacing[1]
    if abs(factor - 1.0) < 1e-3:
        return image
    return ndimage.zoom(image, (factor, 1.0), order=order)


def render_view(
    volume: Volume,
    result: Result | None = None,
    slice_index: int | None = None,
    window: tuple[float, float] | None = None,
    overlay: bool = True,
    axis: str = "axial",
    colormap: str = "hot",
    opacity: float = DEFAULT_OPACITY,
) -> np.ndarray:
    """RGBA uint8 image (rows, cols, 4) of one plane with square pixels, as the viewer shows it.

    `slice_index` None is the middle plane (or, with a result, the plane of the top finding);
    `window` None is the file's window or a percentile fit; `overlay` draws the anomaly map and
    the finding outlines when a result is given."""
    check_axis(axis)
    if slice_index is None:
        slice_index = _default_index(volume, result, axis)
    window = window or default_window(volume)
    spacing = plane_spacing(volume, axis)
    gray = window_to_uint8(plane(volume, volume.array, axis, slice_index), window)
    rgb = np.repeat(_square_pixels(gray, spacing, order=1)[..., None], 3, axis=2).astype(np.float32)
    if overlay and result is not None:
        values = _square_pixels(plane(volume, result.anomaly_map, axis, slice_index), spacing, 1)
        colours = colormap_lut(colormap)[lut_index(values, overlay_levels(result))]
        colours = colours.astype(np.float32)
        alpha = colours[..., 3:] / 255.0 * float(np.clip(opacity, 0.0, 1.0))
        rgb = rgb * (1.0 - alpha) + colours[..., :3] * alpha
        labels = _square_pixels(plane(volume, result.labels, axis, slice_index), spacing, 0)
        rgb[outline(labels)] = OUTLINE_RGB
    out = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).round()
    out[..., 3] = 255
    return out


def _default_index(volume: Volume, result: Result | None, axis: str) -> int:
    """The middle plane, or the plane through the centre of the strongest finding."""
    if result is None or not result.findings:
        return axis_length(volume.shape, axis) // 2
    top = max(result.findings, key=lambda f: f.peak)
    dim = AXES.index(axis)
    return (top.bbox[dim] + top.bbox[dim + 3] - 1) // 2
