"""The dataclasses that flow between stages.

io → Volume → pipeline.detect → Result → ui / report / feedback.

Conventions: arrays are numpy `(z, y, x)`; `Volume.array` is HU for CT: int16 from a DICOM series
whose rescale gives whole numbers that fit it (most CT: half the memory), else float32 (and [0, 1]
float32 with `is_hu=False` for 8-bit PNG/JPG), so arithmetic on it must not assume a float type;
spacing is `(z, y, x)` in mm; positions are patient LPS mm, the DICOM convention, which SimpleITK
uses too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------
# Discovery (headers only)


@dataclass
class SetAside:
    """A file found while scanning that we will not show, and why."""

    path: str
    reason: str


@dataclass
class SeriesInfo:
    """One displayable stack, from headers only. `key` is unique even when a DICOM series was
    split into several stacks (e.g. localizers and the axial volume sharing a SeriesInstanceUID)."""

    key: str
    series_uid: str | None
    modality: str
    description: str
    files: list[str]  # the files of this stack; a single multi-frame file holds many images
    n_images: int
    rows: int
    cols: int
    spacing: tuple[float, float, float] | None  # (z, y, x) mm, estimated from headers
    study_uid: str | None = None
    patient_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    kind: str = "dicom"  # "dicom" | "nifti" | "image" (PNG/JPG) | other SimpleITK formats
    scan: Any = field(default=None, repr=False, compare=False)  # DICOM: the headers discovery
    # read (io.headers.ScannedHeaders), so that reading the series does not parse them again


@dataclass
class StudyInfo:
    study_uid: str | None
    date: str
    description: str
    series: list[SeriesInfo] = field(default_factory=list)


@dataclass
class PatientInfo:
    patient_id: str
    name: str
    studies: list[StudyInfo] = field(default_factory=list)


@dataclass
class StudyIndex:
    """Everything found under a path: patients → studies → series, plus files set aside."""

    root: str
    patients: list[PatientInfo] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)

    def all_series(self) -> list[SeriesInfo]:
        return [s for p in self.patients for st in p.studies for s in st.series]


# ---------------------------------------------------------------------------------------------
# Pixels


@dataclass
class Volume:
    """A 3D image ready to display and analyse; never loses its geometry."""

    array: np.ndarray  # (z, y, x) int16 or float32 (see the module docstring)
    spacing: tuple[float, float, float]  # (z, y, x) mm
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)  # LPS mm of voxel (0, 0, 0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: x, y, z axes in LPS
    is_hu: bool = True  # False for 8-bit PNG/JPG scaled to [0, 1]
    source: str = ""  # file or folder it came from
    series_uid: str | None = None
    files: list[str] = field(default_factory=list)  # DICOM files in slice order (for exports)
    window: tuple[float, float] | None = None  # (center, width) from the file, if it had one
    meta: dict[str, Any] = field(default_factory=dict)  # PatientName, PatientID, StudyDate, ...
    warnings: list[str] = field(default_factory=list)
    spacing_known: bool = True  # False for PNG/JPG without a physical pixel size (measure in px)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def n_slices(self) -> int:
        return int(self.array.shape[0])

    @property
    def item_key(self) -> str:
        """The identity of this series in the decision store: its SeriesInstanceUID, else source."""
        return self.series_uid or self.source

    def index_to_mm(self, z: float, y: float, x: float) -> tuple[float, float, float]:
        """Voxel index (z, y, x) → patient LPS position in mm."""
        offset = self.direction @ (np.array([x, y, z], dtype=float) * np.array(self.spacing[::-1]))
        return tuple(float(v) for v in np.asarray(self.origin) + offset)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Detection


@dataclass
class ModelInfo:
    """What produced a Result (goes into results.json, reports and feedback rows)."""

    name: str
    version: str
    threshold: float
    device: str = "cpu"
    body_part: str = ""  # what the model was trained on: "chest", "head", ... ("" unknown)

    def to_json(self) -> dict[str, Any]:
        """The `model` object of a results.json item."""
        return {"name": self.name, "version": self.version, "body_part": self.body_part}


@dataclass
class Finding:
    """One segmented region of the anomaly map. `id` is its label in `Result.labels`."""

    id: int
    slice_start: int
    slice_end: int  # inclusive
    bbox: tuple[int, int, int, int, int, int]  # z0, y0, x0, z1, y1, x1 voxels (end exclusive)
    centroid_mm: tuple[float, float, float]  # patient LPS
    voxels: int
    size_mm3: float | None  # volume for 3D series
    area_mm2: float | None  # area for a single image of known pixel size
    peak: float
    mean: float
    area_px: int | None = None  # area for a single image whose pixel size is unknown (PNG/JPG)

    def size_text(self) -> str:
        """`526 mm³` for a series, `40 mm²` for a single image, `52 px²` without a pixel size."""
        if self.size_mm3 is not None:
            return f"{self.size_mm3:.0f} mm³"
        if self.area_mm2 is not None:
            return f"{self.area_mm2:.0f} mm²"
        if self.area_px is not None:
            return f"{self.area_px} px²"
        return f"{self.voxels} voxels"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "slice_start": self.slice_start,
            "slice_end": self.slice_end,
            "bbox": list(self.bbox),
            "centroid_mm": [round(v, 2) for v in self.centroid_mm],
            "voxels": self.voxels,
            "peak": round(self.peak, 6),
            "mean": round(self.mean, 6),
        }
        if self.size_mm3 is not None:
            data["size_mm3"] = round(self.size_mm3, 2)
        if self.area_mm2 is not None:
            data["area_mm2"] = round(self.area_mm2, 2)
        if self.area_px is not None:
            data["area_px"] = self.area_px
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """The inverse of `to_json` (a results.json finding)."""

        def optional(key: str, kind: type) -> Any:
            return None if data.get(key) is None else kind(data[key])

        return cls(
            id=int(data["id"]),
            slice_start=int(data["slice_start"]),
            slice_end=int(data["slice_end"]),
            bbox=tuple(int(v) for v in data["bbox"]),  # type: ignore[arg-type]
            centroid_mm=tuple(float(v) for v in data["centroid_mm"]),  # type: ignore[arg-type]
            voxels=int(data.get("voxels", 0)),
            size_mm3=optional("size_mm3", float),
            area_mm2=optional("area_mm2", float),
            peak=float(data["peak"]),
            mean=float(data["mean"]),
            area_px=optional("area_px", int),
        )


@dataclass
class Result:
    """The outcome of `pipeline.detect` for one Volume. Decision support, not a diagnosis."""

    source: str
    series_uid: str | None
    model: ModelInfo
    score: float  # series/image score (MAE-based)
    threshold: float
    abnormal: bool  # score > threshold: "flagged for review"
    slice_scores: np.ndarray  # (z,)
    anomaly_map: np.ndarray  # (z, y, x) filtered, at the volume's resolution: float16 from
    # detect (for display; scores and findings are measured in float32), float32 elsewhere
    labels: np.ndarray  # (z, y, x) unsigned int (the smallest that holds the finding count;
    # int32 in a not-assessed Result), 0 = background, k = Finding.id
    findings: list[Finding] = field(default_factory=list)
    assessed: bool = True  # False: no model fits this series; nothing above is a verdict
    not_assessed_reason: str = ""  # one line, shown wherever the verdict would be
    calibration: str = ""  # which of the model's calibrations judged it, e.g. "4.69 mm slices"

    @classmethod
    def not_assessed(cls, volume: Volume, reason: str, model: ModelInfo | None = None) -> Result:
        """A Result that says why this series was not analysed (never a verdict)."""
        empty = np.zeros(volume.shape, dtype=np.float32)
        return cls(
            source=volume.source,
            series_uid=volume.series_uid,
            model=model or ModelInfo(name="none", version="", threshold=float("nan")),
            score=float("nan"),
            threshold=model.threshold if model else float("nan"),
            abnormal=False,
            slice_scores=np.zeros(0, dtype=np.float32),
            anomaly_map=empty,
            labels=np.zeros(volume.shape, dtype=np.int32),
            assessed=False,
            not_assessed_reason=reason,
        )

    @property
    def item_key(self) -> str:
        """The identity of the analysed series in the decision store (see `Volume.item_key`)."""
        return self.series_uid or self.source

    @property
    def state(self) -> str:
        """One of not_assessed, flagged, listed (regions below the series threshold) or clear:
        what colours the verdict in the viewer, the CLI and the report (not assessed is never
        shown as clear)."""
        if not self.assessed:
            return "not_assessed"
        if self.abnormal:
            return "flagged"
        return "listed" if self.findings else "clear"

    def verdict(self) -> tuple[str, str]:
        """(headline, detail), worded as decision support; the viewer and the report show these.

        The series score against its threshold decides "flagged"; regions found in the map while
        the score stays below it are still listed for a look. A series no model fits is "Not
        assessed", with the reason."""
        if not self.assessed:
            return "Not assessed", self.not_assessed_reason
        n = len(self.findings)
        side = "above" if self.abnormal else "not above"
        detail = (
            f"Series score {self.score:.4g} ({side} the series threshold {self.threshold:.4g}); "
            f"{n} region{'s' if n != 1 else ''} above the map threshold."
        )
        if self.abnormal:
            return "Flagged for review", detail
        if n:
            return "Not flagged; regions listed below for a look", detail
        return "No region above threshold", detail

    def to_json(self, map_path: str | None = None) -> dict[str, Any]:
        """One item of results.json (see the architecture doc)."""
        item: dict[str, Any] = {
            "source": self.source,
            "slices": int(self.anomaly_map.shape[0]),
            "assessed": bool(self.assessed),
            "not_assessed_reason": "" if self.assessed else self.not_assessed_reason,
            "model": self.model.to_json(),
            "score": float(self.score) if self.assessed else None,
            "threshold": float(self.threshold) if np.isfinite(self.threshold) else None,
            "abnormal": bool(self.abnormal),
            "slice_scores": [round(float(s), 6) for s in self.slice_scores],
            "findings": [f.to_json() for f in self.findings],
        }
        if self.series_uid:
            item["series_uid"] = self.series_uid
        if self.calibration:
            item["calibration"] = self.calibration
        if map_path is not None:
            item["map"] = map_path
        return item
