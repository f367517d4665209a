"""Executors: the same results in order wherever the tasks run, and a walk-forward whose
outputs do not depend on its executor."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from m002 import _executors
from m002.evaluation import (
    WORKER_MEMORY,
    ExecutorConfig,
    default_workers,
    run_tasks,
    run_walkforward,
)
from m002.exceptions import ConfigError
from tests.evaluation.test_walkforward import small_config

HAS_RAY = importlib.util.find_spec("ray") is not None


def _power(base: int, exponent: int) -> tuple[int, int]:
    return base**exponent, os.getpid()


def _fail(_: object, value: int) -> int:
    if value == 2:
        raise ValueError("task 2 failed")
    return value


@pytest.mark.parametrize("kind", ["local", "processes"])
def test_results_come_back_in_the_order_of_the_items(kind: str) -> None:
    finished: list[int] = []
    results = run_tasks(
        _power,
        2,
        [(e,) for e in range(6)],
        ExecutorConfig(kind, workers=2),
        on_done=lambda i, _: finished.append(i),
    )
    assert [r[0] for r in results] == [1, 2, 4, 8, 16, 32]
    assert sorted(finished) == list(range(6))
    pids = {r[1] for r in results}
    assert (pids == {os.getpid()}) if kind == "local" else (os.getpid() not in pids)


def _started(_: object, value: int) -> tuple[int, int]:
    return value, time.monotonic_ns()


@pytest.mark.parametrize("kind", ["local", "processes"])
def test_start_from_last_hands_out_the_last_task_first_with_results_in_order(kind: str) -> None:
    # one worker process runs its tasks in the order they were handed out
    results = run_tasks(
        _started, None, [(v,) for v in range(5)], ExecutorConfig(kind, workers=1),
        start_from_last=True,
    )  # fmt: skip
    assert [value for value, _ in results] == list(range(5))
    starts = [started for _, started in results]
    expected = sorted(starts, reverse=kind == "processes")  # local runs them as listed
    assert starts == expected
    assert len(set(starts)) == 5


@pytest.mark.parametrize("kind", ["local", "processes"])
def test_a_failing_task_stops_the_run_with_its_error(kind: str) -> None:
    with pytest.raises(ValueError, match="task 2 failed"):
        run_tasks(_fail, None, [(v,) for v in range(4)], ExecutorConfig(kind, workers=2))


def test_executor_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="`executor` must be one of"):
        ExecutorConfig("threads")
    with pytest.raises(ConfigError, match="`workers` must be an int >= 0"):
        ExecutorConfig("processes", workers=-1)
    with pytest.raises(ConfigError, match="`ray_address` needs `executor='ray'`"):
        ExecutorConfig("local", address="auto")


def test_executors_say_where_the_tasks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_executors, "usable_cores", lambda: 6)
    monkeypatch.setattr(_executors, "available_memory", lambda: 64 * 2**30)
    assert ExecutorConfig().describe(10) == "in this process"
    assert ExecutorConfig("processes").describe(10) == "in 6 worker processes"
    assert ExecutorConfig("processes").describe(4) == "in 4 worker processes"
    assert ExecutorConfig("processes").describe(1) == "in this process"  # as run_tasks does
    assert ExecutorConfig("processes", workers=2).describe(10) == "in 2 worker processes"
    assert ExecutorConfig("ray", workers=3).describe(1) == "on a local Ray instance of 3 CPUs"
    assert ExecutorConfig("ray", address="10.0.0.1:6379").describe(5) == (
        "on the Ray cluster at 10.0.0.1:6379"
    )


def test_the_default_worker_count_is_the_cores_the_memory_can_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_executors, "usable_cores", lambda: 8)
    for memory, workers in ((64 * 2**30, 8), (5 * 2**30, 2), (2**30, 1), (None, 8)):
        monkeypatch.setattr(_executors, "available_memory", lambda m=memory: m)
        assert default_workers() == workers
        assert ExecutorConfig("processes").worker_count() == workers
        assert ExecutorConfig("processes", workers=3).worker_count() == 3  # asked: as asked
    assert WORKER_MEMORY == 2 * 2**30


def test_the_machine_s_cores_and_memory_are_read() -> None:
    assert 1 <= _executors.usable_cores() <= (os.cpu_count() or 1)
    memory = _executors.available_memory()
    if sys.platform == "linux":
        assert memory is not None
        assert 0 < memory < 2**50
    assert default_workers() >= 1


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    from m002.data import generate_synthetic

    prices = generate_synthetic(n_tickers=10, n_days=800, seed=11).prices
    root = tmp_path_factory.mktemp("local")
    run = run_walkforward(prices, root / "run", small_config(), cache_dir=root / "c", verbose=False)
    return root / "run", run


def _counts(run: dict[str, object]) -> dict[str, object]:
    models = run["layer1_models"]
    assert isinstance(models, dict)
    return {k: v for k, v in models.items() if not k.startswith("seconds")}


def _same_outputs(first: Path, second: Path) -> None:
    for name in ("predictions.parquet", "signals.parquet"):
        assert pl.read_parquet(first / name).equals(pl.read_parquet(second / name)), name


def _executor_run(kind: str, folder: Path) -> dict[str, object]:
    from m002.data import generate_synthetic

    prices = generate_synthetic(n_tickers=10, n_days=800, seed=11).prices
    return run_walkforward(
        prices,
        folder / "run",
        small_config(),
        cache_dir=folder / "c",  # a fresh cache: the workers fit every model themselves
        verbose=False,
        executor=ExecutorConfig(kind, workers=2),
    )


def test_worker_processes_give_the_local_run_bit_for_bit(
    local_run: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    run = _executor_run("processes", tmp_path)
    _same_outputs(local_run[0], tmp_path / "run")
    assert _counts(run) == _counts(local_run[1])


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'm002[ray]')")
def test_a_local_two_worker_ray_instance_gives_the_local_run_bit_for_bit(
    local_run: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    run = _executor_run("ray", tmp_path)
    _same_outputs(local_run[0], tmp_path / "run")
    assert run["executor"] == {"kind": "ray", "workers": 2, "address": ""}
    assert _counts(run) == _counts(local_run[1])
