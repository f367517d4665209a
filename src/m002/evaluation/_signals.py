"""Target positions of the strategy, its ablation and the baselines, on the same rows.

Every signal is a signed size decided from data up to the row's date (the backtest holds it
from the next row) and is scaled under the same gross cap by `run_backtest`, so the columns
compare like for like: same folds, same dates, same costs.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import polars as pl

from m002._schema import DATE, TICKER, require_columns
from m002.labels import STATE_TO_ID
from m002.policy import (
    POLICY_COLUMNS,
    POSITION_SIZE,
    PolicyConfig,
    apply_policy,
    required_columns,
)
from m002.portfolio import TARGET_WEIGHT, PortfolioConfig, Sizing, build_portfolio
from m002.regime import state_prob_columns

__all__ = [
    "ABLATION_COLUMNS",
    "ABLATION_POSITION",
    "ORACLE_STRATEGIES",
    "PAST_RETURN",
    "STRATEGIES",
    "TRUE_REGIME",
    "oracle_position",
    "past_return",
    "regime_rule_position",
    "reversal_position",
    "strategy_signals",
]

ABLATION_POSITION: Final = "position_size_no_state_probs"
ABLATION_COLUMNS: Final = MappingProxyType(
    {
        "position_size": ABLATION_POSITION,
        "policy_score": "policy_score_no_state_probs",
        "pred_rebound_prob": "pred_rebound_prob_no_state_probs",
        "pred_expected_ret_pct": "pred_expected_ret_pct_no_state_probs",
        "pred_expected_dd_pct": "pred_expected_dd_pct_no_state_probs",
    }
)
"""The ablation's (head without ``state_prob_*``) columns in the predictions, by the name of
the full system's column they stand for: its decisions and its head's three outputs, so that
another policy can be applied to it too."""
PAST_RETURN: Final = "ret_5d"
TRUE_REGIME: Final = "true_regime"
"""The synthetic generator's ground-truth regime of the row (only on synthetic data)."""

STRATEGIES: Final = MappingProxyType(
    {
        "m002": (
            "the full system with its configured portfolio: layer 1 -> head -> policy -> "
            "portfolio target_weight"
        ),
        "m002_spec": (
            "the spec's layer 3 as written (PolicyConfig.spec()) alone: its position_size, no "
            "portfolio layer"
        ),
        "m002_rank": "the portfolio's rank sizing, dollar-neutral, other rules as configured",
        "m002_topk": (
            "the portfolio's top-k with dropout, long and short, other rules as configured"
        ),
        "m002_rank_long_only": "rank sizing as a long-only tilt, other rules as configured",
        "m002_no_state_probs": (
            "ablation: the head trained without state_prob_*, through the same policy and portfolio"
        ),
        "regime_rule": (
            "layer 1 alone: +1 where the most likely outcome is Accumulation or EarlyUp, -1 "
            "where it is Peak or Distribution, 0 for LateDown or no state"
        ),
        "reversal_5d": (
            "short-term reversal: minus the past 5-day return, standardised across tickers each day"
        ),
        "buy_and_hold": "equal weight in every ticker with a price that day",
    }
)

ORACLE_STRATEGIES: Final = MappingProxyType(
    {
        "oracle_regime": (
            "synthetic data only: +1 in the true up and bottom regimes, -1 in down and top, 0 "
            "sideways, known on the day (the structure a perfect layer 1 could find)"
        ),
        "oracle_regime_long_only": "synthetic data only: +1 in the true up and bottom regimes",
    }
)
_ORACLE_LONG: Final = ("up", "bottom")
_ORACLE_SHORT: Final = ("down", "top")

_LONG_STATES: Final = ("Accumulation", "EarlyUp")
_SHORT_STATES: Final = ("Peak", "Distribution")


def past_return(*, window: int = 5) -> pl.Expr:
    """``close / close[window rows earlier] - 1`` per ticker (rows sorted by ticker, date)."""
    return (pl.col("close") / pl.col("close").shift(window) - 1.0).over(TICKER)


def regime_rule_position() -> pl.Expr:
    """+1 / -1 / 0 from the most likely of layer 1's six outcomes: the five states and "no
    state" (the probability the five leave over); 0 where no state is the most likely, or
    where a probability is null."""
    states = state_prob_columns()
    most_likely = pl.concat_list(states).list.arg_max()
    no_state = 1.0 - pl.sum_horizontal(states)
    long_ids = [STATE_TO_ID[s] for s in _LONG_STATES]
    short_ids = [STATE_TO_ID[s] for s in _SHORT_STATES]
    known = pl.all_horizontal(pl.col(c).is_not_null() for c in states)
    some_state = known & (pl.max_horizontal(states) > no_state)
    return (
        pl.when(some_state & most_likely.is_in(long_ids))
        .then(1.0)
        .when(some_state & most_likely.is_in(short_ids))
        .then(-1.0)
        .otherwise(0.0)
    )


def reversal_position() -> pl.Expr:
    """Minus the past return, demeaned across the day's tickers and divided by its mean
    absolute deviation (so a typical name has size 1); 0 where the past return is null."""
    r = pl.col(PAST_RETURN)
    centred = r - r.mean().over(DATE)
    spread = centred.abs().mean().over(DATE)
    return pl.when(spread > 0.0).then(-centred / spread).otherwise(0.0).fill_null(0.0)


def oracle_position(*, long_only: bool = False) -> pl.Expr:
    """+1 / -1 / 0 from the synthetic ground-truth regime of the row (`TRUE_REGIME`)."""
    short = 0.0 if long_only else -1.0
    regime = pl.col(TRUE_REGIME)
    return (
        pl.when(regime.is_in(_ORACLE_LONG))
        .then(1.0)
        .when(regime.is_in(_ORACLE_SHORT))
        .then(short)
        .otherwise(0.0)
    )


def _book(predictions: pl.DataFrame, config: PortfolioConfig) -> pl.Series:
    return build_portfolio(predictions, config)[TARGET_WEIGHT]


def strategy_signals(
    predictions: pl.DataFrame,
    portfolio: PortfolioConfig | None = None,
    *,
    policy: PolicyConfig | None = None,
) -> pl.DataFrame:
    """One signed target-size column per `STRATEGIES` entry (and per `ORACLE_STRATEGIES` entry
    where the predictions carry `TRUE_REGIME`), keyed by ticker, date (and fold).

    With ``policy``, the policy is applied anew to the head's predictions of the system and
    of the ablation before the books are built (re-deciding a run without re-training);
    without it, the policy columns of ``predictions`` are used as they are. The policy's
    volatility is a rolling mean over each ticker's rows, so on the rows given its first
    ``vol_window - 1`` rows per ticker have none and stay flat.

    The portfolio strategies run `m002.portfolio.build_portfolio` once over all the given
    rows in date order, so a book's memory carries from one test block to the next as it
    would in trading. ``predictions`` needs ``close``, ``state_prob_*``, the policy's inputs
    (`m002.policy.required_columns`: ``m002_spec`` re-applies the spec's own policy) and
    outputs, the ablation's columns (`ABLATION_COLUMNS`) and ``ret_5d``.
    """
    config = portfolio or PortfolioConfig()
    needed = [
        TICKER,
        DATE,
        "close",
        "position_size",
        "policy_score",
        *required_columns(),
        *ABLATION_COLUMNS.values(),
        PAST_RETURN,
        *state_prob_columns(),
    ]
    require_columns(
        predictions,
        needed,
        needed_by="strategy_signals",
        hint="a run folder written by an older m002 lacks some: re-run `m002 walkforward`",
    )
    rows = predictions.sort(TICKER, DATE)
    ablation = rows.with_columns(pl.col(a).alias(c) for c, a in ABLATION_COLUMNS.items())
    if policy is not None:
        rows, ablation = (_decided(frame, policy) for frame in (rows, ablation))
    books = {
        "m002": _book(rows, config),
        "m002_spec": _spec_sizes(rows),
        "m002_rank": _book(rows, config.replace(sizing=Sizing.RANK, long_only=False)),
        "m002_topk": _book(rows, config.replace(sizing=Sizing.TOPK, long_only=False)),
        "m002_rank_long_only": _book(rows, config.replace(sizing=Sizing.RANK, long_only=True)),
        "m002_no_state_probs": _book(ablation, config),
    }
    keys = [c for c in (TICKER, DATE, "fold") if c in rows.columns]
    oracle = []
    if TRUE_REGIME in rows.columns:
        oracle = [
            oracle_position().alias("oracle_regime"),
            oracle_position(long_only=True).alias("oracle_regime_long_only"),
        ]
    return rows.select(
        *keys,
        *(pl.lit(book).alias(name) for name, book in books.items()),
        regime_rule_position().alias("regime_rule"),
        reversal_position().alias("reversal_5d"),
        pl.when(pl.col("close").is_not_null()).then(1.0).otherwise(0.0).alias("buy_and_hold"),
        *oracle,
    )


def _decided(rows: pl.DataFrame, policy: PolicyConfig) -> pl.DataFrame:
    """``rows`` with their policy columns computed anew by ``policy``."""
    return apply_policy(rows.drop(POLICY_COLUMNS, strict=False), policy)


def _spec_sizes(rows: pl.DataFrame) -> pl.Series:
    """``position_size`` of the spec's own policy on ``rows`` (sorted by ticker and date)."""
    spec = apply_policy(rows.select(required_columns()), PolicyConfig.spec())
    return spec[POSITION_SIZE].fill_null(0.0)
