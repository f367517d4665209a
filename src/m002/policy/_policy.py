"""Layer-3 policy: from the head's predictions to an action and a signed position (spec 4).

Pure functions, no state: the same frame and the same `PolicyConfig` give the same columns, so
re-running with only the policy changed never touches layers 1 and 2.

The rules, with ``P`` = ``pred_rebound_prob``, ``R`` = ``pred_expected_ret_pct`` and ``D`` =
``pred_expected_dd_pct`` (percent, ``D`` < 0 for a drawdown):

``policy_score``
    ``P * R / 100 - risk_aversion * max(0, -D / 100)`` (a fraction of price), then times
    ``overheat_multiplier`` where ``I_vr_and_vs == 1`` and times ``late_breakdown_multiplier``
    where ``I_bd_late == 1`` (both apply when both flags are set).
``ex_ante_vol``
    The mean of ``atr_smooth`` (ATR as a fraction of price) over the last ``vol_window`` rows of
    the same ticker, rows in date order; null until the window is full.
``action``
    ``LONG`` where ``policy_score >= theta_long``; else ``SHORT`` where ``policy_score <=
    theta_short`` and (``I_bd_early == 1`` or ``state_prob_Peak >= peak_prob_threshold``) and
    ``allow_short``; else ``FLAT``. LONG is tested first, so it wins where the thresholds
    overlap (``theta_short == theta_long``).
``position_size``
    ``k * policy_score / ex_ante_vol`` clipped to ``[0, size_max]`` for LONG and to
    ``[-size_max, 0]`` for SHORT, so a LONG is never negative and a SHORT never positive;
    exactly ``0.0`` for FLAT. The action follows the score rule alone: a LONG or SHORT whose
    clipped size is 0 (a threshold on the wrong side of 0) keeps its action with size 0.

Missing and bad values (no position is ever taken on a number the policy cannot trust, and
no column holds NaN or inf):

- a null or non-finite prediction gives a null ``policy_score``, hence FLAT and size 0;
- a null or non-finite ``atr_smooth`` counts as missing, so every window holding one has a
  null ``ex_ante_vol``; where ``ex_ante_vol`` is null or <= 0 the row is FLAT with size 0
  (no position without a volatility estimate), whatever its score;
- a null flag (``I_vr_and_vs``, ``I_bd_late``, ``I_bd_early``) counts as 0, and a null or NaN
  ``state_prob_Peak`` as "not a peak" (e.g. the early rows of a ticker, before the regime
  model has a full sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, overload

import polars as pl

from m002._checks import check_field_types
from m002._polars import collect
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError

__all__ = [
    "ACTION",
    "EX_ANTE_VOL",
    "POLICY_COLUMNS",
    "POLICY_SCORE",
    "POSITION_SIZE",
    "Action",
    "PolicyConfig",
    "apply_policy",
    "required_columns",
    "soft_policy_score",
]


class Action(StrEnum):
    """What the policy does with a ticker on a day; the string values are what frames hold."""

    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


POLICY_SCORE: Final = "policy_score"
EX_ANTE_VOL: Final = "ex_ante_vol"
ACTION: Final = "action"
POSITION_SIZE: Final = "position_size"
POLICY_COLUMNS: Final = (POLICY_SCORE, EX_ANTE_VOL, ACTION, POSITION_SIZE)
"""Columns `apply_policy` adds, in this order."""

PRED_REBOUND_PROB: Final = "pred_rebound_prob"
PRED_EXPECTED_RET_PCT: Final = "pred_expected_ret_pct"
PRED_EXPECTED_DD_PCT: Final = "pred_expected_dd_pct"
ATR_SMOOTH: Final = "atr_smooth"
I_VR_AND_VS: Final = "I_vr_and_vs"
I_BD_LATE: Final = "I_bd_late"
I_BD_EARLY: Final = "I_bd_early"
STATE_PROB_PEAK: Final = "state_prob_Peak"

_INPUT_COLUMNS: Final = (
    TICKER,
    DATE,
    PRED_REBOUND_PROB,
    PRED_EXPECTED_RET_PCT,
    PRED_EXPECTED_DD_PCT,
    ATR_SMOOTH,
    I_VR_AND_VS,
    I_BD_LATE,
    I_BD_EARLY,
    STATE_PROB_PEAK,
)


@dataclass(frozen=True)
class PolicyConfig:
    """Parameters of the layer-3 rules (the module documentation states the rules).

    Scores and volatilities are fractions of price (``0.002`` = 0.2%), sizes are fractions of
    a full position.

    Parameters
    ----------
    risk_aversion : float, default 0.5
        ``lambda`` of the score: weight of the expected drawdown (>= 0).
    k : float, default 2.0
        Sizing gain (> 0): ``size = k * policy_score / ex_ante_vol`` before clipping. With 2.0
        a typical score of 0.002 at an ex-ante volatility of 0.02 gives a size of 0.2, and the
        full size (1.0) is reached when the score is half the daily volatility (0.01 at 0.02):
        a score of the size of a normal day's range earns a large position, noise a small one.
    size_max : float, default 1.0
        Largest absolute position (> 0).
    theta_long : float, default 0.001
        Score at or above which the policy goes LONG.
    theta_short : float, default -0.001
        Score at or below which the policy may go SHORT (<= ``theta_long``).
    peak_prob_threshold : float, default 0.5
        ``state_prob_Peak`` at or above which a row counts as a peak for SHORT (in [0, 1]).
    overheat_multiplier : float, default 0.8
        Factor on the score where ``I_vr_and_vs == 1`` (volume regain with a volatility
        spike: overheated) (>= 0).
    late_breakdown_multiplier : float, default 1.1
        Factor on the score where ``I_bd_late == 1`` (a late breakdown losing momentum)
        (>= 0).
    vol_window : int, default 10
        Rows of one ticker averaged into ``ex_ante_vol`` (>= 1).
    allow_short : bool, default True
        When False, every would-be SHORT is FLAT.

    Raises
    ------
    ConfigError
        If a value breaks its rule; the message names the field, the rule and the value.

    Examples
    --------
    >>> PolicyConfig(k=1.0).k
    1.0
    >>> PolicyConfig(theta_short=0.01)
    Traceback (most recent call last):
    ...
    m002.exceptions.ConfigError: `theta_short` must be <= `theta_long`, got `theta_short=0.01`, \
`theta_long=0.001`
    """

    risk_aversion: float = 0.5
    k: float = 2.0
    size_max: float = 1.0
    theta_long: float = 0.001
    theta_short: float = -0.001
    peak_prob_threshold: float = 0.5
    overheat_multiplier: float = 0.8
    late_breakdown_multiplier: float = 1.1
    vol_window: int = 10
    allow_short: bool = True

    def __post_init__(self) -> None:
        check_field_types(self)
        _check_at_least("risk_aversion", self.risk_aversion, 0.0)
        _check_positive("k", self.k)
        _check_positive("size_max", self.size_max)
        _check_at_least("overheat_multiplier", self.overheat_multiplier, 0.0)
        _check_at_least("late_breakdown_multiplier", self.late_breakdown_multiplier, 0.0)
        _check_at_least("vol_window", self.vol_window, 1)
        _check_at_least("peak_prob_threshold", self.peak_prob_threshold, 0.0)
        if self.peak_prob_threshold > 1.0:
            value = self.peak_prob_threshold
            msg = f"`peak_prob_threshold` must be <= 1, got `peak_prob_threshold={value!r}`"
            raise ConfigError(msg)
        if self.theta_short > self.theta_long:
            msg = (
                f"`theta_short` must be <= `theta_long`, got `theta_short={self.theta_short!r}`, "
                f"`theta_long={self.theta_long!r}`"
            )
            raise ConfigError(msg)


def _check_at_least(name: str, value: float, lower: float) -> None:
    if value < lower:
        msg = f"`{name}` must be >= {lower}, got `{name}={value!r}`"
        raise ConfigError(msg)


def _check_positive(name: str, value: float) -> None:
    if value <= 0:
        msg = f"`{name}` must be > 0, got `{name}={value!r}`"
        raise ConfigError(msg)


def required_columns() -> tuple[str, ...]:
    """Columns `apply_policy` reads: keys, head predictions, ``atr_smooth``, flags, Peak prob."""
    return _INPUT_COLUMNS


def _as_expr(column: str | pl.Expr) -> pl.Expr:
    return pl.col(column) if isinstance(column, str) else column


def soft_policy_score(
    p: str | pl.Expr,
    ret_pct: str | pl.Expr,
    dd_pct: str | pl.Expr,
    *,
    risk_aversion: float,
) -> pl.Expr:
    """The soft policy score ``p * ret_pct / 100 - risk_aversion * max(0, -dd_pct / 100)``.

    Expected gain weighted by its probability, less a penalty on the expected drawdown; the
    penalty is 0 where ``dd_pct`` >= 0 (no drawdown expected).

    Parameters
    ----------
    p : str or pl.Expr
        Probability of the rebound (column name or expression).
    ret_pct : str or pl.Expr
        Expected return in percent (``1.5`` = 1.5%).
    dd_pct : str or pl.Expr
        Expected drawdown in percent, negative for a loss (``-2.0`` = a 2% drawdown).
    risk_aversion : float
        ``lambda``, weight of the drawdown penalty (>= 0, finite).

    Returns
    -------
    pl.Expr
        Float64 score as a fraction of price, named after ``p``'s output name; null where any
        input is null.

    Raises
    ------
    ConfigError
        If ``risk_aversion`` is negative or not finite.

    Examples
    --------
    >>> df = pl.DataFrame({"p": [0.6], "ret": [2.0], "dd": [-3.0]})
    >>> df.select(soft_policy_score("p", "ret", "dd", risk_aversion=0.5).round(6)).item()
    -0.003
    """
    if not math.isfinite(risk_aversion):
        msg = f"`risk_aversion` must be finite, got `risk_aversion={risk_aversion!r}`"
        raise ConfigError(msg)
    _check_at_least("risk_aversion", risk_aversion, 0.0)
    prob = _as_expr(p).cast(pl.Float64)
    ret = _as_expr(ret_pct).cast(pl.Float64) / 100.0
    # clip, not max_horizontal: max_horizontal would turn a null drawdown into a 0 penalty
    penalty = (-_as_expr(dd_pct).cast(pl.Float64) / 100.0).clip(lower_bound=0.0)
    return prob * ret - risk_aversion * penalty


def _finite_or_null(column: str) -> pl.Expr:
    x = pl.col(column).cast(pl.Float64)
    return pl.when(x.is_finite()).then(x)


def _flag(column: str) -> pl.Expr:
    """True where the 0/1 flag is 1; a null flag counts as 0."""
    return (pl.col(column) == 1).fill_null(False)


def _policy_score(config: PolicyConfig) -> pl.Expr:
    base = soft_policy_score(
        _finite_or_null(PRED_REBOUND_PROB),
        _finite_or_null(PRED_EXPECTED_RET_PCT),
        _finite_or_null(PRED_EXPECTED_DD_PCT),
        risk_aversion=config.risk_aversion,
    )
    overheat = pl.when(_flag(I_VR_AND_VS)).then(config.overheat_multiplier).otherwise(1.0)
    late = pl.when(_flag(I_BD_LATE)).then(config.late_breakdown_multiplier).otherwise(1.0)
    return base * overheat * late


def _ex_ante_vol(config: PolicyConfig) -> pl.Expr:
    """Per-ticker rolling mean of ``atr_smooth``; assumes rows sorted by (ticker, date)."""
    return _finite_or_null(ATR_SMOOTH).rolling_mean(config.vol_window).over(TICKER)


def _action(config: PolicyConfig) -> pl.Expr:
    score, vol = pl.col(POLICY_SCORE), pl.col(EX_ANTE_VOL)
    tradable = (score.is_not_null() & vol.is_not_null() & (vol > 0.0)).fill_null(False)
    peak = pl.col(STATE_PROB_PEAK).cast(pl.Float64)
    # is_finite first: polars orders NaN above every number, so NaN >= threshold is true
    is_peak = (peak.is_finite() & (peak >= config.peak_prob_threshold)).fill_null(False)
    short_ok = (score <= config.theta_short) & (_flag(I_BD_EARLY) | is_peak)
    if not config.allow_short:
        short_ok = pl.lit(value=False)
    return (
        pl.when(~tradable)
        .then(pl.lit(Action.FLAT.value))
        .when(score >= config.theta_long)
        .then(pl.lit(Action.LONG.value))
        .when(short_ok)
        .then(pl.lit(Action.SHORT.value))
        .otherwise(pl.lit(Action.FLAT.value))
    )


def _position_size(config: PolicyConfig) -> pl.Expr:
    raw = config.k * pl.col(POLICY_SCORE) / pl.col(EX_ANTE_VOL)
    action = pl.col(ACTION)
    return (
        pl.when(action == Action.LONG.value)
        .then(raw.clip(0.0, config.size_max))
        .when(action == Action.SHORT.value)
        .then(raw.clip(-config.size_max, 0.0))
        .otherwise(0.0)
    )


@overload
def apply_policy(frame: pl.DataFrame, config: PolicyConfig | None = None) -> pl.DataFrame: ...


@overload
def apply_policy(frame: pl.LazyFrame, config: PolicyConfig | None = None) -> pl.LazyFrame: ...


def apply_policy(
    frame: pl.DataFrame | pl.LazyFrame, config: PolicyConfig | None = None
) -> pl.DataFrame | pl.LazyFrame:
    """Add the policy score, ex-ante volatility, action and signed position size.

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        One row per (ticker, date) with the columns of `required_columns`, in any order.
    config : PolicyConfig, optional
        Thresholds and sizing; ``PolicyConfig()`` when omitted.

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        Of the same kind as ``frame``: every input column, sorted by (ticker, date), plus
        `POLICY_COLUMNS`: ``policy_score`` (Float64, null where a prediction is missing),
        ``ex_ante_vol`` (Float64, null until ``vol_window`` rows of the ticker), ``action``
        (String, an `Action` value) and ``position_size`` (Float64, >= 0 for LONG, <= 0 for
        SHORT, 0 for FLAT, never null, NaN or inf). Columns of those names already in the
        frame (an earlier policy run) are replaced. The module documentation gives the rules
        and how missing values are treated.

    Raises
    ------
    SchemaError
        If a needed column is missing.

    Examples
    --------
    >>> import datetime as dt
    >>> frame = pl.DataFrame({
    ...     "ticker": ["A"] * 2, "date": [dt.date(2020, 1, 1), dt.date(2020, 1, 2)],
    ...     "pred_rebound_prob": [0.6, 0.6], "pred_expected_ret_pct": [2.0, 2.0],
    ...     "pred_expected_dd_pct": [-1.0, -1.0], "atr_smooth": [0.02, 0.02],
    ...     "I_vr_and_vs": [0, 0], "I_bd_late": [0, 0], "I_bd_early": [0, 0],
    ...     "state_prob_Peak": [0.1, 0.1],
    ... })
    >>> out = apply_policy(frame, PolicyConfig(vol_window=2))
    >>> out.select("action", pl.col("position_size").round(6)).rows()
    [('FLAT', 0.0), ('LONG', 0.7)]
    """
    config = PolicyConfig() if config is None else config
    require_columns(
        frame,
        _INPUT_COLUMNS,
        needed_by="the policy layer",
        hint="predict with the regime model and the head first (`state_prob_*`, `pred_*`) "
        "on a frame with the m002 features",
    )
    out = (
        frame.lazy()
        .sort(TICKER, DATE)
        .with_columns(
            _policy_score(config).alias(POLICY_SCORE), _ex_ante_vol(config).alias(EX_ANTE_VOL)
        )
        .with_columns(_action(config).alias(ACTION))
        .with_columns(_position_size(config).alias(POSITION_SIZE))
    )
    return collect(out) if isinstance(frame, pl.DataFrame) else out
