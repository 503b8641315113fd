"""What a worker sends back for one series (`Outcome`), and how its map travels and is kept:
the non-zero voxels of the map and the finding labels, compressed (`encode_maps` / `decode_maps`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctviewer.volume import Result


@dataclass
class Outcome:
    """What a worker sends back for one series: its verdict (or why none) and its map."""

    key: str
    status: str  # "done" | "failed"
    source: str = ""
    assessed: bool = False
    not_assessed_reason: str = ""
    score: float | None = None
    threshold: float | None = None
    abnormal: bool = False
    findings: list[dict] = field(default_factory=list)  # dataclasses.asdict(Finding)
    model: dict = field(default_factory=dict)  # asdict(ModelInfo)
    slices: int = 0
    seconds: float = 0.0
    worker: str = ""
    worker_peak_rss_mb: float = 0.0
    maps: bytes | None = None  # encode_maps(...) of an assessed series
    error: str = ""  # one line, for a failed series

    @classmethod
    def from_result(cls, key: str, result: Result, **extra: Any) -> Outcome:
        assessed = bool(result.assessed)
        return cls(
            key=key,
            status="done",
            source=result.source,
            assessed=assessed,
            not_assessed_reason="" if assessed else result.not_assessed_reason,
            score=float(result.score) if assessed else None,
            threshold=float(result.threshold) if np.isfinite(result.threshold) else None,
            abnormal=bool(result.abnormal),
            findings=[asdict(f) for f in result.findings],
            model=asdict(result.model),
            slices=int(result.anomaly_map.shape[0]),
            maps=encode_maps(result) if assessed else None,
            **extra,
        )


def encode_maps(result: Result) -> bytes:
    """The map's non-zero voxels (values as float16: for display only; scores and findings are
    kept exactly in the row) with the finding labels there, and the slice scores. A lung map is
    non-zero on ~5 % of a chest series: stored as the steps between non-zero voxels, a 300×512²
    map took 7.7 MB in 1.1-2.2 s where `np.savez_compressed` of the whole map took 8.4 MB in
    5.5-7.4 s (2 busy cores)."""
    amap, labels = result.anomaly_map, result.labels
    index = np.flatnonzero((amap != 0) | (labels != 0))
    kept = labels.ravel()[index]
    arrays = {
        "shape": np.asarray(amap.shape, dtype=np.int64),
        "steps": np.diff(index, prepend=0).astype(np.uint32 if amap.size < 2**32 else np.int64),
        "values": amap.ravel()[index].astype(np.float16),
        "labels": kept.astype(np.uint16) if kept.max(initial=0) < 2**16 else kept,
        "slice_scores": np.asarray(result.slice_scores, dtype=np.float32),
    }
    buffer = io.BytesIO()  # as np.savez_compressed writes it, at the fastest level
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


def decode_maps(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(anomaly map float32, labels int32, slice scores) from an `encode_maps` file."""
    with np.load(path, allow_pickle=False) as data:
        shape = tuple(int(n) for n in data["shape"])
        amap = np.zeros(shape, dtype=np.float32)
        labels = np.zeros(shape, dtype=np.int32)
        index = np.cumsum(data["steps"], dtype=np.int64)
        amap.ravel()[index] = data["values"]
        labels.ravel()[index] = data["labels"]
        return amap, labels, data["slice_scores"]
