"""The on-image text of a view's four corners, as radiology viewers show it, Qt-free.

Top left: patient, ID, study date; top right: series, modality; bottom left: slice n/N and its
position in mm, W/L; bottom right: zoom, model and verdict (the coronal and sagittal views, small
beside the axial one, leave out patient and model). De-identified display replaces the
patient's identity and the free-text descriptions (as the de-identified report does).
"""

from __future__ import annotations

from dataclasses import dataclass

from ctviewer.render import axis_length
from ctviewer.report.deidentify import report_header
from ctviewer.volume import Result, Volume

POSITION_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}  # LPS component along the view axis
VERDICT_WORDS = {"not_assessed": "not assessed", "flagged": "FLAGGED", "listed": "regions listed",
                 "clear": "no region above threshold"}  # fmt: skip


@dataclass(frozen=True)
class CornerText:
    top_left: str
    top_right: str
    bottom_left: str
    bottom_right: str


def slice_position_mm(volume: Volume, axis: str, index: int) -> float:
    """Patient position (mm) of plane `index` along the view axis, at the volume's centre."""
    z, y, x = (s / 2 for s in volume.shape)
    voxel = {"axial": (index, y, x), "coronal": (z, index, x)}.get(axis, (z, y, index))
    return volume.index_to_mm(*voxel)[POSITION_AXIS[axis]]


def slice_text(volume: Volume, axis: str, index: int) -> str:
    """`12/238  -45.0 mm`."""
    n = axis_length(volume.shape, axis)
    return f"{index + 1}/{n}  {slice_position_mm(volume, axis, index):.1f} mm"


def corner_text(
    volume: Volume,
    result: Result | None,
    axis: str,
    index: int,
    window: tuple[float, float],
    zoom: float,
    deidentified: bool = False,
) -> CornerText:
    """The four corners for plane `index` of `axis`; `zoom` is screen pixels per image pixel."""
    header = report_header(volume, deidentified)
    modality = str(volume.meta.get("Modality", "") or ("CT" if volume.is_hu else "image"))
    series = header.series_description or ("" if deidentified else volume.source.split("/")[-1])
    top_left = "\n".join((header.patient_name, f"ID {header.patient_id}",
                          f"Study {header.study_date}"))  # fmt: skip
    top_right = "\n".join(line for line in (series, f"{modality} {axis}") if line)
    center, width = window
    bottom_left = f"{slice_text(volume, axis, index)}\nW {width:.4g}  L {center:.4g}"
    zoom_text = f"zoom {zoom:.2f}×"
    if axis != "axial":  # the small MPR views: where and how, not whom again
        return CornerText("", top_right, bottom_left, zoom_text)
    if result is None:
        model = "not analysed"
    else:
        model = f"{result.model.name}\n{VERDICT_WORDS[result.state]}"
    return CornerText(top_left, top_right, bottom_left, f"{zoom_text}\n{model}")
