"""Reading a walk-forward run directory: the files the report shows, checked on the way in.

The run directory is written by ``m002 walkforward`` (``run.json``, ``predictions.parquet``,
``evaluation.json``), ``m002 backtest`` (``backtest/``) and, where the run was tuned,
``m002 tune`` (``tuning/tuning.json``). This module only reads and checks shapes; every number
the report shows was computed by those commands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl

from m002._io import read_json
from m002._schema import DATE, PRICE_COLUMNS, TICKER, require_columns
from m002.evaluation import EVENT_FLAGS, EXPERIMENT_FILE, RUN_FILES
from m002.evaluation._run import TUNING_DIR
from m002.exceptions import DamagedFileError, SchemaError
from m002.policy import ACTION, POSITION_SIZE
from m002.regime import STATE_PROB_PREFIX, state_prob_columns

__all__ = [
    "DAILY_COLUMNS",
    "EVENT_FLAGS",
    "EXPLORER_COLUMNS",
    "STATE_NAMES",
    "STATE_PROB_COLUMNS",
    "Experiment",
    "RunDir",
    "finite_or_none",
    "read_experiment",
    "read_run_dir",
]

RUN_JSON: Final = RUN_FILES["run"]
PREDICTIONS: Final = RUN_FILES["predictions"]
EVALUATION_JSON: Final = RUN_FILES["evaluation"]
BACKTEST_DIR: Final = RUN_FILES["backtest"]
DAILY: Final = f"{BACKTEST_DIR}/daily.parquet"
METRICS_JSON: Final = f"{BACKTEST_DIR}/metrics.json"
TUNING_JSON: Final = f"{TUNING_DIR}/tuning.json"

EXPERIMENT_JSON: Final = EXPERIMENT_FILE
EXPERIMENT_HINT: Final = "`m002 experiment SOURCE CONFIG... --out DIR` writes it"
WALKFORWARD_HINT: Final = "`m002 walkforward SOURCE --out RUN_DIR` writes it; run that first"
BACKTEST_HINT: Final = "run `m002 backtest RUN_DIR` on this run directory to make it"
TUNE_HINT: Final = "`m002 tune RUN_DIR --out tuned.toml` writes it; run that again"
TUNING_KEYS: Final = (
    "objective",
    "reported_after",
    "blocks",
    "comparison",
    "chosen",
    "overfitting",
    "history",
)
"""Keys of ``tuning/tuning.json`` the report needs (``pareto_front``, ``importances``,
``timing``, ``study`` and ``folds`` are shown where present)."""

# layer 1's own column list, in class-id order (the order its probabilities are stacked in)
STATE_PROB_COLUMNS: Final = tuple(state_prob_columns())
STATE_NAMES: Final = tuple(c.removeprefix(STATE_PROB_PREFIX) for c in STATE_PROB_COLUMNS)
EXPLORER_COLUMNS: Final = (
    TICKER,
    DATE,
    *PRICE_COLUMNS,
    *STATE_PROB_COLUMNS,
    ACTION,
    POSITION_SIZE,
    *EVENT_FLAGS,
)
"""Columns of ``predictions.parquet`` the report reads (the rest stay on disk)."""

DAILY_COLUMNS: Final = (DATE, "strategy", "equity", "drawdown")
"""Columns of ``backtest/daily.parquet`` the report reads."""


@dataclass(frozen=True)
class RunDir:
    """The pieces of a run directory the report shows.

    Attributes
    ----------
    path : Path
        The run directory.
    run : dict
        ``run.json``: version, source, config, folds, strategy descriptions.
    evaluation : dict
        ``evaluation.json``: per-fold and overall prediction metrics, confusion matrix,
        layer 1's reliability table, calibration bins, feature statistics by regime.
    metrics : dict
        ``backtest/metrics.json``: costs, conventions, strategy order and metrics.
    daily : pl.DataFrame
        ``backtest/daily.parquet`` reduced to `DAILY_COLUMNS`.
    predictions : pl.LazyFrame
        A scan of ``predictions.parquet`` reduced to `EXPLORER_COLUMNS`.
    tuning : dict or None
        ``tuning/tuning.json`` (``m002 tune``): the nested choices, the comparison on the
        unseen folds, the overfitting statistics and the final study; None where the run was
        not tuned.
    """

    path: Path
    run: dict[str, Any]
    evaluation: dict[str, Any]
    metrics: dict[str, Any]
    daily: pl.DataFrame
    predictions: pl.LazyFrame
    tuning: dict[str, Any] | None = None


@dataclass(frozen=True)
class Experiment:
    """An experiment folder of ``m002 experiment``: its comparison table and the run of its
    first arm, whose page the report shows below the table."""

    table: dict[str, Any]
    first_run: Path


def read_experiment(folder: str | Path) -> Experiment | None:
    """The experiment in ``folder``, or None where ``folder`` holds no ``experiment.json``.

    Raises
    ------
    SchemaError
        ``experiment.json`` lacks a key the report shows, or has no arm.
    DamagedFileError
        It is not valid JSON.
    """
    path = Path(folder)
    if not (path / EXPERIMENT_JSON).is_file():
        return None
    table = _read_json(path, EXPERIMENT_JSON, EXPERIMENT_HINT)
    keys = ("arms", "backtest", "reference", "strategy")
    _require_keys(table, keys, where=path / EXPERIMENT_JSON)
    if not table["arms"]:
        msg = f"{path / EXPERIMENT_JSON} lists no arm; {EXPERIMENT_HINT}"
        raise SchemaError(msg)
    return Experiment(table=table, first_run=path / "runs" / table["arms"][0]["name"])


def read_run_dir(run_dir: str | Path) -> RunDir:
    """Read and check the files of ``run_dir`` that the report needs.

    Raises
    ------
    FileNotFoundError
        ``run_dir`` or one of its files is missing; the message names the command that
        writes it.
    SchemaError
        A file is there but lacks a key or column the report needs.
    DamagedFileError
        A JSON file is not valid JSON, or the ``tuning/`` folder lacks its ``tuning.json``.
    """
    path = Path(run_dir)
    if not path.is_dir():
        msg = f"run directory {str(path)!r} does not exist; {WALKFORWARD_HINT}"
        raise FileNotFoundError(msg)
    run = _read_json(path, RUN_JSON, WALKFORWARD_HINT)
    _require_keys(run, ("m002_version", "source", "folds"), where=path / RUN_JSON)
    evaluation = _read_json(path, EVALUATION_JSON, WALKFORWARD_HINT)
    _require_keys(evaluation, ("folds", "overall"), where=path / EVALUATION_JSON)
    predictions = _scan_predictions(path)
    if not (path / BACKTEST_DIR).is_dir():
        msg = f"{path / BACKTEST_DIR} does not exist (no backtest of this run yet); {BACKTEST_HINT}"
        raise FileNotFoundError(msg)
    metrics = _read_json(path, METRICS_JSON, BACKTEST_HINT)
    _require_keys(metrics, ("conventions", "order", "strategies"), where=path / METRICS_JSON)
    daily = _read_daily(path)
    return RunDir(
        path=path,
        run=run,
        evaluation=evaluation,
        metrics=metrics,
        daily=daily,
        predictions=predictions,
        tuning=_read_tuning(path),
    )


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth) replaced by ``None``.

    JSON written by Python may hold ``NaN``; the browser's ``JSON.parse`` rejects it.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(item) for item in value]
    return value


def _existing(path: Path, name: str, hint: str) -> Path:
    file = path / name
    if not file.is_file():
        msg = f"{file} does not exist; {hint}"
        raise FileNotFoundError(msg)
    return file


def _read_json(path: Path, name: str, hint: str) -> dict[str, Any]:
    file = _existing(path, name, hint)
    try:
        content = read_json(file, what="the run's file")
    except DamagedFileError as error:
        msg = f"{error}; {hint}"
        raise DamagedFileError(msg) from None
    if not isinstance(content, dict):
        msg = f"{file} must hold a JSON object, got {type(content).__name__}; {hint}"
        raise SchemaError(msg)
    return finite_or_none(content)  # type: ignore[no-any-return]


def _require_keys(content: Mapping[str, Any], keys: tuple[str, ...], *, where: Path) -> None:
    missing = [key for key in keys if key not in content]
    if missing:
        msg = (
            f"{where} lacks the key(s) {missing} the report needs; re-run the command that wrote it"
        )
        raise SchemaError(msg)


def _read_tuning(path: Path) -> dict[str, Any] | None:
    """``tuning/tuning.json``, or None where the run has no ``tuning/`` folder (not tuned)."""
    if not (path / TUNING_DIR).exists():
        return None
    if not (path / TUNING_JSON).is_file():
        # m002 tune writes the folder whole or not at all: one without its file was altered
        msg = f"{path / TUNING_JSON} is missing from the run's tuning folder; {TUNE_HINT}"
        raise DamagedFileError(msg)
    tuning = _read_json(path, TUNING_JSON, TUNE_HINT)
    _require_keys(tuning, TUNING_KEYS, where=path / TUNING_JSON)
    return tuning


def _scan_predictions(path: Path) -> pl.LazyFrame:
    file = _existing(path, PREDICTIONS, WALKFORWARD_HINT)
    frame = pl.scan_parquet(file)
    require_columns(
        frame,
        EXPLORER_COLUMNS,
        needed_by=f"the report's ticker explorer ({file})",
        hint="re-run `m002 walkforward` with this m002 version",
    )
    return frame.select(EXPLORER_COLUMNS)


def _read_daily(path: Path) -> pl.DataFrame:
    file = _existing(path, DAILY, BACKTEST_HINT)
    frame = pl.scan_parquet(file)
    require_columns(
        frame,
        DAILY_COLUMNS,
        needed_by=f"the report's equity charts ({file})",
        hint=BACKTEST_HINT,
    )
    return frame.select(DAILY_COLUMNS).sort("strategy", DATE).collect()
