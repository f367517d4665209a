"""A walk-forward run directory: its config, its files, and the backtest re-run from it.

Layout of ``RUN_DIR``::

    run.json             config (pipeline + walkforward + backtest), folds, strategies, timings
    predictions.parquet  out-of-sample rows of every test block: prices, state_prob_*, pred_*,
                         policy columns, the ablation's position, event flags, realised targets
    signals.parquet      one signed target size per strategy (see STRATEGIES)
    evaluation.json      prediction metrics per fold, confusion matrix, calibration, feature
                         distributions by regime
    backtest/            daily.parquet, trades.parquet, metrics.json (`backtest_run`)
    tuning/              tuning.json (`m002 tune`: `m002.tuning.tune_run`)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from m002._io import atomic_dir, check_replaceable, read_json, write_json
from m002._schema import DATE, TICKER
from m002.evaluation._backtest import (
    EXECUTIONS,
    BacktestConfig,
    BacktestResult,
    run_backtest,
)
from m002.evaluation._signals import strategy_signals
from m002.evaluation._splits import WalkForwardConfig
from m002.exceptions import ConfigError, DamagedFileError
from m002.pipeline import (
    M002Config,
    check_known_keys,
    config_from_dict,
    config_to_dict,
    section_from_dict,
)

__all__ = [
    "CONVENTIONS",
    "RUN_FILES",
    "TUNING_DIR",
    "RunConfig",
    "backtest_run",
    "read_run_json",
    "run_config_from_dict",
]

RUN_FILES: Final = {
    "run": "run.json",
    "predictions": "predictions.parquet",
    "signals": "signals.parquet",
    "evaluation": "evaluation.json",
    "backtest": "backtest",
}
TUNING_DIR: Final = "tuning"
"""The folder `m002 tune` adds to a run directory (not one of the walk-forward's files)."""
CONVENTIONS: Final = (
    "Returns are compounded daily and annualised with 252 trading days a year; Sharpe and "
    "Sortino use a zero risk-free rate. A position decided on day t is held from day t+1; "
    "costs are charged per side on every change of weight; turnover is the annual sum of "
    "absolute weight changes (both sides)."
)
_EVALUATION_SECTIONS: Final = {"walkforward": WalkForwardConfig, "backtest": BacktestConfig}


@dataclass(frozen=True)
class RunConfig:
    """The pipeline's config plus the walk-forward and backtest sections of a run."""

    pipeline: M002Config = field(default_factory=M002Config)
    walkforward: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            **config_to_dict(self.pipeline),
            "walkforward": dataclasses.asdict(self.walkforward),
            "backtest": dataclasses.asdict(self.backtest),
        }


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """A `RunConfig` from a parsed TOML file: the pipeline's sections plus ``[walkforward]``
    and ``[backtest]``; unknown keys are an error naming the closest valid one."""
    pipeline_keys = [f.name for f in dataclasses.fields(M002Config)]
    check_known_keys(data, [*pipeline_keys, *_EVALUATION_SECTIONS], "the config")
    sections = {
        name: section_from_dict(cls, data[name], name)
        for name, cls in _EVALUATION_SECTIONS.items()
        if name in data
    }
    pipeline = config_from_dict({k: v for k, v in data.items() if k in pipeline_keys})
    return RunConfig(pipeline=pipeline, **sections)


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """``run.json`` of a run directory; a clear error where it is not one or it is damaged."""
    path = Path(run_dir) / RUN_FILES["run"]
    if not path.is_file():
        msg = (
            f"{run_dir} is not a walk-forward run (no {RUN_FILES['run']}): run "
            "`m002 walkforward SOURCE --out RUN_DIR` first"
        )
        raise FileNotFoundError(msg)
    run = read_json(path, what="the run file")
    if not isinstance(run, dict) or not isinstance(run.get("config"), dict):
        msg = f"the run file {path} is damaged (no config in it): re-run `m002 walkforward`"
        raise DamagedFileError(msg)
    return run


def backtest_run(
    run_dir: str | Path,
    config: BacktestConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    decisions: M002Config | None = None,
) -> tuple[BacktestResult, dict[str, Any]]:
    """Backtest the signals of a run directory and write ``backtest/`` (or ``out_dir``).

    Reads only ``signals.parquet`` and the opens and closes in ``predictions.parquet``:
    nothing is re-trained, so a cost sensitivity takes seconds. The metrics hold every
    strategy under the config's execution, and a summary under each execution
    (``"executions"``: at the close and at the next open).

    With ``decisions``, the run is decided anew first: its ``[policy]`` and ``[portfolio]``
    are applied to the run's out-of-sample predictions (`strategy_signals` with the policy),
    in seconds and still without re-training. Every other section must equal the run's, as
    the predictions were made with them. The new signals are written beside the backtest
    (``signals.parquet``) and the sections used go into ``metrics.json`` (``"decisions"``).

    Parameters
    ----------
    run_dir : str or Path
    config : BacktestConfig, optional
        Default: the run's own ``[backtest]`` section.
    out_dir : str or Path, optional
        Default ``RUN_DIR/backtest``.
    decisions : M002Config, optional
        The policy and portfolio to decide with; default: the run's saved signals.

    Returns
    -------
    (BacktestResult, dict)
        The result, and the metrics written to ``metrics.json``.

    Raises
    ------
    ConfigError
        If a section of ``decisions`` other than ``[policy]`` and ``[portfolio]`` differs
        from the run's.
    """
    folder = Path(run_dir)
    run = read_run_json(folder)
    if config is None:
        config = section_from_dict(BacktestConfig, run["config"].get("backtest", {}), "backtest")
    missing = [
        name
        for key in ("signals", "predictions")
        if not (folder / (name := RUN_FILES[key])).is_file()
    ]
    if missing:
        msg = f"{folder} is missing {missing}: re-run `m002 walkforward`"
        raise FileNotFoundError(msg)
    if decisions is None:
        prices = pl.read_parquet(
            folder / RUN_FILES["predictions"], columns=[TICKER, DATE, "open", "close"]
        )
        signals = pl.read_parquet(folder / RUN_FILES["signals"])
    else:
        _check_decisions(run["config"], decisions)
        predictions = pl.read_parquet(folder / RUN_FILES["predictions"])
        prices = predictions.select(TICKER, DATE, "open", "close")
        signals = strategy_signals(predictions, decisions.portfolio, policy=decisions.policy)
    names = [s for s in run.get("strategies", {}) if s in signals.columns] or None
    sized = signals.drop("fold", strict=False)
    result = run_backtest(sized, prices, config, strategies=names)
    # the same signals traded the other way, so a reader sees what the fill assumption is
    # worth (a decision made after the close can only really be traded at the next open)
    by_execution = {
        execution: result
        if execution == config.execution
        else run_backtest(
            sized,
            prices,
            dataclasses.replace(config, execution=execution),
            strategies=names,
        )
        for execution in EXECUTIONS
    }
    summary = ("cagr", "sharpe", "max_drawdown", "turnover")
    metrics = {
        "costs": dataclasses.asdict(result.config),
        "conventions": CONVENTIONS,
        "order": list(result.strategies),
        "strategies": result.metrics(),
        "executions": {
            execution: {
                name: {k: row.get(k) for k in summary} for name, row in backtest.metrics().items()
            }
            for execution, backtest in by_execution.items()
        },
    }
    if decisions is not None:
        metrics["decisions"] = {
            name: config_to_dict(decisions)[name] for name in _DECISION_SECTIONS
        }
    target = Path(out_dir) if out_dir is not None else folder / RUN_FILES["backtest"]
    check_replaceable(target, kind="backtest", option="`out_dir`")
    with atomic_dir(target, kind="backtest", option="`out_dir`") as tmp:
        result.daily.write_parquet(tmp / "daily.parquet")
        result.trades.write_parquet(tmp / "trades.parquet")
        write_json(tmp / "metrics.json", metrics)
        if decisions is not None:
            signals.write_parquet(tmp / RUN_FILES["signals"])
    return result, metrics


_DECISION_SECTIONS: Final = ("policy", "portfolio")
"""The sections a run can be decided anew with: everything before them made its predictions."""


def _check_decisions(run_config: dict[str, Any], decisions: M002Config) -> None:
    """`ConfigError` naming each section of ``decisions`` that made the run's predictions
    and differs from the run's own."""
    ran = {k: v for k, v in run_config.items() if k not in _EVALUATION_SECTIONS}
    ran_config = config_to_dict(config_from_dict(ran))
    wanted = config_to_dict(decisions)
    differ = [
        name
        for name in wanted
        if name not in _DECISION_SECTIONS and wanted.get(name) != ran_config.get(name)
    ]
    if differ:
        sections = ", ".join(f"[{name}]" if isinstance(wanted[name], dict) else f"`{name}`"
                             for name in differ)  # fmt: skip
        msg = (
            f"{sections} of the config differ from the run's: the run's predictions were "
            "made with its own; only [policy] and [portfolio] can change without re-training "
            "(run `m002 walkforward` with this config instead)"
        )
        raise ConfigError(msg)
