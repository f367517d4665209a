"""Tuning: nested Bayesian search of the policy and portfolio over a walk-forward run's
cached predictions, with the statistics that say how much of a tuned number is luck.

`tune_run` runs the studies and writes ``tuned.toml`` and the run's ``tuning/`` folder;
`Evaluator` scores one configuration in one compiled pass (policy, portfolio and backtest);
`deflated_sharpe_ratio` and `probability_of_backtest_overfitting` are the overfitting
statistics. Needs the ``tune`` extra (Optuna).
"""

from __future__ import annotations

from m002.tuning._evaluate import Evaluator, check_supported, encode
from m002.tuning._overfit import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probability_of_backtest_overfitting,
)
from m002.tuning._space import DEFAULT_SPACE, Param, space_from_dict
from m002.tuning._tune import OBJECTIVES, TuneConfig, TuneResult, objective_value, tune_run

__all__ = [
    "DEFAULT_SPACE",
    "OBJECTIVES",
    "Evaluator",
    "Param",
    "TuneConfig",
    "TuneResult",
    "check_supported",
    "deflated_sharpe_ratio",
    "encode",
    "expected_max_sharpe",
    "objective_value",
    "probability_of_backtest_overfitting",
    "space_from_dict",
    "tune_run",
]
