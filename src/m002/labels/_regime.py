"""Layer-1 regime labels: five states by priority, with a recorded look-ahead (spec 2.1).

Each of the five states has its own condition, evaluated independently on every row (so the
order in which overlapping events happen does not matter); a row gets the state of highest
priority whose condition holds: Peak (5) > Accumulation (4) > EarlyUp (3) > LateDown (2) >
Distribution (1). The conditions read m002 feature columns of the row (and a few earlier rows
of the same ticker) plus, when ``lookahead > 0``, the closes of the next ``lookahead`` rows of
the same ticker: that hindsight is what makes a label more than a rule on today's features
(a top the next days confirm, a base the price leaves upwards).

The conditions, with the defaults of `RegimeLabelConfig` (``L`` = ``lookahead``, ``fwd_ret`` =
``ln(close_(t+L) / close_t)``, a term with ``fwd_ret`` is left out when ``L = 0``; the
thresholds are the relaxed ones of the spec, chosen so that every state is a sizeable class):

Peak
    ``close_t >= (1 - 0.01) * max(close over rows t-10 .. t+L)`` (within 1% of the highest
    close from 10 rows back to L rows ahead) and ``fwd_ret < -0.01`` (a top the next days
    confirm by falling) and ``rsi_smooth > 55`` and ``dist_sma_20 > 0`` (overbought, above
    the 20-day mean).
Accumulation
    ``dist_low_20 <= 0.06`` (within 6% of the 20-day low) and ``dist_sma_60 < 0`` (a base
    after a decline) and ``atr_rel <= atr_rel_(t-10)`` (volatility contracting) and
    ``fwd_ret > 0`` (the base holds and turns up).
EarlyUp
    ``ema_spread_rel > 0`` and ``min(ema_spread_rel over rows t-15 .. t-1) <= 0`` (a young
    uptrend: the EMA5/EMA20 spread turned positive in the last 15 rows) and ``curv_2 > -0.5``
    and ``rsi_smooth > 40`` and ``fwd_ret > 0`` (the trend goes on).
LateDown
    ``max(ema_spread_rel over rows t-10 .. t) < 0`` (a downtrend at least 11 rows old) and
    ``price_accel > 0`` (losing downward momentum) and ``fwd_ret > -0.02`` (no new leg down).
Distribution
    ``dist_sma_60 > 0`` (a high level) and ``macd_hist < 0`` (momentum fading) and
    ``volume_ratio_5_20 > 0.9`` (volume holding up or heavy) and ``fwd_ret < 0.01`` (no new
    leg up).

The winner is picked by one ``pl.when(...).then(...)`` chain over the conditions in priority
order, which is the highest priority score among the true conditions, fully vectorised.
With the defaults, 5-7% of all rows fall in each state on both the synthetic data (50
tickers x 1500 days) and the S&P 500 sample (100 tickers, 1999-2021); about 63% of rows are
unlabelled.

Rows meeting no condition get a null label (``regime_state`` and ``regime_state_id``), and so
do rows where a condition cannot be evaluated: a null input (warm-up rows), or the last ``L``
rows of each ticker, whose hindsight window would run past the ticker's data. The two are told
apart by ``regime_label_known``: true where every condition could be evaluated, so that a null
state there is an outcome ("no state": the future confirmed none of the five), false where the
outcome is unknown. Rows of no state are not forced into the nearest state, so the classes keep
their meaning; the regime classifier learns them as an outcome of their own, and leaves the
unknown rows out of training and of every metric. `label_distribution` counts both kinds of
null label together as ``unlabelled``.

Every look-back and look-ahead is taken within the ticker (``.over("ticker")`` on rows sorted
by date), so a label never reads another ticker's rows. Future closes only feed the label
columns; with ``lookahead = 0`` the labels are causal. Each labelled frame records its
look-ahead in ``regime_label_lookahead``, which the purge gap of any later split must cover.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import polars as pl

from m002._checks import check_choice, check_field_types, check_int
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError, SchemaError

__all__ = [
    "CONDITION_COLUMNS",
    "HMM_COVARIANCE_TYPES",
    "ID_TO_STATE",
    "LABEL_COLUMNS",
    "LABEL_METHODS",
    "PRIORITY",
    "REGIME_LABEL_KNOWN",
    "REGIME_LABEL_LOOKAHEAD",
    "REGIME_STATE",
    "REGIME_STATE_ID",
    "STATE_TO_ID",
    "UNLABELLED",
    "RegimeLabelConfig",
    "RegimeState",
    "assign_regime_labels",
    "label_distribution",
    "label_distribution_by_year",
    "required_columns",
]


class RegimeState(StrEnum):
    """The five layer-1 states; their string values are what the label frames hold."""

    PEAK = "Peak"
    ACCUMULATION = "Accumulation"
    EARLY_UP = "EarlyUp"
    LATE_DOWN = "LateDown"
    DISTRIBUTION = "Distribution"


PRIORITY: Final[Mapping[RegimeState, int]] = MappingProxyType(
    {
        RegimeState.PEAK: 5,
        RegimeState.ACCUMULATION: 4,
        RegimeState.EARLY_UP: 3,
        RegimeState.LATE_DOWN: 2,
        RegimeState.DISTRIBUTION: 1,
    }
)
"""Priority of each state: where several conditions hold, the highest wins."""

STATE_TO_ID: Final[dict[str, int]] = {
    "Peak": 0,
    "Accumulation": 1,
    "EarlyUp": 2,
    "LateDown": 3,
    "Distribution": 4,
}
"""Integer class of each state (``regime_state_id``), the classifier's target."""

ID_TO_STATE: Final[dict[int, str]] = {i: s for s, i in STATE_TO_ID.items()}

REGIME_STATE: Final = "regime_state"
REGIME_STATE_ID: Final = "regime_state_id"
REGIME_LABEL_LOOKAHEAD: Final = "regime_label_lookahead"
REGIME_LABEL_KNOWN: Final = "regime_label_known"
"""Boolean label column: true where the row's outcome is known (every condition could be
evaluated, hindsight complete), so that a null state there means "no state"; false on warm-up
rows and on the last ``lookahead`` rows of each ticker. It looks ahead like the labels."""
LABEL_COLUMNS: Final = (REGIME_STATE, REGIME_STATE_ID, REGIME_LABEL_LOOKAHEAD, REGIME_LABEL_KNOWN)
UNLABELLED: Final = "unlabelled"

CONDITION_COLUMNS: Final[Mapping[RegimeState, str]] = MappingProxyType(
    {state: f"cond_{state.value}" for state in RegimeState}
)
"""Boolean column of each state's condition, kept with ``keep_conditions=True``. They use
future closes like the labels do: diagnostics, never model inputs."""

_MAX_LOOKAHEAD: Final = 32_767  # the Int16 of regime_label_lookahead
_MAX_WINDOW: Final = 1_000

LABEL_METHODS: Final = ("priority", "hmm")
"""Values of ``RegimeLabelConfig.method``: the priority rules of this module (applied to any
rows by `assign_regime_labels`) or the HMM labeller (`m002.labels.HMMLabeller`, fitted on
training rows first)."""
HMM_COVARIANCE_TYPES: Final = ("diag", "full", "spherical", "tied")
"""Covariance forms of the HMM labeller's Gaussian states (hmmlearn's ``covariance_type``)."""


@dataclass(frozen=True)
class RegimeLabelConfig:
    """Thresholds of the five state conditions and the look-ahead of the labels.

    The module documentation lists each condition. Fractions are of price (``0.06`` = 6%),
    returns are log returns, windows count rows of one ticker.

    Parameters
    ----------
    lookahead : int, default 5
        Rows of hindsight the labels may use (>= 0). ``0`` gives causal labels; the last
        ``lookahead`` rows of each ticker are left unlabelled.
    peak_lookback : int, default 10
        Peak: rows before t in the window whose highest close t must (nearly) be.
    peak_tolerance : float, default 0.01
        Peak: how far below that highest close the close may be, as a fraction (0 = the
        highest close itself).
    peak_rsi_min : float, default 55.0
        Peak: ``rsi_smooth`` must be above this (overbought side).
    peak_dist_sma_20_min : float, default 0.0
        Peak: ``dist_sma_20`` must be above this.
    peak_fwd_ret_max : float, default -0.01
        Peak: the forward log return over ``lookahead`` rows must be below this (the top is
        confirmed by a fall).
    accumulation_dist_low_max : float, default 0.06
        Accumulation: ``dist_low_20`` (close over the 20-day low, minus 1) at most this.
    accumulation_dist_sma_60_max : float, default 0.0
        Accumulation: ``dist_sma_60`` must be below this (a base after a decline).
    accumulation_vol_lag : int, default 10
        Accumulation: ``atr_rel`` is compared with its value this many rows earlier.
    accumulation_vol_ratio_max : float, default 1.0
        Accumulation: ``atr_rel_t / atr_rel_(t-lag)`` at most this (< 1: contracting).
    accumulation_fwd_ret_min : float, default 0.0
        Accumulation: the forward log return over ``lookahead`` rows must be above this.
    early_up_window : int, default 15
        EarlyUp: ``ema_spread_rel`` must have been <= 0 on one of the previous this many rows.
    early_up_curv_min : float, default -0.5
        EarlyUp: ``curv_2`` must be above this.
    early_up_rsi_min : float, default 40.0
        EarlyUp: ``rsi_smooth`` must be above this.
    early_up_fwd_ret_min : float, default 0.0
        EarlyUp: the forward log return must be above this.
    late_down_min_age : int, default 10
        LateDown: ``ema_spread_rel`` must have been < 0 on this many rows before t (and on t).
    late_down_accel_min : float, default 0.0
        LateDown: ``price_accel`` must be above this (downward momentum fading).
    late_down_fwd_ret_min : float, default -0.02
        LateDown: the forward log return must be above this (no new leg down).
    distribution_dist_sma_60_min : float, default 0.0
        Distribution: ``dist_sma_60`` must be above this (a high level).
    distribution_macd_hist_max : float, default 0.0
        Distribution: ``macd_hist`` must be below this (momentum fading).
    distribution_volume_ratio_min : float, default 0.9
        Distribution: ``volume_ratio_5_20`` must be above this.
    distribution_fwd_ret_max : float, default 0.01
        Distribution: the forward log return must be below this (no new leg up).
    method : {"priority", "hmm"}, default "priority"
        How layer-1 labels are made: ``"priority"`` by the conditions above
        (`assign_regime_labels`), ``"hmm"`` by a Gaussian HMM fitted on training rows only
        (`m002.labels.HMMLabeller.from_config(config)`; `assign_regime_labels` refuses it).
        The thresholds above are unused by ``"hmm"`` and the ``hmm_`` keys by ``"priority"``;
        ``lookahead`` serves both. `m002.labels.label_fit_rows` labels a model's fit rows by
        either (the pipeline fits one HMM per layer-1 model, on that model's rows).
    hmm_return_feature : str, default "log_ret_1"
        HMM: the feature column read as the daily return.
    hmm_volatility_feature : str, default "volatility_20"
        HMM: the feature column read as the volatility.
    hmm_n_iter : int, default 100
        HMM: most EM (Baum-Welch) iterations of the fit.
    hmm_covariance : {"diag", "full", "spherical", "tied"}, default "diag"
        HMM: covariance form of each state's Gaussian.
    hmm_min_posterior : float, default 0.5
        HMM: a known row whose most likely state has a smoothed posterior below this gets
        "no state" (in [0, 1]; at or below 0.2 every known row gets a state).
    hmm_seed : int, default 0
        HMM: seed of the fit's initialisation (k-means); same rows + seed -> same model.

    Raises
    ------
    ConfigError
        If a value breaks its rule (windows >= 1, ``lookahead`` >= 0, RSI levels in
        [0, 100], tolerances and ratios >= 0, every float finite, ``method`` one of
        `LABEL_METHODS`, the ``hmm_`` rules of `m002.labels.HMMLabeller`).

    Examples
    --------
    >>> RegimeLabelConfig(lookahead=0).lookahead
    0
    >>> RegimeLabelConfig(lookahead=-1)
    Traceback (most recent call last):
    ...
    m002.exceptions.ConfigError: `lookahead` must be >= 0, got `lookahead=-1`
    """

    lookahead: int = 5
    peak_lookback: int = 10
    peak_tolerance: float = 0.01
    peak_rsi_min: float = 55.0
    peak_dist_sma_20_min: float = 0.0
    peak_fwd_ret_max: float = -0.01
    accumulation_dist_low_max: float = 0.06
    accumulation_dist_sma_60_max: float = 0.0
    accumulation_vol_lag: int = 10
    accumulation_vol_ratio_max: float = 1.0
    accumulation_fwd_ret_min: float = 0.0
    early_up_window: int = 15
    early_up_curv_min: float = -0.5
    early_up_rsi_min: float = 40.0
    early_up_fwd_ret_min: float = 0.0
    late_down_min_age: int = 10
    late_down_accel_min: float = 0.0
    late_down_fwd_ret_min: float = -0.02
    distribution_dist_sma_60_min: float = 0.0
    distribution_macd_hist_max: float = 0.0
    distribution_volume_ratio_min: float = 0.9
    distribution_fwd_ret_max: float = 0.01
    method: str = "priority"
    hmm_return_feature: str = "log_ret_1"
    hmm_volatility_feature: str = "volatility_20"
    hmm_n_iter: int = 100
    hmm_covariance: str = "diag"
    hmm_min_posterior: float = 0.5
    hmm_seed: int = 0

    def __post_init__(self) -> None:
        check_field_types(self)
        check_choice("method", self.method, LABEL_METHODS)
        check_hmm_params(
            prefix="hmm_",
            return_feature=self.hmm_return_feature,
            volatility_feature=self.hmm_volatility_feature,
            n_iter=self.hmm_n_iter,
            covariance=self.hmm_covariance,
            min_posterior=self.hmm_min_posterior,
            seed=self.hmm_seed,
        )
        _check_range("lookahead", self.lookahead, 0, _MAX_LOOKAHEAD)
        for name in ("peak_lookback", "accumulation_vol_lag", "early_up_window"):
            _check_range(name, getattr(self, name), 1, _MAX_WINDOW)
        _check_range("late_down_min_age", self.late_down_min_age, 0, _MAX_WINDOW)
        for name in ("peak_rsi_min", "early_up_rsi_min"):
            _check_range(name, getattr(self, name), 0.0, 100.0)
        _check_range("peak_tolerance", self.peak_tolerance, 0.0, 1.0, upper_open=True)
        for name in ("accumulation_dist_low_max", "accumulation_vol_ratio_max"):
            _check_range(name, getattr(self, name), 0.0, math.inf)
        _check_range("distribution_volume_ratio_min", self.distribution_volume_ratio_min, 0.0)


def _check_range(
    name: str,
    value: float,
    lower: float,
    upper: float = math.inf,
    *,
    upper_open: bool = False,
) -> None:
    too_high = value >= upper if upper_open else value > upper
    if value < lower:
        msg = f"`{name}` must be >= {lower}, got `{name}={value!r}`"
        raise ConfigError(msg)
    if too_high:
        rule = f"< {upper}" if upper_open else f"<= {upper}"
        msg = f"`{name}` must be {rule}, got `{name}={value!r}`"
        raise ConfigError(msg)


def check_hmm_params(
    *,
    prefix: str,
    return_feature: str,
    volatility_feature: str,
    n_iter: int,
    covariance: str,
    min_posterior: float,
    seed: int,
) -> None:
    """The rules of the HMM labeller's parameters, shared by `RegimeLabelConfig` (keys
    ``hmm_*``: ``prefix="hmm_"``) and `m002.labels.HMMLabeller` (``prefix=""``); a
    `ConfigError` names the key as the caller spells it."""
    for name, value in (
        ("return_feature", return_feature),
        ("volatility_feature", volatility_feature),
    ):
        if not isinstance(value, str) or not value:
            msg = f"`{prefix}{name}` must be a column name, got `{prefix}{name}={value!r}`"
            raise ConfigError(msg)
    if return_feature == volatility_feature:
        msg = (
            f"`{prefix}return_feature` and `{prefix}volatility_feature` must be two columns, "
            f"got {return_feature!r} for both"
        )
        raise ConfigError(msg)
    check_int(f"{prefix}n_iter", n_iter, 1)
    check_int(f"{prefix}seed", seed, 0)
    check_choice(f"{prefix}covariance", covariance, HMM_COVARIANCE_TYPES)
    finite = isinstance(min_posterior, int | float) and math.isfinite(min_posterior)
    if isinstance(min_posterior, bool) or not finite:
        name = f"{prefix}min_posterior"
        msg = f"`{name}` must be a finite number, got `{name}={min_posterior!r}`"
        raise ConfigError(msg)
    _check_range(f"{prefix}min_posterior", min_posterior, 0.0, 1.0)


_FEATURE_INPUTS: Final[Mapping[RegimeState, tuple[str, ...]]] = MappingProxyType(
    {
        RegimeState.PEAK: ("close", "rsi_smooth", "dist_sma_20"),
        RegimeState.ACCUMULATION: ("close", "dist_low_20", "atr_rel", "dist_sma_60"),
        RegimeState.EARLY_UP: ("close", "ema_spread_rel", "curv_2", "rsi_smooth"),
        RegimeState.LATE_DOWN: ("close", "ema_spread_rel", "price_accel"),
        RegimeState.DISTRIBUTION: ("close", "dist_sma_60", "macd_hist", "volume_ratio_5_20"),
    }
)


def required_columns() -> tuple[str, ...]:
    """Columns `assign_regime_labels` reads: ticker, date, close and m002 features."""
    seen = dict.fromkeys((TICKER, DATE, *(c for cols in _FEATURE_INPUTS.values() for c in cols)))
    return tuple(seen)


def _per_ticker(expr: pl.Expr) -> pl.Expr:
    return expr.over(TICKER)


def _all_of(*terms: pl.Expr) -> pl.Expr:
    """AND of the terms, null when any term is null (polars' ``&`` would turn
    ``null & false`` into false, labelling rows whose inputs are unknown)."""
    any_null = pl.any_horizontal([t.is_null() for t in terms])
    return pl.when(any_null).then(None).otherwise(pl.all_horizontal(terms))


def _fwd_ret(lookahead: int) -> pl.Expr:
    close = pl.col("close")
    return _per_ticker(close.shift(-lookahead)).log() - close.log()


def _conditions(config: RegimeLabelConfig) -> dict[RegimeState, pl.Expr]:
    """One boolean expression per state, over a frame sorted by (ticker, date).

    Null where an input is null or the hindsight window runs past the ticker's last row.
    """
    c = config
    look = c.lookahead
    fwd = _fwd_ret(look) if look > 0 else None

    def with_fwd(*terms: pl.Expr, fwd_term: pl.Expr | None) -> pl.Expr:
        return _all_of(*terms, fwd_term) if fwd_term is not None else _all_of(*terms)

    close = pl.col("close")
    window_high = _per_ticker(close.rolling_max(c.peak_lookback + look + 1).shift(-look))
    peak = with_fwd(
        close >= window_high * (1.0 - c.peak_tolerance),
        pl.col("rsi_smooth") > c.peak_rsi_min,
        pl.col("dist_sma_20") > c.peak_dist_sma_20_min,
        fwd_term=None if fwd is None else fwd < c.peak_fwd_ret_max,
    )

    atr_before = _per_ticker(pl.col("atr_rel").shift(c.accumulation_vol_lag))
    accumulation = with_fwd(
        pl.col("dist_low_20") <= c.accumulation_dist_low_max,
        pl.col("atr_rel") <= atr_before * c.accumulation_vol_ratio_max,
        pl.col("dist_sma_60") < c.accumulation_dist_sma_60_max,
        fwd_term=None if fwd is None else fwd > c.accumulation_fwd_ret_min,
    )

    spread = pl.col("ema_spread_rel")
    spread_low_before = _per_ticker(spread.shift(1).rolling_min(c.early_up_window))
    early_up = with_fwd(
        spread > 0.0,
        spread_low_before <= 0.0,
        pl.col("curv_2") > c.early_up_curv_min,
        pl.col("rsi_smooth") > c.early_up_rsi_min,
        fwd_term=None if fwd is None else fwd > c.early_up_fwd_ret_min,
    )

    spread_high = _per_ticker(spread.rolling_max(c.late_down_min_age + 1))
    late_down = with_fwd(
        spread_high < 0.0,
        pl.col("price_accel") > c.late_down_accel_min,
        fwd_term=None if fwd is None else fwd > c.late_down_fwd_ret_min,
    )

    distribution = with_fwd(
        pl.col("dist_sma_60") > c.distribution_dist_sma_60_min,
        pl.col("macd_hist") < c.distribution_macd_hist_max,
        pl.col("volume_ratio_5_20") > c.distribution_volume_ratio_min,
        fwd_term=None if fwd is None else fwd < c.distribution_fwd_ret_max,
    )
    return {
        RegimeState.PEAK: peak,
        RegimeState.ACCUMULATION: accumulation,
        RegimeState.EARLY_UP: early_up,
        RegimeState.LATE_DOWN: late_down,
        RegimeState.DISTRIBUTION: distribution,
    }


def _undecided(conditions: Mapping[RegimeState, pl.Expr]) -> pl.Expr:
    """True where any condition is null: the row can be labelled neither way."""
    return pl.any_horizontal([conditions[state].is_null() for state in RegimeState])


def _choose_state(conditions: Mapping[RegimeState, pl.Expr]) -> pl.Expr:
    """The value of the highest-priority state whose condition is true (String).

    Null where no condition is true, and where any condition is null (a row is labelled
    only when all five conditions could be evaluated).
    """
    undecided = _undecided(conditions)
    # one when/then chain in priority order = the highest priority among the true conditions
    top, *rest = sorted(RegimeState, key=lambda s: PRIORITY[s], reverse=True)
    chain = (
        pl.when(undecided)
        .then(pl.lit(None, dtype=pl.String))
        .when(conditions[top])
        .then(pl.lit(top.value))
    )
    for state in rest:
        chain = chain.when(conditions[state]).then(pl.lit(state.value))
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _check_columns(frame: pl.LazyFrame) -> None:
    require_columns(
        frame,
        required_columns(),
        needed_by="regime labelling",
        hint="add the m002 features first: `m002.features.add_features(frame, 'm002')`",
    )


def assign_regime_labels(
    frame: pl.LazyFrame | pl.DataFrame,
    config: RegimeLabelConfig | None = None,
    *,
    keep_conditions: bool = False,
) -> pl.LazyFrame:
    """Label every row with the highest-priority state whose condition holds.

    Parameters
    ----------
    frame : pl.LazyFrame or pl.DataFrame
        Rows with the m002 features (see `required_columns`), in any order.
    config : RegimeLabelConfig, optional
        Thresholds and look-ahead; ``RegimeLabelConfig()`` when omitted.
    keep_conditions : bool, default False
        Also return each state's boolean condition as ``cond_<state>`` (e.g. ``cond_Peak``).
        Like the labels they may read future closes: for inspection, never as features.

    Returns
    -------
    pl.LazyFrame
        The rows sorted by (ticker, date) with ``regime_state`` (String, a `RegimeState`
        value), ``regime_state_id`` (Int8, `STATE_TO_ID`), ``regime_label_lookahead``
        (Int16, ``config.lookahead``) and ``regime_label_known`` (Boolean). Both state labels
        are null where no condition holds, where any condition has a null input, and on the
        last ``lookahead`` rows of each ticker; ``regime_label_known`` is false on the last
        two kinds only, so that a null state on a known row is the outcome "no state".

    Raises
    ------
    SchemaError
        If a needed column is missing.
    ConfigError
        If ``config.method`` is not ``"priority"``: a fitted labeller (`HMMLabeller`) labels
        only after a fit on training rows.

    Examples
    --------
    >>> from m002.data import generate_synthetic
    >>> from m002.features import add_features
    >>> prices = generate_synthetic(n_tickers=2, n_days=300, seed=1).prices
    >>> labelled = assign_regime_labels(add_features(prices, "m002")).collect()
    >>> labelled.select(LABEL_COLUMNS).dtypes
    [String, Int8, Int16, Boolean]
    >>> label_distribution(labelled)["regime_state"].to_list()
    ['Peak', 'Accumulation', 'EarlyUp', 'LateDown', 'Distribution', 'unlabelled']
    """
    config = RegimeLabelConfig() if config is None else config
    if config.method != "priority":
        msg = (
            f"`assign_regime_labels` applies the priority rules, got `method={config.method!r}`: "
            "the HMM labeller is fitted on training rows only, so fit it on those and label "
            "with it: `HMMLabeller.from_config(config).fit(train_rows).assign(frame)` "
            "(`m002.labels.HMMLabeller`)"
        )
        raise ConfigError(msg)
    lazy = frame.lazy()
    _check_columns(lazy)
    lazy = lazy.sort(TICKER, DATE)
    conditions = _conditions(config)
    cond_cols = {state: pl.col(CONDITION_COLUMNS[state]) for state in RegimeState}
    # the last `lookahead` rows of a ticker would be labelled from a partial future: none
    rows_left = pl.len().over(TICKER) - pl.int_range(pl.len()).over(TICKER) - 1
    hindsight_complete = rows_left >= config.lookahead
    state_col = pl.when(hindsight_complete).then(_choose_state(cond_cols))
    known_col = hindsight_complete & ~_undecided(cond_cols)

    state_id_col = pl.col(REGIME_STATE).replace_strict(
        STATE_TO_ID, default=None, return_dtype=pl.Int8
    )
    out = (
        lazy.with_columns(
            expr.alias(CONDITION_COLUMNS[state]) for state, expr in conditions.items()
        )
        .with_columns(state_col.alias(REGIME_STATE))
        .with_columns(
            state_id_col.alias(REGIME_STATE_ID),
            pl.lit(config.lookahead, dtype=pl.Int16).alias(REGIME_LABEL_LOOKAHEAD),
            known_col.alias(REGIME_LABEL_KNOWN),
        )
    )
    if not keep_conditions:
        out = out.drop(CONDITION_COLUMNS.values())
    return out


def _state_counts(labelled: pl.LazyFrame, *group: str) -> pl.LazyFrame:
    state = pl.col(REGIME_STATE).fill_null(UNLABELLED)
    return labelled.group_by(*group, state.alias(REGIME_STATE)).agg(pl.len().alias("rows"))


def _check_labelled(frame: pl.LazyFrame) -> None:
    if REGIME_STATE not in frame.collect_schema().names():
        msg = (
            f"the frame has no `{REGIME_STATE}` column; label it first with "
            f"`m002.labels.assign_regime_labels`"
        )
        raise SchemaError(msg)


def label_distribution(labelled: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Rows per state and their shares, with an ``unlabelled`` row.

    Parameters
    ----------
    labelled : pl.DataFrame or pl.LazyFrame
        Output of `assign_regime_labels`.

    Returns
    -------
    pl.DataFrame
        One row per state in `STATE_TO_ID` order, then ``unlabelled``: ``regime_state``,
        ``regime_state_id`` (null for unlabelled), ``rows``, ``share`` (of all rows) and
        ``share_of_labelled`` (null for unlabelled). States that never occur have 0 rows.
    """
    lazy = labelled.lazy()
    _check_labelled(lazy)
    names = [*STATE_TO_ID, UNLABELLED]
    order = pl.DataFrame(
        {
            REGIME_STATE: names,
            REGIME_STATE_ID: pl.Series([*STATE_TO_ID.values(), None], dtype=pl.Int8),
        }
    )
    counts = _state_counts(lazy).collect()
    out = order.join(counts, on=REGIME_STATE, how="left", maintain_order="left").with_columns(
        pl.col("rows").fill_null(0).cast(pl.Int64)
    )
    is_state = pl.col(REGIME_STATE) != UNLABELLED
    all_rows, labelled_rows = pl.col("rows").sum(), pl.col("rows").filter(is_state).sum()
    # null, not NaN, where there is nothing to share (an empty frame, no labelled row)
    return out.with_columns(
        pl.when(all_rows > 0).then(pl.col("rows") / all_rows).alias("share"),
        pl.when(is_state & (labelled_rows > 0))
        .then(pl.col("rows") / labelled_rows)
        .alias("share_of_labelled"),
    )


def label_distribution_by_year(
    labelled: pl.DataFrame | pl.LazyFrame, *, normalize: bool = True
) -> pl.DataFrame:
    """States per calendar year, wide: one column per state and ``unlabelled``.

    Parameters
    ----------
    labelled : pl.DataFrame or pl.LazyFrame
        Output of `assign_regime_labels` (needs ``date``).
    normalize : bool, default True
        Shares of the year's rows (each row of the result sums to 1) rather than counts.

    Returns
    -------
    pl.DataFrame
        ``year`` (Int32), ``rows`` (the year's row count), then ``Peak``, ``Accumulation``,
        ``EarlyUp``, ``LateDown``, ``Distribution`` and ``unlabelled``, sorted by year.
    """
    lazy = labelled.lazy()
    _check_labelled(lazy)
    names = [*STATE_TO_ID, UNLABELLED]
    counts = _state_counts(lazy.with_columns(pl.col(DATE).dt.year().alias("year")), "year")
    wide = (
        counts.collect()
        .pivot(on=REGIME_STATE, index="year", values="rows", on_columns=names)
        .with_columns(pl.col(names).fill_null(0).cast(pl.Int64))
        .with_columns(pl.sum_horizontal(names).alias("rows"))
        .select("year", "rows", *names)
        .sort("year")
    )
    if normalize:
        wide = wide.with_columns(pl.col(names) / pl.col("rows"))
    return wide
