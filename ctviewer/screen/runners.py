"""Where series are analysed: in this process, in a local process pool, or on Ray actors.

Every runner has the same small interface (`submit` a series, `done` gives back Outcomes as they
finish, `close`), so that the screening loop (`screen.run`) is the one writer of the worklist
whatever runs the analyses. Each worker holds one `Analyst`: the models are loaded once per
worker, not once per series. Pool and Ray workers ignore Ctrl-C; the loop decides what stops.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import signal
from collections import deque
from typing import Protocol

from ctviewer.errors import CTViewerError
from ctviewer.screen.analyst import Analyst, ModelSpec
from ctviewer.screen.outcome import Outcome
from ctviewer.volume import SeriesInfo

RAY_INSTALL = "pip install 'ctviewer[cluster]' (or: pip install 'ray[default]')"
QUEUED_PER_WORKER = 2  # a second series waits at each worker, so none idles between two


class Runner(Protocol):
    name: str
    workers: int

    @property
    def capacity(self) -> int: ...

    def start(self) -> None: ...

    def submit(self, series: SeriesInfo) -> None: ...

    def in_flight(self) -> int: ...

    def done(self, timeout: float) -> list[Outcome]: ...

    def close(self, abort: bool = False) -> None: ...


def default_threads(workers: int) -> int:
    """Torch threads per worker: the machine's cores shared out."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class SerialRunner:
    """Analyses in this process, one series at a time (`--workers 1`)."""

    name = "serial"
    workers = 1
    capacity = 1

    def __init__(self, spec: ModelSpec, threads: int | None = None) -> None:
        self.spec, self.threads = spec, threads or default_threads(1)
        self._queue: deque[SeriesInfo] = deque()
        self._analyst: Analyst | None = None

    def start(self) -> None:
        self._analyst = Analyst(self.spec, self.threads)

    def submit(self, series: SeriesInfo) -> None:
        self._queue.append(series)

    def in_flight(self) -> int:
        return len(self._queue)

    def done(self, timeout: float) -> list[Outcome]:
        if not self._queue or self._analyst is None:
            return []
        series = self._queue.popleft()  # a Ctrl-C inside loses it; its claim is released
        return [self._analyst.screen(series)]

    def close(self, abort: bool = False) -> None:
        self._queue.clear()


_ANALYST: Analyst | None = None  # the one Analyst of a pool worker process


def _start_pool_worker(spec: ModelSpec, threads: int) -> None:
    global _ANALYST
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the run, not each worker
    _ANALYST = Analyst(spec, threads)


def _screen_in_pool(series: SeriesInfo) -> Outcome:
    assert _ANALYST is not None
    return _ANALYST.screen(series)


class PoolRunner:
    """A local pool of `workers` processes (spawned: no torch or Qt state is forked)."""

    name = "pool"

    def __init__(self, spec: ModelSpec, workers: int, threads: int | None = None) -> None:
        self.spec, self.workers = spec, workers
        self.threads = threads or default_threads(workers)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._futures: dict[cf.Future, str] = {}

    @property
    def capacity(self) -> int:
        return QUEUED_PER_WORKER * self.workers

    def start(self) -> None:
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_pool_worker,
            initargs=(self.spec, self.threads),
        )

    def submit(self, series: SeriesInfo) -> None:
        assert self._pool is not None
        self._futures[self._pool.submit(_screen_in_pool, series)] = series.key

    def in_flight(self) -> int:
        return len(self._futures)

    def done(self, timeout: float) -> list[Outcome]:
        finished, _ = cf.wait(list(self._futures), timeout, return_when=cf.FIRST_COMPLETED)
        outcomes = []
        for future in finished:
            key = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except cf.process.BrokenProcessPool:
                raise CTViewerError(
                    f"a screening worker process died (out of memory?) while on series {key};"
                    " run the same command again to resume"
                ) from None
        return outcomes

    def close(self, abort: bool = False) -> None:
        if self._pool is None:
            return
        if abort:  # Python 3.11 has no terminate_workers(): stop the processes ourselves
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        self._futures.clear()


class _ScreenActor:
    """A Ray actor: one Analyst, its models shipped once through the object store."""

    def __init__(self, spec: ModelSpec, threads: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.analyst = Analyst(spec, threads)

    def screen(self, series: SeriesInfo) -> Outcome:
        return self.analyst.screen(series)


class RayRunner:
    """Ray actors on a local instance (`address="local"`, on 127.0.0.1) or an existing
    cluster (`address="HOST:PORT"` or "auto"). `workers` actors (default: one per CPU of the
    cluster), each with a share of the cluster's GPUs when it has any. The series' files must
    be readable where the actors run (a shared archive); the models travel with the job."""

    name = "ray"

    def __init__(
        self, spec: ModelSpec, address: str, workers: int | None, threads: int | None = None
    ) -> None:
        self.spec, self.address, self.requested = spec, address, workers
        self.workers = workers or 0
        self.threads = threads or 1
        self._actors: list = []
        self._load: dict[int, int] = {}
        self._refs: dict = {}  # ObjectRef → (actor index, series key)
        self._started_ray = False

    @property
    def capacity(self) -> int:
        return QUEUED_PER_WORKER * max(1, self.workers)

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise CTViewerError(f"--ray needs Ray: {RAY_INSTALL}") from None
        if not ray.is_initialized():
            options = {"log_to_driver": False, "logging_level": logging.WARNING}
            if self.address != "local":  # Ray 2.60's `ray start` asks for its token (in
                os.environ.setdefault("RAY_AUTH_MODE", "token")  # ~/.ray); works without too
            else:
                options.update(
                    num_cpus=self.requested or os.cpu_count() or 1,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                )
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                reason = " ".join(str(error).split())[:200]
                raise CTViewerError(
                    f"cannot start or join Ray at {self.address}: {reason}"
                ) from None
            self._started_ray = True
        resources = ray.cluster_resources()
        self.workers = self.requested or max(1, int(resources.get("CPU", 1)))
        gpus = float(resources.get("GPU", 0))
        share = min(1.0, gpus / self.workers) if gpus else 0.0
        spec = ray.put(self.spec.shipped())  # once per job; each actor fetches it once
        # a lost actor ends the run (the same command resumes it) rather than restarting
        actor = ray.remote(_ScreenActor).options(num_cpus=1, num_gpus=share, max_restarts=0)
        self._actors = [actor.remote(spec, self.threads) for _ in range(self.workers)]
        self._load = dict.fromkeys(range(self.workers), 0)

    def submit(self, series: SeriesInfo) -> None:
        index = min(self._load, key=self._load.__getitem__)
        self._load[index] += 1
        self._refs[self._actors[index].screen.remote(series)] = (index, series.key)

    def in_flight(self) -> int:
        return len(self._refs)

    def done(self, timeout: float) -> list[Outcome]:
        import ray

        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        outcomes = []
        for ref in ready:
            index, key = self._refs.pop(ref)
            self._load[index] -= 1
            try:
                outcomes.append(ray.get(ref))
            except ray.exceptions.RayError as error:
                reason = " ".join(str(error).split())[:200]
                raise CTViewerError(
                    f"a Ray worker failed on series {key} ({reason});"
                    " run the same command again to resume"
                ) from None
        return outcomes

    def close(self, abort: bool = False) -> None:
        try:
            import ray
        except ImportError:
            return
        for actor in self._actors:
            ray.kill(actor)
        self._actors, self._refs = [], {}
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def make_runner(
    spec: ModelSpec, workers: int | None, ray: str | None = None, threads: int | None = None
) -> Runner:
    """Ray when an address (or "local") is given (`workers` None: one per CPU), else a pool for
    2+ workers, else this process."""
    if workers is not None and workers < 1:
        raise CTViewerError(f"--workers must be 1 or more (got {workers})")
    if ray:
        return RayRunner(spec, ray, workers, threads)
    if workers is None or workers == 1:
        return SerialRunner(spec, threads)
    return PoolRunner(spec, workers, threads)
