"""Layer-3 policy: from the head's predictions to an action and a signed position (spec 4).

Pure functions, no state: the same frame and the same `PolicyConfig` give the same columns, so
re-running with only the policy changed never touches layers 1 and 2.

The rules, with ``P`` = ``pred_rebound_prob``, ``R`` = ``pred_expected_ret_pct``, ``D`` =
``pred_expected_dd_pct`` (percent, ``D`` < 0 for a drawdown), ``lambda`` = ``risk_aversion``
and ``G = P * R / 100`` (the spec's probability-weighted expected return, a fraction of price).
Every score is bullish when high: a LONG wants its score high, a SHORT wants its score low.

Side scores
    The long score is the spec's in both forms: ``L = G - lambda * max(0, -D / 100)``. The
    short score ``S`` follows ``score_form``:

    - ``"spec"``: ``S = L``, one score for both sides, as spec 4.1 writes it. The long's
      drawdown penalty pulls that one score down, towards a SHORT: the short is rewarded for
      the risk a long would run, and wherever the penalty outweighs ``G`` (nearly everywhere
      at the default ``lambda``) the score reads as a short signal that ranks names by
      volatility.
    - ``"symmetric"``: ``S = G + lambda * max(0, U / 100)`` with ``U = R - min(D, 0)``, the
      expected adverse rise for a short. Each side pays for its own adverse move, the long
      for the expected drawdown and the short for the expected run-up. As ``S - L`` =
      ``lambda`` times the sum of the two penalties >= 0, the scores bound a band around
      ``G``, and with ``theta_short < 0 < theta_long`` at most one side clears its threshold.

    Why ``U = R - min(D, 0)``: the head predicts no run-up. For a price path whose increments
    are stationary and independent over the horizon (a random walk with drift), the path read
    backwards from its end has the same law and turns the lowest point into the highest, so
    ``E[max] = E[end] - E[min]``: the expected run-up is the expected return less the
    expected drawdown, both from today's close and capped at 0 as the drawdown target is (a
    predicted ``D > 0`` counts as 0, as in the long's penalty). On the S&P sample's realised
    5-day paths (targets, not predictions), ``R - D`` overstates the mean run-up on the highs
    by 0.05 to 0.13 point within each quintile of past 5-day return and of 20-day volatility
    (3.57% against 3.48% overall), where ``-D`` alone falls short by 0.1 to 0.6 point.
    Its limits: it holds in expectation, not path by path; mean reversion or momentum inside
    the horizon bends it; ``D`` reads intraday lows and ``R`` a close, so ``U`` stands for a
    run-up on the highs only as far as the days' ranges are symmetric; and ``U`` carries the
    errors of two separately fitted predictions (where the head predicts ``R < D``, which no
    path can do, ``U`` is clipped to 0). A multiple of ``ex_ante_vol`` was the other
    candidate: it needs a scale constant and the horizon, and ignores the drift the head
    does predict.

    ``G`` is the same on both sides, so the symmetric form differs from the spec only where
    the spec's score is not positive. ``P`` weighs ``R`` as in the spec; it is the chance of
    a *rebound*, so it damps a negative ``R`` just where a short would be taken: the short
    score is conservative. ``(1 - P) * -R`` was not used for the short's gain: the rebound
    label's base rate is well below 1/2 (36% on the S&P sample), so ``1 - P`` would weigh
    every short above every long.
Event factor
    ``m`` = ``overheat_multiplier`` where ``I_vr_and_vs == 1`` (overheated: damp the long),
    times ``late_breakdown_multiplier`` where ``I_bd_late == 1`` (late breakdown: strengthen
    the long), else 1. With ``multiplier_scope``:

    - ``"long_only"``: ``L' = L * m`` where ``L > 0``, else ``L' = L``; ``S' = S`` in the
      symmetric form and ``S' = L'`` in the spec form (still one score). Both events speak
      about a long (spec 4.2: x1.1 "stronger long", x0.8 "overheated"), so the factor moves
      only a positive long score: neither flag enlarges or shrinks a short.
    - ``"any_sign"``: ``L' = L * m`` and ``S' = S * m`` on every row, the spec's text read
      literally: ``I_bd_late`` then enlarges a short by 10% as if it were a long. Kept to
      reproduce results from before the fix.
``policy_score``
    ``max(0, L') + min(0, S')``. In the spec form this is ``L'``, the spec's score after the
    factor. In the symmetric form at most one term is non-zero: the long score where it is
    positive, the short score where it is negative, 0 where neither side expects a gain once
    it has paid for its adverse move.
``ex_ante_vol``
    The mean of ``atr_smooth`` (ATR as a fraction of price) over the last ``vol_window`` rows of
    the same ticker, rows in date order; null until the window is full.
``action``
    ``LONG`` where ``L' >= theta_long``; else ``SHORT`` where ``S' <= theta_short``, the short
    gate is open and ``allow_short``; else ``FLAT``. LONG is tested first, so it wins where
    both sides clear (e.g. ``theta_short == theta_long``). The gate (``short_gate``): ``"spec"``,
    open where ``I_bd_early == 1`` or ``state_prob_Peak >= peak_prob_threshold``;
    ``"score"``, always open (the short score alone decides). In the spec form ``L' = S'`` =
    ``policy_score``, so this is spec 4.2's rule on ``policy_score``; in the symmetric form
    it is the same rule on ``policy_score`` wherever ``theta_short < 0 < theta_long``.
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

from m002._checks import check_field_types, set_choice
from m002._polars import collect, finite_or_null
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError

__all__ = [
    "ACTION",
    "EX_ANTE_VOL",
    "POLICY_COLUMNS",
    "POLICY_SCORE",
    "POSITION_SIZE",
    "Action",
    "MultiplierScope",
    "PolicyConfig",
    "ScoreForm",
    "ShortGate",
    "apply_policy",
    "required_columns",
    "soft_policy_score",
    "symmetric_policy_score",
]


class Action(StrEnum):
    """What the policy does with a ticker on a day; the string values are what frames hold."""

    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


class ScoreForm(StrEnum):
    """How the short side is scored (the module documentation gives the formulas)."""

    SPEC = "spec"
    """One score for both sides, spec 4.1: the long's drawdown penalty counts for a short."""
    SYMMETRIC = "symmetric"
    """Each side penalised by its own adverse move: drawdown for a long, run-up for a short."""


class ShortGate(StrEnum):
    """What else a SHORT needs besides a short score at or below ``theta_short``."""

    SPEC = "spec"
    """Spec 4.2: ``I_bd_early == 1`` or ``state_prob_Peak >= peak_prob_threshold``."""
    SCORE = "score"
    """Nothing: the short score alone decides."""


class MultiplierScope(StrEnum):
    """Which scores the event factors (``I_vr_and_vs``, ``I_bd_late``) scale."""

    LONG_ONLY = "long_only"
    """A positive long score only: both events are about a long, neither moves a short."""
    ANY_SIGN = "any_sign"
    """Every score whatever its sign (the behaviour before the fix: a short grew x1.1)."""


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
    a full position. The three choices (``score_form``, ``short_gate``, ``multiplier_scope``)
    take their enum or its string value (``"symmetric"``, as a config file writes it) and
    hold the enum.

    Parameters
    ----------
    risk_aversion : float, default 0.05
        ``lambda`` of the score: weight of each side's expected adverse move (>= 0). The
        spec's 0.5 leaves almost no name with an edge in the symmetric form (the expected
        gain is below 0.085 times the expected drawdown on 99% of the S&P sample's rows
        up to 2013); 0.05 leaves about a tenth of them.
    k : float, default 2.0
        Sizing gain (> 0): ``size = k * policy_score / ex_ante_vol`` before clipping. With 2.0
        a typical score of 0.002 at an ex-ante volatility of 0.02 gives a size of 0.2, and the
        full size (1.0) is reached when the score is half the daily volatility (0.01 at 0.02):
        a score of the size of a normal day's range earns a large position, noise a small one.
    size_max : float, default 1.0
        Largest absolute position (> 0).
    theta_long : float, default 0.001
        Long score at or above which the policy goes LONG.
    theta_short : float, default -0.001
        Short score at or below which the policy may go SHORT (<= ``theta_long``).
    peak_prob_threshold : float, default 0.5
        ``state_prob_Peak`` at or above which a row counts as a peak for the spec's short
        gate (in [0, 1]).
    overheat_multiplier : float, default 0.8
        Factor on a long score where ``I_vr_and_vs == 1`` (volume regain with a volatility
        spike: overheated) (>= 0).
    late_breakdown_multiplier : float, default 1.1
        Factor on a long score where ``I_bd_late == 1`` (a late breakdown losing momentum)
        (>= 0).
    vol_window : int, default 10
        Rows of one ticker averaged into ``ex_ante_vol`` (>= 1).
    allow_short : bool, default True
        When False, every would-be SHORT is FLAT.
    score_form : ScoreForm, default ``ScoreForm.SYMMETRIC``
        ``"spec"``: one score for both sides (spec 4.1). ``"symmetric"``: a short pays for the
        expected run-up instead of earning the long's drawdown penalty.
    short_gate : ShortGate, default ``ShortGate.SPEC``
        ``"spec"``: a SHORT also needs ``I_bd_early`` or a peak (spec 4.2). ``"score"``: the
        short score alone decides. Meant for the symmetric form: with the spec's score a
        drawdown alone makes the score negative, so an open gate shorts most rows.
    multiplier_scope : MultiplierScope, default ``MultiplierScope.LONG_ONLY``
        ``"long_only"``: the event factors scale a positive long score only, as the spec means
        them. ``"any_sign"``: every score, the behaviour before the fix.

    The defaults are the shipped configuration, chosen with the portfolio's on the S&P
    sample's walk-forward test years up to 2013 (`benchmarks/bench_portfolio.py`; the README
    gives the figures on those years and the later ones). `PolicyConfig.spec` gives the
    spec's own layer 3 (its score form and ``lambda`` of 0.5).

    Raises
    ------
    ConfigError
        If a value breaks its rule; the message names the field, the rule and the value.

    Examples
    --------
    >>> PolicyConfig.spec().score_form is ScoreForm.SPEC
    True
    >>> PolicyConfig(k=1.0).k
    1.0
    >>> PolicyConfig(score_form="symmetric").score_form is ScoreForm.SYMMETRIC
    True
    >>> PolicyConfig(theta_short=0.01)
    Traceback (most recent call last):
    ...
    m002.exceptions.ConfigError: `theta_short` must be <= `theta_long`, got `theta_short=0.01`, \
`theta_long=0.001`
    """

    risk_aversion: float = 0.05
    k: float = 2.0
    size_max: float = 1.0
    theta_long: float = 0.001
    theta_short: float = -0.001
    peak_prob_threshold: float = 0.5
    overheat_multiplier: float = 0.8
    late_breakdown_multiplier: float = 1.1
    vol_window: int = 10
    allow_short: bool = True
    # Annotated `str` (a StrEnum member is one) so that the shared field-type check and the
    # config-file reader accept them; __post_init__ turns the value into the enum.
    score_form: str = ScoreForm.SYMMETRIC
    short_gate: str = ShortGate.SPEC
    multiplier_scope: str = MultiplierScope.LONG_ONLY

    @classmethod
    def spec(cls) -> PolicyConfig:
        """The spec's layer 3 as written (sections 4.1 and 4.2): one score for both sides with
        ``lambda`` 0.5, the spec's short gate, the event factors on longs only."""
        return cls(risk_aversion=0.5, score_form=ScoreForm.SPEC)

    def __post_init__(self) -> None:
        check_field_types(self)
        set_choice(self, "score_form", ScoreForm)
        set_choice(self, "short_gate", ShortGate)
        set_choice(self, "multiplier_scope", MultiplierScope)
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


def _check_risk_aversion(risk_aversion: float) -> None:
    if not math.isfinite(risk_aversion):
        msg = f"`risk_aversion` must be finite, got `risk_aversion={risk_aversion!r}`"
        raise ConfigError(msg)
    _check_at_least("risk_aversion", risk_aversion, 0.0)


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

    Spec 4.1's score, and the long side's score in both score forms: the expected gain
    weighted by its probability, less a penalty on the expected drawdown; the penalty is 0
    where ``dd_pct`` >= 0 (no drawdown expected).

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
    _check_risk_aversion(risk_aversion)
    prob = _as_expr(p).cast(pl.Float64)
    ret = _as_expr(ret_pct).cast(pl.Float64) / 100.0
    # clip, not max_horizontal: max_horizontal would turn a null drawdown into a 0 penalty
    penalty = (-_as_expr(dd_pct).cast(pl.Float64) / 100.0).clip(lower_bound=0.0)
    return prob * ret - risk_aversion * penalty


def _short_side_score(
    p: str | pl.Expr, ret_pct: str | pl.Expr, dd_pct: str | pl.Expr, *, risk_aversion: float
) -> pl.Expr:
    """``p * ret_pct / 100 + risk_aversion * max(0, (ret_pct - min(dd_pct, 0)) / 100)``."""
    prob = _as_expr(p).cast(pl.Float64)
    ret_pct_f = _as_expr(ret_pct).cast(pl.Float64)
    drawdown = _as_expr(dd_pct).cast(pl.Float64).clip(upper_bound=0.0)
    run_up = ((ret_pct_f - drawdown) / 100.0).clip(lower_bound=0.0)
    return prob * (ret_pct_f / 100.0) + risk_aversion * run_up


def _net(long_score: pl.Expr, short_score: pl.Expr) -> pl.Expr:
    """``max(0, long) + min(0, short)``, null where either is null."""
    return long_score.clip(lower_bound=0.0) + short_score.clip(upper_bound=0.0)


def symmetric_policy_score(
    p: str | pl.Expr,
    ret_pct: str | pl.Expr,
    dd_pct: str | pl.Expr,
    *,
    risk_aversion: float,
) -> pl.Expr:
    """The symmetric score ``max(0, L) + min(0, S)``, before any event factor.

    ``L`` is `soft_policy_score` (the long pays for the expected drawdown) and ``S = p *
    ret_pct / 100 + risk_aversion * max(0, (ret_pct - min(dd_pct, 0)) / 100)`` (the short
    pays for the expected run-up, estimated as the expected return less the expected
    drawdown; the module documentation gives the reasoning and its limits). ``S >= L``, so
    the result is ``L`` where that is positive, ``S`` where that is negative, else 0: the
    expected gain shrunk towards 0 by the adverse move of the side it points to.

    Parameters, return value and errors are those of `soft_policy_score`; here a positive
    ``dd_pct`` counts as 0 on both sides and ``risk_aversion`` weighs each side's penalty.

    Examples
    --------
    >>> df = pl.DataFrame({"p": [0.6, 0.2, 0.5], "ret": [4.0, -6.0, 0.5], "dd": [-2, -8, -2]})
    >>> score = symmetric_policy_score("p", "ret", "dd", risk_aversion=0.25)
    >>> [round(x, 6) for x in df.select(score).to_series()]  # long, short, neither
    [0.019, -0.007, 0.0]
    """
    long_score = soft_policy_score(p, ret_pct, dd_pct, risk_aversion=risk_aversion)
    short_score = _short_side_score(p, ret_pct, dd_pct, risk_aversion=risk_aversion)
    return _net(long_score, short_score)


def _flag(column: str) -> pl.Expr:
    """True where the 0/1 flag is 1; a null flag counts as 0."""
    return (pl.col(column) == 1).fill_null(False)


def _with_event_factor(score: pl.Expr, config: PolicyConfig) -> pl.Expr:
    """``score * m`` on every row, ``m`` the product of the flagged rows' factors."""
    overheat = pl.when(_flag(I_VR_AND_VS)).then(config.overheat_multiplier).otherwise(1.0)
    late = pl.when(_flag(I_BD_LATE)).then(config.late_breakdown_multiplier).otherwise(1.0)
    return score * overheat * late


def _side_scores(config: PolicyConfig) -> tuple[pl.Expr, pl.Expr]:
    """``(L', S')``: the long and short scores after the event factor (module documentation)."""
    p, ret, dd = (
        finite_or_null(c) for c in (PRED_REBOUND_PROB, PRED_EXPECTED_RET_PCT, PRED_EXPECTED_DD_PCT)
    )
    lam = config.risk_aversion
    long_score = soft_policy_score(p, ret, dd, risk_aversion=lam)
    any_sign = config.multiplier_scope == MultiplierScope.ANY_SIGN
    if any_sign:
        long_scaled = _with_event_factor(long_score, config)
    else:
        # a null score fails the test and stays null
        long_scaled = (
            pl.when(long_score > 0.0)
            .then(_with_event_factor(long_score, config))
            .otherwise(long_score)
        )
    if config.score_form == ScoreForm.SPEC:
        return long_scaled, long_scaled
    short_score = _short_side_score(p, ret, dd, risk_aversion=lam)
    return long_scaled, _with_event_factor(short_score, config) if any_sign else short_score


def _policy_score(config: PolicyConfig) -> pl.Expr:
    long_score, short_score = _side_scores(config)
    if config.score_form == ScoreForm.SPEC:
        return long_score  # one score: max(0, x) + min(0, x) is x, and this keeps it exact
    return _net(long_score, short_score)


def _ex_ante_vol(config: PolicyConfig) -> pl.Expr:
    """Per-ticker rolling mean of ``atr_smooth``; assumes rows sorted by (ticker, date)."""
    return finite_or_null(ATR_SMOOTH).rolling_mean(config.vol_window).over(TICKER)


def _short_gate(config: PolicyConfig) -> pl.Expr:
    if config.short_gate == ShortGate.SCORE:
        return pl.lit(value=True)
    peak = pl.col(STATE_PROB_PEAK).cast(pl.Float64)
    # is_finite first: polars orders NaN above every number, so NaN >= threshold is true
    is_peak = (peak.is_finite() & (peak >= config.peak_prob_threshold)).fill_null(False)
    return _flag(I_BD_EARLY) | is_peak


def _action(config: PolicyConfig) -> pl.Expr:
    long_score, short_score = _side_scores(config)
    score, vol = pl.col(POLICY_SCORE), pl.col(EX_ANTE_VOL)
    tradable = (score.is_not_null() & vol.is_not_null() & (vol > 0.0)).fill_null(False)
    short_ok = (short_score <= config.theta_short) & _short_gate(config)
    if not config.allow_short:
        short_ok = pl.lit(value=False)
    return (
        pl.when(~tradable)
        .then(pl.lit(Action.FLAT.value))
        .when(long_score >= config.theta_long)
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
