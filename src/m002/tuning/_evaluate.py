"""A walk-forward run's cached predictions as the kernel's grids, and one trial's evaluation.

`Evaluator` reads the out-of-sample rows of a run once (policy inputs, the ranking score if it
is not the policy's, the return each held weight earns) and then scores any policy and
portfolio configuration in one compiled pass (`m002.tuning._kernel.simulate`): nothing is
re-trained and nothing is re-read. Its figures are those of `m002.evaluation.strategy_signals`
followed by `run_backtest` on the same rows, with the policy re-applied to the whole run
(so a ticker's first ``vol_window - 1`` rows have no volatility estimate, as there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from m002._polars import finite_or_null
from m002._schema import DATE, TICKER, require_columns
from m002.evaluation import BacktestConfig
from m002.evaluation._backtest import check_prices
from m002.exceptions import ConfigError, SchemaError
from m002.policy import EX_ANTE_VOL, POLICY_SCORE, PolicyConfig, apply_policy, required_columns
from m002.portfolio import PortfolioConfig, Sizing
from m002.portfolio._panel import Panel, read_panel
from m002.tuning._kernel import PARAMS, simulate

__all__ = ["DAILY_FIELDS", "Evaluator", "check_supported", "encode", "fold_days"]

Floats = npt.NDArray[np.float64]

DAILY_FIELDS: Final = ("net_return", "gross_return", "turnover", "gross_exposure", "net_exposure")
"""Columns of the kernel's daily output, in order."""
_UNSUPPORTED: Final = {
    "max_positions": "maximum positions",
    "vol_target": "the volatility target",
}
_SIZINGS: Final = {Sizing.SPEC: 0.0, Sizing.RANK: 1.0, Sizing.TOPK: 2.0}


def check_supported(portfolio: PortfolioConfig) -> None:
    """`ConfigError` naming each portfolio rule the compiled evaluation does not carry."""
    rules = [label for name, label in _UNSUPPORTED.items() if getattr(portfolio, name) is not None]
    rules += ["edge over cost"] if portfolio.edge_over_cost else []
    rules += ["beta neutrality"] if portfolio.beta_neutral else []
    if rules:
        msg = (
            f"m002 tune cannot evaluate a portfolio with {', '.join(rules)} (the compiled "
            "evaluation carries the sizings, hysteresis, top-k, cooldown, holding, trade rate, "
            "no-trade band, caps, gross target and net band): turn those rules off in "
            "[portfolio] or fix them outside the search"
        )
        raise ConfigError(msg)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def encode(policy: PolicyConfig, portfolio: PortfolioConfig) -> Floats:
    """The kernel's parameter row (`m002.tuning._kernel.PARAMS`) of two configurations."""
    check_supported(portfolio)
    values = {
        "risk_aversion": policy.risk_aversion,
        "k": policy.k,
        "size_max": policy.size_max,
        "theta_long": policy.theta_long,
        "theta_short": policy.theta_short,
        "peak_prob_threshold": policy.peak_prob_threshold,
        "overheat_multiplier": policy.overheat_multiplier,
        "late_breakdown_multiplier": policy.late_breakdown_multiplier,
        "allow_short": float(policy.allow_short),
        "score_symmetric": float(policy.score_form == "symmetric"),
        "gate_open": float(policy.short_gate == "score"),
        "multiplier_any_sign": float(policy.multiplier_scope == "any_sign"),
        "sizing": _SIZINGS[Sizing(portfolio.sizing)],
        "long_only": float(portfolio.long_only),
        "enter_quantile": _number(portfolio.enter_quantile),
        "exit_quantile": _number(portfolio.exit_quantile),
        "topk": float(portfolio.topk),
        "n_drop": float(portfolio.n_drop),
        "cooldown_days": float(portfolio.cooldown_days),
        "min_hold_days": float(portfolio.min_hold_days),
        "trade_rate": portfolio.trade_rate,
        "no_trade_band": portfolio.no_trade_band,
        "max_weight": _number(portfolio.max_weight),
        "gross_target": _number(portfolio.gross_target),
        "max_leverage": _number(portfolio.max_leverage),
        "net_min": _number(portfolio.net_min),
        "net_max": _number(portfolio.net_max),
        "score_is_policy": float(portfolio.score_column == POLICY_SCORE),
    }
    return np.array([values[name] for name in PARAMS], dtype=np.float64)


@dataclass(frozen=True)
class _Grids:
    present: npt.NDArray[np.bool_]
    prob: Floats
    ret_pct: Floats
    dd_pct: Floats
    vol: Floats
    overheat: Floats
    late: Floats
    early: Floats
    peak: Floats
    fixed_score: Floats
    returns: Floats


class Evaluator:
    """The rows of a run, ready for any number of parameter sets.

    Parameters
    ----------
    predictions : pl.DataFrame
        A run's ``predictions.parquet`` (or any frame with the policy's inputs, ``open``,
        ``close``, ``fold`` and the portfolio's score column).
    policy : PolicyConfig
        The run's policy: its ``vol_window`` sets the ex-ante volatility, which the search
        does not vary.
    portfolio : PortfolioConfig
        The run's portfolio: its ``score_column`` is what the book ranks.
    backtest : BacktestConfig
        Costs, gross cap, shorting and execution of the backtest.

    Attributes
    ----------
    dates : list of datetime.date
        The grid's dates, ascending (one row of the daily output each).
    fold_of_date : numpy.ndarray
        The walk-forward fold of each date.
    """

    def __init__(
        self,
        predictions: pl.DataFrame,
        policy: PolicyConfig,
        portfolio: PortfolioConfig,
        backtest: BacktestConfig,
    ) -> None:
        check_supported(portfolio)
        price_columns = ["open", "close"] if backtest.execution == "next_open" else ["close"]
        score = portfolio.score_column
        needed = [*required_columns(), *price_columns, "fold"]
        needed += [score] if score != POLICY_SCORE else []
        require_columns(
            predictions,
            needed,
            needed_by="m002 tune",
            hint="a run folder written by an older m002 lacks some: re-run `m002 walkforward`",
        )
        if predictions.height == 0:
            msg = "m002 tune: the run's predictions have no rows: re-run `m002 walkforward`"
            raise SchemaError(msg)
        check_prices(predictions, price_columns, needed_by="m002 tune")
        rows = predictions.sort(TICKER, DATE)
        self._rows = rows.select(TICKER, DATE)
        self.panel: Panel = read_panel(rows)
        self.backtest = backtest
        self.policy, self.portfolio = policy, portfolio
        self._grids = self._read(rows, policy, score, backtest.execution)
        fold = self.panel.grid(rows["fold"].cast(pl.Float64).to_numpy(), fill=-1.0)
        self.fold_of_date = fold.max(axis=1).astype(np.int64)
        self.dates = rows[DATE].unique().sort().to_list()
        self._costs = _cost_row(backtest)

    def _read(self, rows: pl.DataFrame, policy: PolicyConfig, score: str, execution: str) -> _Grids:
        vol = apply_policy(rows.select(required_columns()), policy)[EX_ANTE_VOL]
        if execution == "next_open":
            ret = pl.col("open").shift(-1).over(TICKER) / pl.col("open") - 1.0
        else:
            ret = pl.col("close") / pl.col("close").shift(1).over(TICKER) - 1.0

        def flag(name: str) -> pl.Expr:
            return (pl.col(name) == 1).fill_null(False).cast(pl.Float64)

        values = rows.with_columns(vol.alias("_vol")).select(
            prob=finite_or_null("pred_rebound_prob"),
            ret_pct=finite_or_null("pred_expected_ret_pct"),
            dd_pct=finite_or_null("pred_expected_dd_pct"),
            vol=pl.col("_vol").cast(pl.Float64),
            overheat=flag("I_vr_and_vs"),
            late=flag("I_bd_late"),
            early=flag("I_bd_early"),
            peak=pl.col("state_prob_Peak").cast(pl.Float64),
            fixed_score=pl.col(score).cast(pl.Float64) if score != POLICY_SCORE else pl.lit(0.0),
            returns=ret.cast(pl.Float64).fill_null(0.0),
        )
        inputs = ["prob", "ret_pct", "dd_pct"] if score == POLICY_SCORE else ["fixed_score"]
        if not values.select(pl.all_horizontal(pl.col(inputs).is_finite())).to_series().any():
            msg = (
                f"m002 tune: no row of the run's predictions has a finite "
                f"{'head prediction (pred_*)' if score == POLICY_SCORE else score}, so no "
                "parameter can decide anything: check the run (`m002 report`) or re-run it"
            )
            raise SchemaError(msg)
        grids = {
            name: self.panel.grid(values[name].fill_null(np.nan).to_numpy().astype(np.float64))
            for name in values.columns
        }
        return _Grids(present=self.panel.present(), **grids)

    @property
    def n_dates(self) -> int:
        return self.panel.n_dates

    def with_backtest(self, backtest: BacktestConfig) -> Evaluator:
        """The same rows under other costs (the execution must be the same)."""
        if backtest.execution != self.backtest.execution:
            msg = "with_backtest changes costs only; the execution reads other prices"
            raise ConfigError(msg)
        other = object.__new__(Evaluator)
        other.__dict__.update(self.__dict__)
        other.backtest = backtest
        other._costs = _cost_row(backtest)
        return other

    def daily(
        self,
        params: Floats,
        schedule: npt.NDArray[np.int64] | None = None,
        *,
        weights: bool = False,
        until: int | None = None,
    ) -> tuple[Floats, Floats | None]:
        """The daily figures (`DAILY_FIELDS`, one row per date) of one pass.

        ``params`` is one parameter row or several (``(n_sets, n_params)``); ``schedule[d]``
        picks the row that decides date ``d`` (default: the first row everywhere). With
        ``weights``, the target weight of every row of the grid is returned too (NaN where
        a ticker has no row). ``until``: simulate the first ``until`` dates only (the rows
        after it are 0); those dates' figures are the full pass's, as every rule is causal.
        """
        table = np.atleast_2d(np.asarray(params, dtype=np.float64))
        if schedule is None:
            schedule = np.zeros(self.n_dates, dtype=np.int64)
        g = self._grids
        grid = np.full(g.present.shape, np.nan) if weights else np.empty((0, 0))
        out = simulate(
            g.present, g.prob, g.ret_pct, g.dd_pct, g.vol, g.overheat, g.late, g.early,
            g.peak, g.fixed_score, g.returns, table, schedule, self._costs, grid,
            self.n_dates if until is None else until,
        )  # fmt: skip
        return out, (grid if weights else None)

    def weights(self, params: Floats, schedule: npt.NDArray[np.int64] | None = None) -> Floats:
        """The target weight of every row of the grid (NaN where a ticker has no row)."""
        _, grid = self.daily(params, schedule, weights=True)
        if grid is None:  # daily returns the grid whenever it is asked for
            msg = "the compiled pass returned no weights"
            raise RuntimeError(msg)
        return grid

    def signals(self, weights: Floats, name: str) -> pl.DataFrame:
        """A weight grid as a signals frame (ticker, date, ``name``) of the run's rows."""
        return self._rows.with_columns(pl.Series(name, self.panel.rows(weights)))


def _cost_row(backtest: BacktestConfig) -> Floats:
    """The kernel's ``costs``: cost rate, daily borrow rate, gross cap, shorts allowed."""
    return np.array(
        [backtest.cost_rate, backtest.borrow_rate, backtest.gross_cap, float(backtest.allow_short)]
    )


def fold_days(fold_of_date: npt.NDArray[np.int64], folds: Sequence[int]) -> npt.NDArray[np.bool_]:
    """True on the dates of the given folds."""
    return np.isin(fold_of_date, np.asarray(list(folds), dtype=np.int64))
