"""Layer-2 targets: future return, worst drawdown and the rebound label (spec 3.1).

For each row t of a ticker, with ``h`` = ``TargetConfig.horizon`` trading rows of that ticker
(rows, not calendar days: a gap in the dates is not a gap in the horizon):

``future_ret_pct``
    ``100 * (close_(t+h) / close_t - 1)``: the return from today's close to the close ``h``
    rows ahead.
``future_dd_pct``
    ``min(0, 100 * (min(low_(t+1), ..., low_(t+h)) / close_t - 1))``: the worst drawdown on
    the way, for someone who buys at today's close and holds ``h`` rows. It reads the *lows*
    of the next ``h`` rows, not their closes: a close-to-close path hides the intraday dips a
    holder actually sits through, so lows give the honest worst case. It is capped at 0: a path
    that never trades below today's close has drawdown 0, never a positive one.
``label_rebound_bin``
    ``1`` (Int8) where ``future_ret_pct >= rebound_min_ret_pct`` and
    ``future_dd_pct >= rebound_max_dd_pct`` (defaults: a return of at least +1% without a
    drawdown below -3%), else ``0``. Both comparisons allow ``1e-9`` percentage points of
    float rounding, so that a path the prices make exactly +1% / -3% (``101 / 100``,
    ``97 / 100``, which binary floats compute a hair off) counts as meeting the threshold.
``target_horizon``
    ``h`` (Int16) on every row, recording how far the targets look.

These are labels, so they look ahead by ``horizon`` rows (DESIGN rule 2): no model input may
read them or anything computed from them, and any split between fit and evaluation rows must
purge/embargo at least ``horizon`` rows per ticker (DESIGN rule 3), or the last fit rows'
targets would be computed from evaluation prices.

All three targets are null on the last ``horizon`` rows of each ticker (their window would run
past the ticker's data: never a partial window, never another ticker's rows) and on rows whose
window holds a null price: a null ``close`` among ``close_t .. close_(t+h)`` or a null ``low``
among ``low_(t+1) .. low_(t+h)``. Nulls are kept, not filled: a target from a hole in the data
would be made up. Prices are assumed positive, as the data layer validates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from m002._checks import check_field_types
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError

__all__ = [
    "FUTURE_DD_PCT",
    "FUTURE_RET_PCT",
    "LABEL_REBOUND_BIN",
    "TARGET_COLUMNS",
    "TARGET_HORIZON",
    "TargetConfig",
    "compute_future_returns",
]

FUTURE_RET_PCT: Final = "future_ret_pct"
FUTURE_DD_PCT: Final = "future_dd_pct"
LABEL_REBOUND_BIN: Final = "label_rebound_bin"
TARGET_HORIZON: Final = "target_horizon"
TARGET_COLUMNS: Final = (FUTURE_RET_PCT, FUTURE_DD_PCT, LABEL_REBOUND_BIN)
"""The target columns `compute_future_returns` adds (besides ``target_horizon``)."""

_INPUT_COLUMNS: Final = (TICKER, DATE, "low", "close")
_MAX_HORIZON: Final = 32_767  # the Int16 of target_horizon
_TOLERANCE_PCT: Final = 1e-9  # float rounding of 100 * (a / b - 1), far below any real move


@dataclass(frozen=True)
class TargetConfig:
    """How far the layer-2 targets look and what counts as a rebound.

    Parameters
    ----------
    horizon : int, default 5
        Trading rows of one ticker the targets look ahead (>= 1). Any fit/eval split must
        purge at least this many rows.
    rebound_min_ret_pct : float, default 1.0
        ``label_rebound_bin`` needs ``future_ret_pct`` >= this, in percent (1.0 = +1%).
    rebound_max_dd_pct : float, default -3.0
        ``label_rebound_bin`` needs ``future_dd_pct`` >= this, in percent (<= 0, since a
        drawdown is never positive; -3.0 = no dip below -3%).

    Raises
    ------
    ConfigError
        If ``horizon`` is not an int in [1, 32767], a threshold is not a finite number, or
        ``rebound_max_dd_pct`` > 0.

    Examples
    --------
    >>> TargetConfig(horizon=10).horizon
    10
    >>> TargetConfig(rebound_max_dd_pct=2.0)
    Traceback (most recent call last):
    ...
    m002.exceptions.ConfigError: `rebound_max_dd_pct` must be <= 0, got `rebound_max_dd_pct=2.0`
    """

    horizon: int = 5
    rebound_min_ret_pct: float = 1.0
    rebound_max_dd_pct: float = -3.0

    def __post_init__(self) -> None:
        check_field_types(self)
        if not 1 <= self.horizon <= _MAX_HORIZON:
            msg = f"`horizon` must be in [1, {_MAX_HORIZON}], got `horizon={self.horizon!r}`"
            raise ConfigError(msg)
        if self.rebound_max_dd_pct > 0:
            msg = (
                f"`rebound_max_dd_pct` must be <= 0, "
                f"got `rebound_max_dd_pct={self.rebound_max_dd_pct!r}`"
            )
            raise ConfigError(msg)


def _target_exprs(horizon: int) -> tuple[pl.Expr, pl.Expr]:
    """``future_ret_pct`` and ``future_dd_pct`` over a frame sorted by (ticker, date).

    Null where the window runs past the ticker's last row or holds a null price.
    """
    h = horizon
    close, low = pl.col("close"), pl.col("low")
    close_ahead = close.shift(-h).over(TICKER)
    # rolling_min needs all h values (min_samples defaults to the window): a null low -> null
    low_ahead = low.rolling_min(h).shift(-h).over(TICKER)
    null_closes = close.is_null().cast(pl.UInt32).rolling_sum(h + 1).shift(-h).over(TICKER)
    rows_left = pl.len().over(TICKER) - pl.int_range(pl.len()).over(TICKER) - 1
    valid = (rows_left >= h) & (null_closes == 0) & low_ahead.is_not_null()
    ret = 100.0 * (close_ahead / close - 1.0)
    dd = (100.0 * (low_ahead / close - 1.0)).clip(upper_bound=0.0)
    return pl.when(valid).then(ret), pl.when(valid).then(dd)


def compute_future_returns(
    frame: pl.LazyFrame | pl.DataFrame, config: TargetConfig | None = None
) -> pl.LazyFrame:
    """Add the layer-2 targets: future return, worst drawdown, rebound label, horizon.

    The targets look ahead by ``config.horizon`` rows of the same ticker (DESIGN rule 2): they
    are labels, never model inputs, and any split between fit and evaluation rows must purge
    at least ``horizon`` rows per ticker (DESIGN rule 3). The module documentation gives the
    formulas; the drawdown reads the lows of the next ``horizon`` rows (the worst case for a
    holder from today's close) and is capped at 0.

    Parameters
    ----------
    frame : pl.LazyFrame or pl.DataFrame
        Rows with at least ``ticker``, ``date``, ``low`` and ``close`` (canonical schema), in
        any order. There is no fallback to closes where ``low`` is missing.
    config : TargetConfig, optional
        Horizon and rebound thresholds; ``TargetConfig()`` when omitted.

    Returns
    -------
    pl.LazyFrame
        The rows sorted by (ticker, date) with ``future_ret_pct`` and ``future_dd_pct``
        (Float64, percent), ``label_rebound_bin`` (Int8, 0/1) and ``target_horizon`` (Int16,
        ``config.horizon``). The three targets are null on the last ``horizon`` rows of each
        ticker and where the window holds a null ``close`` or ``low``.

    Raises
    ------
    SchemaError
        If ``ticker``, ``date``, ``low`` or ``close`` is missing.

    Examples
    --------
    >>> from datetime import date, timedelta
    >>> prices = pl.DataFrame(
    ...     {
    ...         "ticker": "A",
    ...         "date": [date(2024, 1, 1) + timedelta(days=i) for i in range(4)],
    ...         "low": [99.0, 97.0, 100.0, 101.0],
    ...         "close": [100.0, 98.0, 102.0, 104.0],
    ...     }
    ... )
    >>> out = compute_future_returns(prices, TargetConfig(horizon=2)).collect()
    >>> out[FUTURE_RET_PCT].round(6).to_list(), out[FUTURE_DD_PCT].round(6).to_list()
    ([2.0, 6.122449, None, None], [-3.0, 0.0, None, None])
    >>> out[LABEL_REBOUND_BIN].to_list()
    [1, 1, None, None]
    """
    config = TargetConfig() if config is None else config
    lazy = frame.lazy()
    require_columns(
        lazy,
        _INPUT_COLUMNS,
        needed_by="target computation",
        hint="pass a frame in the canonical schema (`m002.data`), with the `low` prices",
    )
    ret, dd = _target_exprs(config.horizon)
    ret_col, dd_col = pl.col(FUTURE_RET_PCT), pl.col(FUTURE_DD_PCT)
    rebound = (ret_col >= config.rebound_min_ret_pct - _TOLERANCE_PCT) & (
        dd_col >= config.rebound_max_dd_pct - _TOLERANCE_PCT
    )
    return (
        lazy.sort(TICKER, DATE)
        .with_columns(ret.alias(FUTURE_RET_PCT), dd.alias(FUTURE_DD_PCT))
        .with_columns(
            # both targets are null together, so `&` cannot turn a null into 0 here
            rebound.cast(pl.Int8).alias(LABEL_REBOUND_BIN),
            pl.lit(config.horizon, dtype=pl.Int16).alias(TARGET_HORIZON),
        )
    )
