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
from m002.regime import state_prob_columns

__all__ = [
    "ABLATION_POSITION",
    "PAST_RETURN",
    "STRATEGIES",
    "past_return",
    "regime_rule_position",
    "reversal_position",
    "strategy_signals",
]

ABLATION_POSITION: Final = "position_size_no_state_probs"
PAST_RETURN: Final = "ret_5d"

STRATEGIES: Final = MappingProxyType(
    {
        "m002": "the full system: layer 1 -> head -> policy position_size",
        "m002_no_state_probs": (
            "ablation: the head trained without state_prob_* (same rows, same policy)"
        ),
        "regime_rule": (
            "layer 1 alone: +1 where the most likely state is Accumulation or EarlyUp, -1 where "
            "it is Peak or Distribution, 0 for LateDown"
        ),
        "reversal_5d": (
            "short-term reversal: minus the past 5-day return, standardised across tickers each day"
        ),
        "buy_and_hold": "equal weight in every ticker with a price that day",
    }
)

_LONG_STATES: Final = ("Accumulation", "EarlyUp")
_SHORT_STATES: Final = ("Peak", "Distribution")


def past_return(*, window: int = 5) -> pl.Expr:
    """``close / close[window rows earlier] - 1`` per ticker (rows sorted by ticker, date)."""
    return (pl.col("close") / pl.col("close").shift(window) - 1.0).over(TICKER)


def regime_rule_position() -> pl.Expr:
    """+1 / -1 / 0 from the most likely regime state; 0 where the probabilities are null."""
    most_likely = pl.concat_list(state_prob_columns()).list.arg_max()
    long_ids = [STATE_TO_ID[s] for s in _LONG_STATES]
    short_ids = [STATE_TO_ID[s] for s in _SHORT_STATES]
    return (
        pl.when(most_likely.is_in(long_ids))
        .then(1.0)
        .when(most_likely.is_in(short_ids))
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


def strategy_signals(predictions: pl.DataFrame) -> pl.DataFrame:
    """One signed target-size column per `STRATEGIES` entry, keyed by ticker, date (and fold).

    ``predictions`` needs ``close``, ``state_prob_*``, ``position_size``,
    ``position_size_no_state_probs`` and ``ret_5d``.
    """
    needed = [
        TICKER,
        DATE,
        "close",
        "position_size",
        ABLATION_POSITION,
        PAST_RETURN,
        *state_prob_columns(),
    ]
    require_columns(predictions, needed, needed_by="strategy_signals", hint="")
    keys = [c for c in (TICKER, DATE, "fold") if c in predictions.columns]
    return predictions.sort(TICKER, DATE).select(
        *keys,
        pl.col("position_size").fill_null(0.0).alias("m002"),
        pl.col(ABLATION_POSITION).fill_null(0.0).alias("m002_no_state_probs"),
        regime_rule_position().alias("regime_rule"),
        reversal_position().alias("reversal_5d"),
        pl.when(pl.col("close").is_not_null()).then(1.0).otherwise(0.0).alias("buy_and_hold"),
    )
