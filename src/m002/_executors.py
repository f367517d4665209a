"""Where independent pieces of work run: in this process, in worker processes, or on Ray.

An executor maps a module-level function over a list of argument tuples and returns the
results in the list's order, whichever worker finished first, so that what the driver writes
does not depend on where the work ran. `EXECUTORS` is the registry behind ``--executor``:

- ``local``: one after another, in this process;
- ``processes``: a pool of ``workers`` processes on this machine (started with ``spawn``, so
  that no worker inherits the driver's torch or polars thread pools);
- ``ray``: one Ray task per item, on a local Ray instance started for the run, or on the
  cluster at ``address`` (``ray start --head`` on one machine, ``ray start --address`` on the
  others). Ray is the optional extra ``m002[ray]``.

Every worker runs torch and polars with the machine's cores shared between the workers, so
that two workers on two cores do not fight over four threads.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from m002.exceptions import ConfigError

__all__ = ["EXECUTORS", "WORKER_MEMORY", "ExecutorConfig", "default_workers", "run_tasks"]

T = TypeVar("T")

EXECUTORS: Final = ("local", "processes", "ray")


@dataclass(frozen=True)
class ExecutorConfig:
    """How a run's independent tasks are executed.

    Parameters
    ----------
    kind : str
        ``local``, ``processes`` or ``ray``.
    workers : int
        Worker processes (``processes``) or CPUs a local Ray instance is started with
        (``ray`` without ``address``); 0 for `default_workers`: the cores this process may
        use, but no more than the memory available now holds at `WORKER_MEMORY` each.
    address : str
        A Ray cluster's address (``ray``), e.g. ``"auto"`` or ``"10.0.0.1:6379"``; empty to
        start a local instance for the run.
    """

    kind: str = "local"
    workers: int = 0
    address: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            msg = f"`executor` must be one of {list(EXECUTORS)}, got `executor={self.kind!r}`"
            raise ConfigError(msg)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            msg = f"`workers` must be an int >= 0, got `workers={self.workers!r}`"
            raise ConfigError(msg)
        if self.address and self.kind != "ray":
            msg = f"`ray_address` needs `executor='ray'`, got `executor={self.kind!r}`"
            raise ConfigError(msg)

    def worker_count(self) -> int:
        return self.workers or default_workers()

    def busy_workers(self, tasks: int) -> int:
        """Workers that ``tasks`` tasks keep busy: never more than there are tasks."""
        return min(self.worker_count(), tasks)

    def runs_here(self, tasks: int) -> bool:
        """Whether `run_tasks` runs ``tasks`` tasks in this process: always with ``local``,
        and one task or none with ``processes`` (a worker would only add its start-up)."""
        return self.kind == "local" or (self.kind == "processes" and tasks <= 1)

    def describe(self, tasks: int) -> str:
        """Where `run_tasks` runs ``tasks`` tasks, for progress lines: "in this process",
        "in 2 worker processes" (`busy_workers`), "on a local Ray instance of 2 CPUs", "on
        the Ray cluster at ADDR"."""
        if self.runs_here(tasks):
            return "in this process"
        if self.kind == "processes":
            return f"in {self.busy_workers(tasks)} worker processes"
        if self.address:
            return f"on the Ray cluster at {self.address}"
        return f"on a local Ray instance of {self.worker_count()} CPUs"


WORKER_MEMORY: Final = 2 * 2**30
"""Bytes of memory a worker is counted at for `default_workers`: on the S&P sample's
walk-forward a worker peaked at 1.0-1.2 GB fitting layer-1 models and 1.6-1.7 GB in the folds
(README, "How long"); a larger universe needs more, and ``--workers`` then sets the count."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory the system says are available now (``MemAvailable`` of
    /proc/meminfo), or None where it does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # no such file, or a line it cannot read
        return None
    return None


def default_workers() -> int:
    """Workers when none are asked for: one per usable core, but no more than the available
    memory holds at `WORKER_MEMORY` each (at least one)."""
    cores = usable_cores()
    memory = available_memory()
    if memory is None:
        return cores
    return max(1, min(cores, memory // WORKER_MEMORY))


def _threads_per_worker(workers: int) -> int:
    return max(1, usable_cores() // max(workers, 1))


def _call(threads: int, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """``fn(*args)`` with torch set to ``threads`` threads (polars reads its own count from
    the environment the worker was started with)."""
    import torch

    torch.set_num_threads(threads)
    return fn(*args)


def _call_shared(threads: int, fn: Callable[..., T], shared: Any, args: tuple[Any, ...]) -> T:
    """`_call` for Ray, which hands ``shared`` over from its object store (a top-level
    argument is fetched before the task starts)."""
    return _call(threads, fn, (shared, *args))


def _worker_environment(threads: int) -> dict[str, str]:
    """What a worker process starts with: polars' thread count, and OpenMP threads that
    sleep when idle instead of spinning (LightGBM's and torch's thread pools spin by
    default; several workers spinning on shared cores take a third of the CPU from the work
    itself)."""
    return {"POLARS_MAX_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Environment variables set while worker processes start (they inherit them)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_tasks(
    fn: Callable[..., T],
    shared: Any,
    items: Sequence[tuple[Any, ...]],
    config: ExecutorConfig | None = None,
    *,
    on_done: Callable[[int, T], None] | None = None,
    start_from_last: bool = False,
) -> list[T]:
    """``[fn(shared, *args) for args in items]``, run by the executor of ``config``.

    ``shared`` is what every task reads (a frame of prices, say): Ray stores it once in its
    object store; worker processes receive a copy with each task. ``fn`` must be a
    module-level function, ``shared`` and ``items`` picklable (except with ``local``).
    ``on_done(index, result)`` is called in the driver as each task finishes (in finishing
    order), for progress. The first task that raises stops the run: the exception propagates
    and the tasks not yet started are cancelled.

    ``start_from_last`` hands the tasks to worker processes or Ray from the last listed to
    the first (``local`` runs them in their order): for tasks listed by growing size, such as
    the folds of an expanding window, the longest start first, so that no worker is left
    alone with a long one at the end while the others idle. The results are the same, in
    the order of ``items``, either way.
    """
    cfg = config or ExecutorConfig()
    job = _Job(fn, shared, items, on_done, start_from_last)
    if cfg.runs_here(len(items)):
        for index, args in enumerate(items):
            job.finished(index, fn(shared, *args))
    elif cfg.kind == "processes":
        _run_processes(job, cfg)
    else:
        _run_ray(job, cfg)
    return [job.results[i] for i in range(len(items))]


@dataclass
class _Job:
    """A `run_tasks` call: the work, and the results gathered as the tasks finish."""

    fn: Callable[..., Any]
    shared: Any
    items: Sequence[tuple[Any, ...]]
    on_done: Callable[[int, Any], None] | None
    start_from_last: bool = False
    results: dict[int, Any] = field(default_factory=dict)

    def start_order(self) -> list[int]:
        """The indices of ``items`` in the order their tasks are handed out."""
        order = list(range(len(self.items)))
        return order[::-1] if self.start_from_last else order

    def finished(self, index: int, result: Any) -> None:
        self.results[index] = result
        if self.on_done is not None:
            self.on_done(index, result)


def _run_processes(job: _Job, cfg: ExecutorConfig) -> None:
    workers = cfg.busy_workers(len(job.items))
    threads = _threads_per_worker(workers)
    context = multiprocessing.get_context("spawn")
    with (
        _environment(**_worker_environment(threads)),
        concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool,
    ):
        futures = {
            pool.submit(_call, threads, job.fn, (job.shared, *job.items[i])): i
            for i in job.start_order()
        }
        try:
            for future in concurrent.futures.as_completed(futures):
                job.finished(futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _run_ray(job: _Job, cfg: ExecutorConfig) -> None:
    try:
        import ray as ray_module  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        msg = "`executor='ray'` needs Ray: pip install 'm002[ray]'"
        raise ConfigError(msg) from None
    ray: Any = ray_module  # an optional extra: typed or not, the same calls
    started_here = not ray.is_initialized()
    if started_here:
        if cfg.address:
            ray.init(address=cfg.address, log_to_driver=False)
        else:
            polars_threads = _threads_per_worker(cfg.busy_workers(len(job.items)))
            ray.init(
                num_cpus=cfg.worker_count(),
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": _worker_environment(polars_threads)},
            )
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = 1 if cfg.address else _threads_per_worker(min(cpus, len(job.items)))
        task = ray.remote(num_cpus=threads)(_call_shared)
        stored = ray.put(job.shared)
        index_of = {
            task.remote(threads, job.fn, stored, job.items[i]): i for i in job.start_order()
        }
        pending = list(index_of)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                job.finished(index_of[done[0]], ray.get(done[0]))
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise
    finally:
        if started_here:
            ray.shutdown()
