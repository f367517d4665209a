"""Evaluation: purged walk-forward, a cost-aware backtest, strategy baselines and metrics."""

from __future__ import annotations

from m002._executors import (
    EXECUTORS,
    WORKER_MEMORY,
    ExecutorConfig,
    default_workers,
    run_tasks,
)
from m002.evaluation._backtest import (
    DAILY_COLUMNS,
    TRADE_COLUMNS,
    BacktestConfig,
    BacktestResult,
    performance_metrics,
    run_backtest,
)
from m002.evaluation._experiment import (
    EXPERIMENT_FILE,
    EXPERIMENT_STRATEGY,
    Arm,
    config_changes,
    describe_change,
    run_experiment,
)
from m002.evaluation._predictive import (
    calibration_bins,
    feature_stats_by_regime,
    fold_prediction_metrics,
    regime_confusion,
    regime_reliability,
)
from m002.evaluation._run import (
    CONVENTIONS,
    RUN_FILES,
    RunConfig,
    backtest_run,
    read_run_json,
    run_config_from_dict,
)
from m002.evaluation._signals import (
    STRATEGIES,
    past_return,
    regime_rule_position,
    reversal_position,
    strategy_signals,
)
from m002.evaluation._splits import Fold, WalkForwardConfig, walk_forward_splits
from m002.evaluation._walkforward import EVENT_FLAGS, run_walkforward

__all__ = [
    "CONVENTIONS",
    "DAILY_COLUMNS",
    "EVENT_FLAGS",
    "EXECUTORS",
    "EXPERIMENT_FILE",
    "EXPERIMENT_STRATEGY",
    "RUN_FILES",
    "STRATEGIES",
    "TRADE_COLUMNS",
    "WORKER_MEMORY",
    "Arm",
    "BacktestConfig",
    "BacktestResult",
    "ExecutorConfig",
    "Fold",
    "RunConfig",
    "WalkForwardConfig",
    "backtest_run",
    "calibration_bins",
    "config_changes",
    "default_workers",
    "describe_change",
    "feature_stats_by_regime",
    "fold_prediction_metrics",
    "past_return",
    "performance_metrics",
    "read_run_json",
    "regime_confusion",
    "regime_reliability",
    "regime_rule_position",
    "reversal_position",
    "run_backtest",
    "run_config_from_dict",
    "run_experiment",
    "run_tasks",
    "run_walkforward",
    "strategy_signals",
    "walk_forward_splits",
]
