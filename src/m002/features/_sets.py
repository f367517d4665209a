"""The feature sets v1 < v2 < v3 < m002, Qlib's alpha158 and the union m002+alpha158 as ordered
lists of `Feature`.

Warm-ups are the number of rows at the start of each ticker where a feature is null; the test
suite proves each one by comparing the fast engine with the per-ticker reference engine.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from m002.exceptions import ConfigError
from m002.features import _expressions as fx
from m002.features._alpha158 import alpha158_features
from m002.features._engine import ROW_IN_TICKER, Feature

__all__ = [
    "CURV_WINDOW",
    "DAYS_SINCE_CAP",
    "FEATURE_SETS",
    "feature_names",
    "feature_set",
    "longest_warmup",
]

CURV_WINDOW: Final = 11
DAYS_SINCE_CAP: Final = 40

_RET = "log return (fraction)"
_FRAC = "fraction of price"
_FLAG = "flag 0/1"


def _wilder(
    name: str, values: pl.Expr, *, window: int, first_row: int, units: str, formula: str
) -> list[Feature]:
    """Helpers + the EWM step of Wilder's smoothing of ``values`` (defined from
    ``first_row``): only the bare EWM runs per ticker."""
    raw, seeded = f"_{name}_raw", f"_{name}_seeded"
    warmup = first_row + window - 1
    return [
        Feature(raw, values, warmup=first_row),
        Feature(
            seeded,
            fx.wilder_seed(raw, window=window, first_row=first_row, row_in_ticker=ROW_IN_TICKER),
            warmup=warmup,
        ),
        Feature(
            name,
            fx.wilder_smooth(seeded, window=window),
            warmup=warmup,
            units=units,
            formula=formula,
        ),
    ]


def _returns_and_volatility() -> list[Feature]:
    rets = [
        Feature(
            f"log_ret_{k}",
            fx.log_return(periods=k),
            warmup=k,
            units=_RET,
            formula=f"ln(close_t / close_(t-{k}))",
        )
        for k in (1, 5, 10, 20)
    ]
    return [
        *rets,
        Feature(
            "volatility_20",
            fx.rolling_volatility(window=20),
            warmup=20,
            units="log return per day",
            formula="sample sd (ddof=1) of log_ret_1 over 20 rows",
        ),
        *_wilder(
            "_avg_gain",
            pl.col("close").diff().clip(lower_bound=0.0),
            window=14,
            first_row=1,
            units="price",
            formula="Wilder mean of gains",
        ),
        *_wilder(
            "_avg_loss",
            (-pl.col("close").diff()).clip(lower_bound=0.0),
            window=14,
            first_row=1,
            units="price",
            formula="Wilder mean of losses",
        ),
        Feature(
            "rsi_14",
            fx.rsi_from_averages(gain="_avg_gain", loss="_avg_loss"),
            warmup=14,
            pointwise=True,
            units="0-100",
            formula="Wilder RSI(14): 100 * avg_gain / (avg_gain + avg_loss) with Wilder "
            "smoothing seeded by the mean of the first 14 changes; 50 when both are 0",
        ),
        Feature(
            "volume_z_20",
            fx.volume_zscore(window=20),
            warmup=19,
            units="z-score",
            formula="(ln(1+volume) - mean20) / sd20 (ddof=1), today included; "
            "0 when the window's volume is constant",
        ),
        Feature(
            "hl_range",
            fx.high_low_range(),
            warmup=0,
            pointwise=True,
            units=_FRAC,
            formula="(high - low) / close",
        ),
    ]


def _v2_extra() -> list[Feature]:
    smas = [
        Feature(
            f"dist_sma_{n}",
            fx.distance_to_sma(window=n),
            warmup=n - 1,
            units=_FRAC,
            formula=f"close / SMA{n}(close) - 1",
        )
        for n in (5, 20, 60)
    ]
    return [
        *smas,
        Feature(
            "macd",
            fx.macd_line(fast=12, slow=26),
            warmup=25,
            units=_FRAC,
            formula="(EMA12(close) - EMA26(close)) / close; EMAs start at the first row",
        ),
        Feature(
            "macd_signal",
            fx.ema(span=9, column="macd"),
            warmup=33,
            units=_FRAC,
            formula="EMA9(macd), started at macd's first value",
        ),
        Feature(
            "macd_hist",
            pl.col("macd") - pl.col("macd_signal"),
            warmup=33,
            pointwise=True,
            units=_FRAC,
            formula="macd - macd_signal",
        ),
        Feature(
            "bb_pctb_20",
            fx.bollinger_pctb(window=20, width=2.0),
            warmup=19,
            units="band fraction",
            formula="(close - (SMA20 - 2 sd20)) / (4 sd20), population sd; "
            "null when the 20 closes are equal",
        ),
        *_wilder(
            "atr_14",
            fx.true_range(),
            window=14,
            first_row=1,
            units="price",
            formula="Wilder ATR(14): Wilder smoothing (seeded by the mean of the first 14) "
            "of the true range max(h-l, |h-c_(t-1)|, |l-c_(t-1)|)",
        ),
    ]


def _v3_extra() -> list[Feature]:
    return [
        Feature(
            "rsi_smooth",
            pl.col("rsi_14").rolling_mean(5, min_samples=5),
            warmup=18,
            units="0-100",
            formula="SMA5(rsi_14)",
        ),
        Feature(
            "atr_smooth",
            (pl.col("atr_14") / pl.col("close")).rolling_mean(5, min_samples=5),
            warmup=18,
            units=_FRAC,
            formula="SMA5(atr_14 / close)",
        ),
        Feature(
            "candle_body",
            fx.candle_body_ratio(),
            warmup=0,
            pointwise=True,
            units="-1..1",
            formula="(close - open) / (high - low); 0 when high = low",
        ),
        Feature(
            "candle_upper_wick",
            fx.candle_upper_wick_ratio(),
            warmup=0,
            pointwise=True,
            units="0..1",
            formula="(high - max(open, close)) / (high - low); 0 when high = low",
        ),
        Feature(
            "candle_lower_wick",
            fx.candle_lower_wick_ratio(),
            warmup=0,
            pointwise=True,
            units="0..1",
            formula="(min(open, close) - low) / (high - low); 0 when high = low",
        ),
        Feature("gap_open", fx.gap_open(), warmup=1, units=_FRAC, formula="open / close_(t-1) - 1"),
        Feature(
            "dist_high_20",
            fx.distance_to_high(window=20),
            warmup=19,
            units=_FRAC,
            formula="close / max(high, 20 rows) - 1",
        ),
        Feature(
            "dist_low_20",
            fx.distance_to_low(window=20),
            warmup=19,
            units=_FRAC,
            formula="close / min(low, 20 rows) - 1",
        ),
        Feature(
            "volume_ratio_5_20",
            fx.volume_ratio(fast=5, slow=20),
            warmup=19,
            units="ratio",
            formula="SMA5(volume) / SMA20(volume); null when SMA20 is 0",
        ),
    ]


def _flag(condition: pl.Expr) -> pl.Expr:
    return condition.cast(pl.Int8)


def _m002_extra() -> list[Feature]:
    breakdown = pl.col("event_breakdown_risk")
    regain = pl.col("event_volume_regain")
    curv = fx.savgol_derivative(pl.col("close").log(), window=CURV_WINDOW, polyorder=2, deriv=2)
    return [
        Feature(
            "curv_2",
            curv * (CURV_WINDOW - 1) / pl.col("volatility_20"),
            warmup=20,
            units="daily volatilities",
            formula=f"{CURV_WINDOW - 1} * d2/dt2 ln(close) / volatility_20: how much the "
            f"fitted daily log-slope changes across the window, in units of daily "
            f"volatility. The second derivative is that of a trailing Savitzky-Golay fit "
            f"(window {CURV_WINDOW}, degree 2, evaluated at the newest row): a fixed "
            "linear filter",
        ),
        Feature(
            "price_accel",
            pl.col("log_ret_5") - pl.col("log_ret_5").shift(5),
            warmup=10,
            units=_RET,
            formula="log_ret_5 - log_ret_5 five rows earlier",
        ),
        Feature(
            "ema_spread_rel",
            fx.ema_spread(fast=5, slow=20),
            warmup=19,
            units=_FRAC,
            formula="(EMA5(close) - EMA20(close)) / EMA20(close)",
        ),
        Feature(
            "atr_rel",
            pl.col("atr_14") / pl.col("close"),
            warmup=14,
            pointwise=True,
            units=_FRAC,
            formula="atr_14 / close",
        ),
        # events
        Feature(
            "event_local_vol_spike",
            _flag(pl.col("volume_z_20") >= 2.0),
            warmup=19,
            pointwise=True,
            units=_FLAG,
            dtype=pl.Int8(),
            formula="volume_z_20 >= 2 (a local volume spike)",
        ),
        Feature(
            "event_volume_regain",
            _flag(
                (pl.col("volume_ratio_5_20") >= 1.0) & (pl.col("volume_ratio_5_20").shift(1) < 1.0)
            ),
            warmup=20,
            units=_FLAG,
            dtype=pl.Int8(),
            formula="volume_ratio_5_20 crosses 1 from below (5-day volume regains the "
            "20-day average)",
        ),
        Feature(
            "event_rebound_candidate",
            _flag(
                (pl.col("rsi_14") < 40.0) & (pl.col("curv_2") > 0.0) & (pl.col("log_ret_1") > 0.0)
            ),
            warmup=20,
            pointwise=True,
            units=_FLAG,
            dtype=pl.Int8(),
            formula="rsi_14 < 40 and curv_2 > 0 and log_ret_1 > 0 (oversold, turning up)",
        ),
        Feature(
            "event_breakdown_risk",
            _flag(pl.col("close") < pl.col("low").rolling_min(20, min_samples=20).shift(1)),
            warmup=20,
            units=_FLAG,
            dtype=pl.Int8(),
            formula="close below the lowest low of the previous 20 rows",
        ),
        # combination tags
        Feature(
            "I_bd_early",
            _flag((breakdown == 1) & (breakdown.shift(1).rolling_sum(10, min_samples=10) == 0)),
            warmup=30,
            units=_FLAG,
            dtype=pl.Int8(),
            formula="event_breakdown_risk today and none in the previous 10 rows",
        ),
        Feature(
            "I_bd_late",
            _flag(
                (breakdown.rolling_sum(20, min_samples=20) >= 3)
                & (breakdown.shift(5).rolling_sum(15, min_samples=15) >= 1)
                & (pl.col("dist_sma_20") < 0.0)
                & (pl.col("price_accel") > 0.0)
            ),
            warmup=39,
            units=_FLAG,
            dtype=pl.Int8(),
            formula="at least 3 breakdown events in the last 20 rows, one of them 5 or more "
            "rows ago, close still below SMA20, and price_accel > 0 (losing downward "
            "momentum)",
        ),
        Feature(
            "I_vr_and_vs",
            _flag((regain == 1) & (pl.col("event_local_vol_spike") == 1)),
            warmup=20,
            pointwise=True,
            units=_FLAG,
            dtype=pl.Int8(),
            formula="event_volume_regain and event_local_vol_spike on the same row",
        ),
        # context
        Feature(
            "event_volume_regain_freq20",
            regain.cast(pl.Float64).rolling_mean(20, min_samples=20),
            warmup=39,
            units="fraction of rows",
            formula="share of the last 20 rows with event_volume_regain",
        ),
        Feature(
            "days_since_volume_regain",
            fx.days_since(
                "event_volume_regain",
                cap=DAYS_SINCE_CAP,
                row_in_ticker=ROW_IN_TICKER,
                valid_from=20,
            ),
            warmup=20 + DAYS_SINCE_CAP,
            units="rows",
            dtype=pl.Int16(),
            formula=f"rows since the last event_volume_regain, capped at {DAYS_SINCE_CAP}",
        ),
    ]


FEATURE_SETS: Final[dict[str, tuple[Feature, ...]]] = {
    "v1": tuple(_returns_and_volatility()),
    "v2": (*_returns_and_volatility(), *_v2_extra()),
    "v3": (*_returns_and_volatility(), *_v2_extra(), *_v3_extra()),
    "m002": (*_returns_and_volatility(), *_v2_extra(), *_v3_extra(), *_m002_extra()),
    "alpha158": tuple(alpha158_features()),
    "m002+alpha158": (
        *_returns_and_volatility(),
        *_v2_extra(),
        *_v3_extra(),
        *_m002_extra(),
        *alpha158_features(),
    ),
}


def feature_set(name: str) -> tuple[Feature, ...]:
    """The features of set ``name`` (``v1``, ``v2``, ``v3``, ``m002``, ``alpha158`` or
    ``m002+alpha158``) in dependency order."""
    try:
        return FEATURE_SETS[name]
    except KeyError:
        msg = f"unknown feature set `feature_set={name!r}`; choose one of {sorted(FEATURE_SETS)}"
        raise ConfigError(msg) from None


def feature_names(name: str = "m002") -> list[str]:
    """Public column names that set ``name`` adds, in order."""
    return [f.name for f in feature_set(name) if not f.name.startswith("_")]


def longest_warmup(name: str = "m002") -> int:
    """Rows each ticker needs before every feature of set ``name`` is defined."""
    return max(f.warmup for f in feature_set(name))
