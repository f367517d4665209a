"""A fake walk-forward run directory, written exactly to the contract `m002.report` reads.

`write_fake_run` is also the generator of the large size benchmark (100 tickers x 3,300 days):
everything is vectorised numpy, so that size takes a few seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from m002.evaluation import EVENT_FLAGS
from m002.report import render_report

STATES = ("Peak", "Accumulation", "EarlyUp", "LateDown", "Distribution")
OUTCOMES = (*STATES, "none")
FLAGS = EVENT_FLAGS
CHART_IDS = (
    "equity-chart",
    "drawdown-chart",
    "ticker-chart",
    "confusion-chart",
    "reliability-chart",
    "calibration-chart",
    "feature-chart",
)
STRATEGIES = {
    "m002": "M002 policy: regime -> head -> volatility-scaled size",
    "m002_no_state_probs": "M002 with the head trained without the state probabilities",
    "regime_rule": "Long in Accumulation/EarlyUp, short in Distribution",
    "reversal_5d": "Long the 5-day losers, short the winners",
    "buy_and_hold": "Equal-weight buy and hold of every ticker",
}
CONVENTIONS = (
    "Returns are compounded daily; annualised figures use 252 trading days a year; "
    "Sharpe and Sortino use a zero risk-free rate."
)
FEATURES = ("atr_smooth", "rsi_14", "vol_ratio_20")


def business_days(start: dt.date, n: int) -> list[dt.date]:
    """The first ``n`` weekdays from ``start`` on."""
    days = pl.date_range(start, start + dt.timedelta(days=n * 2 + 7), eager=True)
    return days.filter(days.dt.weekday() <= 5).head(n).to_list()


def write_fake_run(
    path: Path,
    *,
    n_tickers: int = 3,
    n_days: int = 120,
    n_folds: int = 2,
    strategies: Sequence[str] = tuple(STRATEGIES),
    seed: int = 0,
    backtest: bool = True,
) -> Path:
    """Write a run directory of ``n_tickers`` x ``n_days`` test rows into ``path``.

    Tickers are ``T000``, ``T001``, ...; their price levels span 1 to 1000 so that rounding is
    exercised; the first rows of ``T000`` have null state probabilities (regime warm-up).
    """
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    dates = business_days(dt.date(2012, 1, 2), n_days)
    bounds = np.linspace(0, n_days, n_folds + 1).astype(int)
    fold_of_day = np.searchsorted(bounds[1:], np.arange(n_days), side="right")
    folds = [
        {
            "fold": k,
            "train_start": "2005-01-03",
            "train_end": (dates[bounds[k]] - dt.timedelta(days=10)).isoformat(),
            "test_start": dates[bounds[k]].isoformat(),
            "test_end": dates[bounds[k + 1] - 1].isoformat(),
            "n_train_rows": int(1000 * (k + 1) * n_tickers),
            "n_test_rows": int((bounds[k + 1] - bounds[k]) * n_tickers),
        }
        for k in range(n_folds)
    ]
    tickers = [f"T{i:03d}" for i in range(n_tickers)]
    _write_json(
        path / "run.json",
        {
            "m002_version": "0.1.0",
            "created": "2024-05-01T12:00:00+00:00",
            "source": "data/fake",
            "config": {
                "backtest": {
                    "cost_bps": 10.0,
                    "slippage_bps": 0.0,
                    "gross_cap": 1.0,
                    "allow_short": True,
                },
                "walkforward": {"n_folds": n_folds, "purge_days": 5},
            },
            "folds": folds,
            "strategies": {name: STRATEGIES.get(name, name) for name in strategies},
        },
    )
    _predictions(rng, tickers, dates, fold_of_day).write_parquet(path / "predictions.parquet")
    _write_json(path / "evaluation.json", _evaluation(rng, folds))
    if backtest:
        (path / "backtest").mkdir(exist_ok=True)
        daily = _daily(rng, dates, strategies)
        daily.write_parquet(path / "backtest" / "daily.parquet")
        _trades(rng, tickers, dates, strategies).write_parquet(path / "backtest" / "trades.parquet")
        _write_json(path / "backtest" / "metrics.json", _metrics(rng, strategies))
    return path


def _write_json(file: Path, content: Any) -> None:
    file.write_text(json.dumps(content, indent=2), encoding="utf-8")


def _predictions(
    rng: np.random.Generator, tickers: list[str], dates: list[dt.date], fold_of_day: np.ndarray
) -> pl.DataFrame:
    n_t, n_d = len(tickers), len(dates)
    n = n_t * n_d
    level = np.logspace(0, 3, n_t) if n_t > 1 else np.array([50.0])
    close = level[:, None] * np.exp(np.cumsum(rng.normal(0, 0.02, (n_t, n_d)), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.005, (n_t, n_d)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, (n_t, n_d))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, (n_t, n_d))))
    probs = rng.dirichlet(np.ones(len(STATES)), n).astype(np.float32)
    warmup = np.zeros(n, dtype=bool)
    warmup[:3] = True  # T000's first days: the regime model has no full sequence yet
    score = rng.normal(0, 0.01, n)
    action = np.where(score > 0.008, "LONG", np.where(score < -0.008, "SHORT", "FLAT"))
    size = np.where(action == "FLAT", 0.0, np.clip(score * 20, -1, 1))
    frame = pl.DataFrame(
        {
            "ticker": np.repeat(tickers, n_d),
            "date": pl.Series(dates * n_t, dtype=pl.Date),
            "fold": pl.Series(np.tile(fold_of_day, n_t), dtype=pl.Int32),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": rng.integers(10_000, 1_000_000, n).astype(np.float64),
            **{
                f"state_prob_{state}": pl.Series(
                    np.where(warmup, np.nan, probs[:, k]), dtype=pl.Float32
                ).fill_nan(None)
                for k, state in enumerate(STATES)
            },
            "pred_rebound_prob": rng.uniform(0, 1, n),
            "pred_expected_ret_pct": rng.normal(0, 2, n),
            "pred_expected_dd_pct": -np.abs(rng.normal(0, 2, n)),
            "policy_score": score,
            "ex_ante_vol": np.abs(rng.normal(0.02, 0.005, n)),
            "action": action,
            "position_size": size,
            **{
                flag: pl.Series(rng.random(n) < 0.08, dtype=pl.Int8).set(pl.Series(warmup), None)
                for flag in FLAGS
            },
            "regime_state_id": pl.Series(rng.integers(0, 5, n), dtype=pl.Int8),
            "label_rebound_bin": pl.Series(rng.integers(0, 2, n), dtype=pl.Int8),
            "future_ret_pct": rng.normal(0, 3, n),
        }
    )
    return frame.sort("ticker", "date")


def _evaluation(rng: np.random.Generator, folds: list[dict[str, Any]]) -> dict[str, Any]:
    def metrics() -> dict[str, Any]:
        return {
            "ap": float(rng.uniform(0.3, 0.6)),
            "base_rate": float(rng.uniform(0.3, 0.5)),
            "roc_auc": float(rng.uniform(0.5, 0.6)),
            "ic_mean": float(rng.normal(0.02, 0.01)),
            "ic_ir": float(rng.normal(0.3, 0.1)),
            "rank_ic_mean": float(rng.normal(0.02, 0.01)),
            "rank_ic_ir": float(rng.normal(0.3, 0.1)),
            "regime_macro_f1": float(rng.uniform(0.6, 0.8)),
            "regime_all_rows_macro_f1": float(rng.uniform(0.3, 0.5)),
            "regime_all_rows_log_loss": float(rng.uniform(0.6, 0.8)),
            "n_regime_rows": int(rng.integers(500, 1000)),
            "n_regime_all_rows": int(rng.integers(1500, 3000)),
        }

    per_fold = [
        {
            "fold": f["fold"],
            "test_start": f["test_start"],
            "test_end": f["test_end"],
            "n_rows": f["n_test_rows"],
            **metrics(),
        }
        for f in folds
    ]
    per_fold[-1]["roc_auc"] = None  # a fold with one class only: no AUC
    counts = rng.integers(0, 200, (6, 6)) + np.diag(rng.integers(200, 600, 6))
    counts[3] = 0  # a state that never occurs in the test rows
    stats: dict[str, Any] = {}
    for feature in FEATURES:
        stats[feature] = {}
        for state in STATES:
            q = np.sort(rng.normal(0, 1, 5))
            stats[feature][state] = {
                "q05": float(q[0]),
                "q25": float(q[1]),
                "q50": float(q[2]),
                "q75": float(q[3]),
                "q95": float(q[4]),
                "mean": float(q[2] + rng.normal(0, 0.1)),
                "n": int(rng.integers(50, 500)),
            }
    del stats[FEATURES[0]]["LateDown"]  # no rows of that state: missing ...
    stats[FEATURES[1]]["LateDown"] = {"n": 0}  # ... or n 0
    p = np.linspace(0.05, 0.95, 10)
    return {
        "folds": per_fold,
        "overall": {"n_rows": sum(f["n_rows"] for f in per_fold), **metrics()},
        "confusion_matrix": {
            "labels": list(OUTCOMES),
            "counts": counts.tolist(),
            "rows": "every test row with a known outcome",
        },
        "regime_reliability": _reliability(rng),
        "calibration": {
            "bins": [
                {"p_mean": float(x), "observed": float(x + rng.normal(0, 0.05)), "n": int(m)}
                for x, m in zip(p, rng.integers(10, 1000, 10), strict=True)
            ]
        },
        "feature_by_regime": {"features": list(FEATURES), "states": list(STATES), "stats": stats},
    }


def _reliability(rng: np.random.Generator) -> dict[str, Any]:
    """Bins of a roughly calibrated layer 1: states mostly near 0, "none" spread out."""
    outcomes: dict[str, Any] = {}
    for name in OUTCOMES:
        top = 10 if name == "none" else 4
        p = (np.arange(top) + 0.5) / 10
        n = rng.integers(20, 5000, top)
        observed = np.clip(p + rng.normal(0, 0.03, top), 0, 1)
        outcomes[name] = {
            "mean_probability": float((p * n).sum() / n.sum()),
            "frequency": float((observed * n).sum() / n.sum()),
            "bins": [
                {"p_mean": float(a), "observed": float(b), "n": int(c)}
                for a, b, c in zip(p, observed, n, strict=True)
            ],
        }
    return {"n_bins": 10, "n": 20_000, "outcomes": outcomes}


def _daily(
    rng: np.random.Generator, dates: list[dt.date], strategies: Sequence[str]
) -> pl.DataFrame:
    frames = []
    for name in strategies:
        net = rng.normal(0.0003, 0.01, len(dates))
        equity = np.cumprod(1 + net)
        frames.append(
            pl.DataFrame(
                {
                    "date": pl.Series(dates, dtype=pl.Date),
                    "strategy": name,
                    "gross_return": net + 0.0001,
                    "net_return": net,
                    "cost": np.full(len(dates), 0.0001),
                    "turnover": rng.uniform(0, 0.2, len(dates)),
                    "gross_exposure": rng.uniform(0.5, 1, len(dates)),
                    "net_exposure": rng.uniform(-0.5, 1, len(dates)),
                    "equity": equity,
                    "drawdown": equity / np.maximum.accumulate(equity) - 1,
                }
            )
        )
    return pl.concat(frames)


def _trades(
    rng: np.random.Generator, tickers: list[str], dates: list[dt.date], strategies: Sequence[str]
) -> pl.DataFrame:
    n = 20 * len(strategies)
    entry = rng.integers(0, max(1, len(dates) - 10), n)
    hold = np.minimum(rng.integers(1, 10, n), len(dates) - 1 - entry)
    return pl.DataFrame(
        {
            "strategy": np.repeat(list(strategies), 20),
            "ticker": rng.choice(tickers, n),
            "side": rng.choice(["LONG", "SHORT"], n),
            "entry_date": pl.Series([dates[i] for i in entry], dtype=pl.Date),
            "exit_date": pl.Series([dates[i + h] for i, h in zip(entry, hold, strict=True)]),
            "holding_days": hold,
            "return_pct": rng.normal(0, 3, n),
            "pnl": rng.normal(0, 0.001, n),
        }
    )


def _metrics(rng: np.random.Generator, strategies: Sequence[str]) -> dict[str, Any]:
    def one() -> dict[str, Any]:
        return {
            "cagr": float(rng.normal(0.08, 0.05)),
            "ann_vol": float(rng.uniform(0.1, 0.2)),
            "sharpe": float(rng.normal(0.6, 0.3)),
            "sortino": float(rng.normal(0.9, 0.3)),
            "max_drawdown": float(-rng.uniform(0.05, 0.3)),
            "max_drawdown_days": int(rng.integers(10, 100)),
            "calmar": float(rng.uniform(0.2, 1)),
            "hit_rate": float(rng.uniform(0.45, 0.55)),
            "avg_holding_days": float(rng.uniform(2, 8)),
            "turnover": float(rng.uniform(5, 50)),
            "exposure": float(rng.uniform(0.3, 1)),
            "n_trades": int(rng.integers(100, 5000)),
            "total_return": float(rng.normal(0.2, 0.1)),
        }

    per_strategy = {name: one() for name in strategies}
    if "buy_and_hold" in per_strategy:
        per_strategy["buy_and_hold"]["avg_holding_days"] = None  # never closes a trade
    return {
        "costs": {"cost_bps": 10.0, "slippage_bps": 0.0, "gross_cap": 1.0, "allow_short": True},
        "conventions": CONVENTIONS,
        "order": list(strategies),
        "strategies": per_strategy,
    }


TUNING_CHART_IDS = ("tuning-history-chart", "tuning-importance-chart", "tuning-parallel-chart")
"""The tuning section's charts that every fake tuning has (the Pareto front only some)."""
TUNING_METRIC_KEYS = (
    "n_days",
    "n_trades",
    "total_return",
    "cagr",
    "ann_vol",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_days",
    "calmar",
    "hit_rate",
    "avg_holding_days",
    "turnover",
    "exposure",
    "net_exposure",
    "cost_drag",
)
TUNING_HISTORY = (
    # trial, value, turnover, params: the parameters after `sizing` depend on it
    (0, 0.12, 5.0, {"sizing": "spec", "long_only": True, "risk_aversion": 0.05,
                    "cooldown_days": 3, "theta_long": 0.004}),
    (1, -0.05, 12.5, {"sizing": "rank", "long_only": False, "risk_aversion": 0.2,
                      "cooldown_days": 5, "enter_quantile": 0.8}),
    (2, 0.31, 8.0, {"sizing": "spec", "long_only": False, "risk_aversion": 0.0123456789,
                    "cooldown_days": 2, "theta_long": 0.001}),
    (3, 0.0, 0.0, {"sizing": "topk", "long_only": True, "risk_aversion": 0.9,
                   "cooldown_days": 9, "topk": 12}),
    (4, 0.28, 3.0, {"sizing": "rank", "long_only": True, "risk_aversion": 0.4,
                    "cooldown_days": 4, "enter_quantile": 0.6}),
    (5, 0.44, 9.5, {"sizing": "rank", "long_only": False, "risk_aversion": 0.03,
                    "cooldown_days": 7, "enter_quantile": 0.7}),
)  # fmt: skip
TUNING_RUNNING_BEST = (0.12, 0.12, 0.31, 0.31, 0.31, 0.44)


def _tuning_metrics(k: int) -> dict[str, Any]:
    """A metrics dict of distinct, easily told apart numbers (strategy/cost ``k``)."""
    return {key: round(0.01 * (k + 1) + 0.001 * i, 6) for i, key in enumerate(TUNING_METRIC_KEYS)}


def fake_tuning(*, pareto: bool = False) -> dict[str, Any]:
    """A small ``tuning/tuning.json`` of ``m002 tune``: 6 trials, 2 nested blocks, 2 costs."""
    names = ("untuned", "tuned_nested", "buy_and_hold", "regime_rule")  # the file's order
    comparison = {
        cost: {name: _tuning_metrics(10 * c + k) for k, name in enumerate(names)}
        for c, cost in enumerate(("10bps", "20bps"))
    }
    comparison["20bps"]["buy_and_hold"]["cagr"] = None  # NaN, written as null
    history = [
        {"trial": trial, "value": value, "turnover": turnover, "params": params}
        for trial, value, turnover, params in TUNING_HISTORY
    ]
    return {
        "objective": "sharpe",
        "study": "fake-study",
        "folds": [0, 1, 2, 3],
        "reported_after": "2012-03-30",
        "blocks": [
            {
                "fold": 2,
                "tuned_on": [0, 1],
                "trial": 4,
                "in_sample": 0.6123,
                "turnover_in_sample": 4.5,
                "changes": {"sizing": "rank", "enter_quantile": 0.6},
            },
            {
                "fold": 3,
                "tuned_on": [0, 1, 2],
                "trial": 1,
                "in_sample": 0.4567,
                "turnover_in_sample": 7.25,
                "changes": {"sizing": "spec", "theta_long": 0.002},
            },
        ],
        "comparison": comparison,
        "chosen": {
            "trial": 5,
            "in_sample": 0.44,
            "turnover_in_sample": 9.5,
            "changes": {"sizing": "rank", "long_only": False, "enter_quantile": 0.7},
        },
        "overfitting": {
            "dsr": {
                "dsr": 0.4321,
                "sharpe": 0.0277,
                "sharpe_annual": 0.44,
                "expected_max_sharpe": 0.0252,
                "expected_max_sharpe_annual": 0.4001,
                "n_trials": 5,
                "n_trials_dropped": 1,
                "n_periods": 1234,
                "skewness": -0.5,
                "kurtosis": 6.0,
                "trial_sharpe_variance": 0.0002,
            },
            "pbo": {
                "pbo": 0.3125,
                "n_combinations": 70,
                "n_blocks": 8,
                "n_trials": 6,
                "degradation_slope": -0.8,
                "degradation_intercept": 0.01,
                "prob_oos_loss": 0.25,
            },
        },
        "history": history,
        "pareto_front": (
            [  # not in turnover order: the report sorts it
                {"trial": 5, "value": 0.44, "turnover": 9.5},
                {"trial": 3, "value": 0.0, "turnover": 0.0},
                {"trial": 2, "value": 0.31, "turnover": 8.0},
                {"trial": 4, "value": 0.28, "turnover": 3.0},
            ]
            if pareto
            else None
        ),
        "importances": {"risk_aversion": 0.5, "sizing": 0.3, "cooldown_days": 0.15, "topk": 0.05},
        "timing": {
            "seconds": 1.5,
            "evaluations": 18,
            "sampler_seconds": 0.5,
            "evaluation_seconds": 0.9,
            "trials_per_second": 12.0,
        },
    }


def write_fake_tuning(run_dir: Path, content: Any = None, *, pareto: bool = False) -> Path:
    """Write ``run_dir/tuning/tuning.json``: `fake_tuning` or ``content``; its path."""
    folder = run_dir / "tuning"
    folder.mkdir(exist_ok=True)
    _write_json(folder / ".m002", {"kind": "tuning"})
    file = folder / "tuning.json"
    _write_json(file, fake_tuning(pareto=pareto) if content is None else content)
    return file


def embedded_data(page: str) -> dict[str, Any]:
    """The JSON that a report page embeds for its charts."""
    match = re.search(r'<script type="application/json" id="m002-data">(.*?)</script>', page, re.S)
    assert match is not None, "the page embeds no m002-data script"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete fake run directory: 3 tickers x 120 days, 2 folds, 5 strategies."""
    return write_fake_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def report_file(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of `run_dir`, written once for the session."""
    return render_report(run_dir, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="session")
def tuned_run_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`run_dir` after ``m002 tune``: the same files and ``tuning/tuning.json``."""
    tuned = Path(shutil.copytree(run_dir, tmp_path_factory.mktemp("tuned") / "run"))
    write_fake_tuning(tuned)
    return tuned


@pytest.fixture(scope="session")
def tuned_report_file(tuned_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of `tuned_run_dir`, written once for the session."""
    return render_report(tuned_run_dir, tmp_path_factory.mktemp("report") / "report.html")
