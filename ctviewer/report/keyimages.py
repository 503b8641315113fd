"""Key images for the PDF, PNG export ("save view") and DICOM SC — Qt-free RGB numpy arrays.

The slice, window/level, overlay and outlines come from `render.render_view` (exactly what the
viewer shows, with square pixels); this module scales it, marks the finding it is about, and adds
orientation letters and a scale bar. Nothing patient-related is ever drawn: the only text is the
orientation letters and the scale-bar length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ctviewer.errors import CTViewerError
from ctviewer.feedback.store import Decision
from ctviewer.render import orientation_letters, render_view
from ctviewer.volume import Finding, Result, Volume

SELECTED_BOX_RGB = (255, 220, 0)  # yellow box around the finding a key image is about
TEXT_RGB = (255, 255, 255)
MAX_KEY_IMAGES = 12  # per report / DICOM export; the table lists every finding


def nice_length(longest: float) -> float:
    """The largest 1/2/5 × 10^k length not above `longest` (mm, or pixels)."""
    if longest <= 0:
        return 0.0
    power = 10.0 ** np.floor(np.log10(longest))
    for step in (5.0, 2.0, 1.0):
        if step * power <= longest:
            return float(step * power)
    return float(power)


def scale_label(length: float, spacing_known: bool) -> str:
    """`5 cm`, `20 mm`, or `50 px` for an image without a physical pixel size."""
    if not spacing_known:
        return f"{length:g} px"
    return f"{length / 10:g} cm" if length >= 10 else f"{length:g} mm"


def key_image(
    volume: Volume,
    result: Result | None,
    slice_index: int,
    window: tuple[float, float] | None = None,
    overlay: bool = True,
    selected: int | None = None,
    width: int = 512,
    annotate: bool = True,
) -> np.ndarray:
    """One axial slice as the viewer draws it (`render.render_view`), scaled to `width`, with a
    box around finding `selected`, orientation letters and a scale bar → RGB uint8 (h, w, 3)."""
    if not 0 <= slice_index < volume.n_slices:
        raise CTViewerError(f"slice {slice_index} is outside 0..{volume.n_slices - 1}")
    view = render_view(volume, result, slice_index, window, overlay=overlay)[..., :3]
    rows, cols = volume.array.shape[1:]
    scale = width / cols  # display pixels per column; rows were already made square
    height = max(1, round(view.shape[0] * scale))
    resample = Image.NEAREST if scale >= 2 else Image.BILINEAR  # keep outlines crisp
    image = Image.fromarray(np.ascontiguousarray(view)).resize((width, height), resample)
    if result is not None and selected is not None:
        finding = next((f for f in result.findings if f.id == selected), None)
        if finding is not None:
            _box(image, finding.bbox, scale_x=scale, scale_y=height / rows)
    if annotate:
        # scale bar units per display pixel: mm, or the image's own pixels when it has no size
        step = float(volume.spacing[2]) if volume.spacing_known else 1.0
        _annotate(image, volume, units_per_px=cols * step / width)
    return np.asarray(image)


def _box(image: Image.Image, bbox: tuple[int, ...], scale_x: float, scale_y: float) -> None:
    """A rectangle a little outside the finding's in-plane bounding box."""
    _, y0, x0, _, y1, x1 = bbox
    margin = max(4, image.size[0] // 64)
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        [
            x0 * scale_x - margin,
            y0 * scale_y - margin,
            x1 * scale_x + margin,
            y1 * scale_y + margin,
        ],
        outline=SELECTED_BOX_RGB,
        width=max(2, image.size[0] // 170),
    )


def _annotate(image: Image.Image, volume: Volume, units_per_px: float) -> None:
    """Orientation letters at the edge midpoints and a scale bar at the bottom right."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    font = ImageFont.load_default(size=max(12, w // 24))
    pad = max(4, w // 80)
    letters = orientation_letters(volume, "axial")
    anchors = {
        "left": ((pad, h / 2), "lm"),
        "right": ((w - pad, h / 2), "rm"),
        "top": ((w / 2, pad), "mt"),
        "bottom": ((w / 2, h - pad), "mb"),
    }
    for side, (xy, anchor) in anchors.items():
        draw.text(
            xy,
            letters[side],
            fill=TEXT_RGB,
            font=font,
            anchor=anchor,
            stroke_width=1,
            stroke_fill=(0, 0, 0),
        )
    length = nice_length(w * units_per_px / 4)
    if length <= 0:
        return
    bar_px = round(length / units_per_px)
    x1, y = w - 3 * pad, h - 3 * pad
    draw.rectangle(
        [x1 - bar_px, y - max(2, w // 200), x1, y], fill=(255, 255, 255), outline=(0, 0, 0)
    )
    draw.text(
        (x1 - bar_px / 2, y - pad),
        scale_label(length, volume.spacing_known),
        fill=TEXT_RGB,
        font=font,
        anchor="mb",
        stroke_width=1,
        stroke_fill=(0, 0, 0),
    )


def key_findings(
    result: Result, decisions: dict[int | None, Decision] | None = None
) -> list[Finding]:
    """The findings that get a key image: the `MAX_KEY_IMAGES` strongest (by peak) of those the
    reviewer did not reject (`decisions`: finding id → latest decision)."""
    decisions = decisions or {}
    shown = [
        f for f in result.findings if f.id not in decisions or decisions[f.id].decision != "reject"
    ]
    return sorted(shown, key=lambda f: -f.peak)[:MAX_KEY_IMAGES]


def peak_slice(result: Result, finding_id: int) -> int:
    """The slice where a finding's anomaly map peaks (inside the finding)."""
    mask = result.labels == finding_id
    if not mask.any():
        raise CTViewerError(f"finding {finding_id} has no voxels in the label map")
    scores = np.where(mask, result.anomaly_map, -np.inf).reshape(mask.shape[0], -1).max(axis=1)
    return int(np.argmax(scores))


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB(A) uint8 array as PNG (no metadata chunks, so nothing but pixels)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, format="PNG")
    except OSError as error:
        raise CTViewerError(f"cannot write PNG ({error.strerror or error})", path) from None
    return path


def save_key_image(
    path: str | Path,
    volume: Volume,
    result: Result | None,
    slice_index: int,
    window: tuple[float, float] | None = None,
    overlay: bool = True,
    selected: int | None = None,
) -> Path:
    """The viewer's "save view": the slice as shown (overlay, outlines, letters, scale) → PNG."""
    image = key_image(volume, result, slice_index, window, overlay=overlay, selected=selected)
    return save_png(image, path)
