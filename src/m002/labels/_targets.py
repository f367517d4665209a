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

For scoring only, `future_return_from_next` gives ``future_ret_next_pct``,
``100 * (close_(t+1+h) / close_(t+1) - 1)``: the same horizon bought at the next row's close,
which is Qlib's label (``Ref($close, -(h+1)) / Ref($close, -1) - 1``), so that a rank IC
measured against it compares with Qlib's; it also leaves out the move of the day the
prediction is made, which a trader acting on the next day cannot earn.

These are labels, so they look ahead by ``horizon`` rows (DESIGN rule 2): no model input may
read them or anything computed from them, and any split between fit and evaluation rows must
purge/embargo at least ``horizon`` rows per ticker (DESIGN rule 3), or the last fit rows'
targets would be computed from evaluation prices.

All three targets are null on the last ``horizon`` rows of each ticker (their window would run
past the ticker's data: never a partial window, never another ticker's rows) and on rows whose
window holds a null price: a null ``close`` among ``close_t .. close_(t+h)`` or a null ``low``
among ``low_(t+1) .. low_(t+h)``. Nulls are kept, not filled: a target from a hole in the data
would be made up. Prices are assumed positive, as the data layer validates them.

What the head's return model learns
-----------------------------------
Most of the variance of ``future_ret_pct`` is the whole market's move over the horizon, which
is the same for every name on a date and so of no use in choosing between names.
`return_target` gives the return model a target of one `ReturnTarget` kind, always computed
*within one date* (the cross-section of the rows given), never across dates:

``raw``
    ``future_ret_pct`` itself, in percent.
``excess``
    ``future_ret_pct`` minus the mean ``future_ret_pct`` of that date's rows that have one
    (rows with a null target neither count in the mean nor get a value), in percent.
``vol_scaled_excess``
    ``excess / (100 * volatility_20 * sqrt(target_horizon))``: the excess return in units of
    the ticker's own expected move over the horizon, where ``volatility_20`` is the feature
    of that name, the sample sd of the last 20 daily log returns *up to and including t*
    (known at t, so it adds no look-ahead beyond the return's). Unit-free: 1.0 is an excess
    of one horizon-sigma. Null where that volatility is null, non-finite or below
    ``min_vol`` (a price that barely moved for 20 rows: dividing by it would blow up).
``rank``
    The average-tie rank of ``future_ret_pct`` among that date's rows that have one, mapped
    linearly onto ``[-0.5, 0.5]`` (``(rank - 1) / (n - 1) - 0.5``; 0 where the date has a
    single such row). Unit-free; its mean over each date is exactly 0.
``zscore``
    ``excess`` divided by the sample sd (ddof 1) of that date's ``future_ret_pct``: each
    date's cross-section standardised, as Qlib's ``CSZScoreNorm`` of the label, so that a
    date of wide dispersion weighs no more in the fit than a quiet one. Unit-free (0 on a
    date whose returns are all equal; null where the date has a single such row).

The excess, vol-scaled, rank and z-score targets depend on which tickers share the date in
the frame they are computed on: compute them on the frame a model is fitted on (the head
does so itself, from its ``target`` parameter). Like ``future_ret_pct`` they look ahead by
``horizon`` rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import polars as pl

from m002._checks import check_field_types, check_int
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError

__all__ = [
    "FUTURE_DD_PCT",
    "FUTURE_RET_NEXT_PCT",
    "FUTURE_RET_PCT",
    "LABEL_REBOUND_BIN",
    "RET_TARGET",
    "TARGET_COLUMNS",
    "TARGET_HORIZON",
    "ReturnTarget",
    "TargetConfig",
    "add_return_target",
    "compute_future_returns",
    "future_return_from_next",
    "return_target",
    "return_target_inputs",
]

FUTURE_RET_PCT: Final = "future_ret_pct"
FUTURE_DD_PCT: Final = "future_dd_pct"
FUTURE_RET_NEXT_PCT: Final = "future_ret_next_pct"
LABEL_REBOUND_BIN: Final = "label_rebound_bin"
TARGET_HORIZON: Final = "target_horizon"
TARGET_COLUMNS: Final = (FUTURE_RET_PCT, FUTURE_DD_PCT, LABEL_REBOUND_BIN)
"""The target columns `compute_future_returns` adds (besides ``target_horizon``)."""
RET_TARGET: Final = "ret_target"
"""The column `add_return_target` writes: what the head's return model learns."""
VOLATILITY_COLUMN: Final = "volatility_20"
"""The causal volatility (sd of daily log returns, known at t) of ``vol_scaled_excess``."""
MIN_VOL: Final = 1e-4
"""Default floor of that volatility (0.01% a day) below which the scaled target is null."""

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


def future_return_from_next(horizon: int) -> pl.Expr:
    """``future_ret_next_pct``: the return in percent from the next row's close to the close
    ``horizon`` rows after it, per ticker of a frame sorted by (ticker, date); null where
    either close is past the ticker's last row or null. A scoring column (it looks ahead
    ``horizon + 1`` rows), never a model input. `ConfigError` unless ``horizon`` is an int
    >= 1.

    Examples
    --------
    >>> frame = pl.DataFrame({"ticker": "A", "close": [100.0, 50.0, 60.0, 75.0]})
    >>> frame.select(future_return_from_next(2))["future_ret_next_pct"].to_list()
    [50.0, None, None, None]
    """
    check_int("horizon", horizon, 1)
    close = pl.col("close")
    ahead = close.shift(-(horizon + 1)) / close.shift(-1)
    return (100.0 * (ahead - 1.0)).over(TICKER).alias(FUTURE_RET_NEXT_PCT)


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


class ReturnTarget(StrEnum):
    """What the return model learns; the module documentation gives the formulas."""

    RAW = "raw"
    """``future_ret_pct`` as it is (percent)."""
    EXCESS = "excess"
    """Minus the date's cross-sectional mean (percent)."""
    VOL_SCALED_EXCESS = "vol_scaled_excess"
    """The excess over the ticker's own volatility at t times sqrt(horizon) (unit-free)."""
    RANK = "rank"
    """The date's cross-sectional rank on [-0.5, 0.5] (unit-free)."""
    ZSCORE = "zscore"
    """The excess over the date's cross-sectional sd (unit-free)."""


def _return_target_kind(kind: object) -> ReturnTarget:
    try:
        return ReturnTarget(kind)  # type: ignore[arg-type]  # anything; a bad one raises
    except ValueError:
        kinds = ", ".join(repr(k.value) for k in ReturnTarget)
        msg = f"`target` must be one of {kinds}, got `target={kind!r}`"
        raise ConfigError(msg) from None


def return_target_inputs(kind: str) -> tuple[str, ...]:
    """The columns `return_target` of ``kind`` reads.

    Raises
    ------
    ConfigError
        If ``kind`` is not a `ReturnTarget`.
    """
    resolved = _return_target_kind(kind)
    if resolved is ReturnTarget.RAW:
        return (FUTURE_RET_PCT,)
    if resolved is ReturnTarget.VOL_SCALED_EXCESS:
        return (DATE, FUTURE_RET_PCT, VOLATILITY_COLUMN, TARGET_HORIZON)
    return (DATE, FUTURE_RET_PCT)


def return_target(kind: str, *, min_vol: float = MIN_VOL) -> pl.Expr:
    """The return model's target of ``kind``, per date: an expression, not yet named.

    Parameters
    ----------
    kind : {"raw", "excess", "vol_scaled_excess", "rank", "zscore"} or ReturnTarget
        The module documentation gives each formula. Every kind but ``raw`` is computed over
        the rows of one ``date`` at a time (``.over("date")``), never across dates.
    min_vol : float, default 1e-4
        ``vol_scaled_excess`` only: a ``volatility_20`` (daily log-return sd) below this, or
        null, or not finite, makes the target null rather than a huge ratio.

    Returns
    -------
    pl.Expr
        Float64; null where ``future_ret_pct`` is null or NaN (and, for the scaled kind, where
        the volatility is unusable). It reads `return_target_inputs` of ``kind``.

    Raises
    ------
    ConfigError
        If ``kind`` is unknown or ``min_vol`` is not a positive finite number.

    Examples
    --------
    >>> from datetime import date
    >>> frame = pl.DataFrame(
    ...     {
    ...         "date": [date(2024, 1, 2)] * 3 + [date(2024, 1, 3)] * 2,
    ...         "future_ret_pct": [1.0, 2.0, 6.0, None, -4.0],
    ...     }
    ... )
    >>> frame.select(return_target("excess"))["future_ret_pct"].to_list()
    [-2.0, -1.0, 3.0, None, 0.0]
    >>> frame.select(return_target("rank"))["future_ret_pct"].to_list()
    [-0.5, 0.0, 0.5, None, 0.0]
    >>> frame.select(return_target("zscore"))["future_ret_pct"].round(4).to_list()
    [-0.7559, -0.378, 1.1339, None, None]
    """
    resolved = _return_target_kind(kind)
    if not (
        isinstance(min_vol, int | float)
        and not isinstance(min_vol, bool)
        and math.isfinite(min_vol)
        and min_vol > 0
    ):
        msg = f"`min_vol` must be a finite number > 0, got `min_vol={min_vol!r}`"
        raise ConfigError(msg)
    ret = pl.col(FUTURE_RET_PCT).cast(pl.Float64).fill_nan(None)
    if resolved is ReturnTarget.RAW:
        return ret
    if resolved is ReturnTarget.RANK:
        n = ret.count().over(DATE)
        rank = ret.rank("average").over(DATE)
        middle = pl.when(ret.is_not_null()).then(pl.lit(0.0))
        return pl.when(n > 1).then((rank - 1.0) / (n - 1.0) - 0.5).otherwise(middle)
    excess = ret - ret.mean().over(DATE)
    if resolved is ReturnTarget.EXCESS:
        return excess
    if resolved is ReturnTarget.ZSCORE:
        sd = ret.std().over(DATE)
        return pl.when(sd > 0).then(excess / sd).when(sd == 0).then(excess * 0.0)
    vol = pl.col(VOLATILITY_COLUMN).cast(pl.Float64)
    usable = vol.is_finite() & (vol >= min_vol)
    horizon = pl.col(TARGET_HORIZON).cast(pl.Float64)
    return pl.when(usable).then(excess / (100.0 * vol * horizon.sqrt()))


def add_return_target(
    frame: pl.LazyFrame | pl.DataFrame, kind: str, *, min_vol: float = MIN_VOL
) -> pl.LazyFrame:
    """``frame`` with `RET_TARGET` (``ret_target``): `return_target` of ``kind``.

    The cross-section of a date is the rows of ``frame`` on that date: give it the rows a model
    is fitted on (or scored on), not a subset of tickers.

    Raises
    ------
    SchemaError
        If a column that ``kind`` reads is missing (``date`` and ``future_ret_pct``; with
        ``vol_scaled_excess`` also ``volatility_20`` and ``target_horizon``).
    ConfigError
        If ``kind`` or ``min_vol`` is invalid.
    """
    expr = return_target(kind, min_vol=min_vol)
    lazy = frame.lazy()
    require_columns(
        lazy,
        return_target_inputs(kind),
        needed_by=f"the {ReturnTarget(kind).value!r} return target",
        hint="add features and targets first (`compute_future_returns`)",
    )
    return lazy.with_columns(expr.alias(RET_TARGET))
