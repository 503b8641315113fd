"""What a screening worker holds and does: the models, loaded once, and one series → Outcome.

`ModelSpec` says which models a run uses: the one given with `--model`, else the installed
catalog (each series gets the model that fits it, through `pipeline.analyse`). For workers on
other machines (Ray) `ModelSpec.shipped()` carries the checkpoint files' bytes, which each worker
writes into its own temporary folder once, so a cluster needs no shared model folder.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ctviewer.errors import CTViewerError
from ctviewer.screen.outcome import Outcome
from ctviewer.volume import SeriesInfo


@dataclass
class ModelSpec:
    """The models of a run: `paths` [(checkpoint, catalog source)], `explicit` when the user
    named one model; `data` holds the files' bytes once shipped."""

    paths: list[tuple[str, str]]
    explicit: bool = False
    device: str = "auto"
    data: list[bytes] = field(default_factory=list)

    @classmethod
    def for_run(cls, model: str | Path | None, device: str = "auto") -> tuple[ModelSpec, list[str]]:
        """The given model, else the installed catalog; with the catalog's warnings."""
        if model is not None:
            path = Path(model)
            if not path.is_file():
                raise CTViewerError("no such model file", path)
            return cls([(str(path.resolve()), "user")], explicit=True, device=device), []
        from ctviewer.model.catalog import ModelCatalog

        catalog = ModelCatalog.installed()
        entries = [(str(e.path), e.source) for e in catalog.entries]
        return cls(entries, device=device), list(catalog.problems)

    def shipped(self) -> ModelSpec:
        """The same spec with the checkpoints' bytes, for workers that cannot read our disk."""
        return replace(self, data=[Path(p).read_bytes() for p, _ in self.paths])


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class Analyst:
    """A worker's state: its models, loaded once (`pipeline.ModelCache`), and `screen(series)`."""

    def __init__(self, spec: ModelSpec, threads: int | None = None) -> None:
        import torch

        from ctviewer.model.catalog import ModelCatalog
        from ctviewer.pipeline import ModelCache

        if threads:
            torch.set_num_threads(threads)
        self.spec = spec
        self._tmp: tempfile.TemporaryDirectory | None = None
        paths = [(Path(p), source) for p, source in spec.paths]
        if spec.data:
            self._tmp = tempfile.TemporaryDirectory(prefix="ctviewer-screen-models-")
            paths = [
                (self._write(i, Path(p).name, data), source)
                for i, ((p, source), data) in enumerate(zip(spec.paths, spec.data, strict=True))
            ]
        self.cache = ModelCache()
        self.model = self.cache.load(paths[0][0], spec.device) if spec.explicit else None
        self.catalog = None if spec.explicit else ModelCatalog.from_paths(paths)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def _write(self, index: int, name: str, data: bytes) -> Path:
        assert self._tmp is not None
        folder = Path(self._tmp.name) / str(index)
        folder.mkdir()
        (folder / name).write_bytes(data)
        return folder / name

    def screen(self, series: SeriesInfo) -> Outcome:
        """Read and analyse one series; a series that cannot be read is a failed Outcome with
        the one-line reason (never an exception: one bad series does not stop a run)."""
        from ctviewer.io import load_series
        from ctviewer.pipeline import analyse

        start = time.perf_counter()
        extra = {"worker": self.worker}
        try:
            volume = load_series(series)
            result = analyse(volume, self.model, self.catalog, self.spec.device, self.cache)
            outcome = Outcome.from_result(series.key, result, **extra)
        except CTViewerError as error:
            outcome = Outcome(key=series.key, status="failed", error=str(error), **extra)
        except (MemoryError, RuntimeError, ValueError, OSError) as error:
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            outcome = Outcome(key=series.key, status="failed", error=reason, **extra)
        outcome.seconds = round(time.perf_counter() - start, 3)
        outcome.worker_peak_rss_mb = round(peak_rss_mb(), 1)
        return outcome
