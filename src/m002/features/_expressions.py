"""Feature expressions: small pure functions returning ``pl.Expr``.

Each expression reads one ticker's rows in date order. Making them safe on a frame with many
tickers is the engine's job (``_engine.py``), so nothing here calls ``.over``.
Zero denominators are handled explicitly and documented per function; nothing is forward-filled.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import polars as pl

__all__ = [
    "bollinger_pctb",
    "candle_body_ratio",
    "candle_lower_wick_ratio",
    "candle_upper_wick_ratio",
    "days_since",
    "distance_to_high",
    "distance_to_low",
    "distance_to_sma",
    "ema",
    "ema_spread",
    "gap_open",
    "high_low_range",
    "log_return",
    "macd_line",
    "rolling_volatility",
    "rsi_from_averages",
    "savgol_coefficients",
    "savgol_derivative",
    "true_range",
    "volume_ratio",
    "volume_zscore",
    "wilder_seed",
    "wilder_smooth",
]


def _col(name: str | pl.Expr) -> pl.Expr:
    return pl.col(name) if isinstance(name, str) else name


def _safe_ratio(numerator: pl.Expr, denominator: pl.Expr, *, when_zero: float | None) -> pl.Expr:
    """``numerator / denominator``, with ``when_zero`` (or null) where the denominator is 0."""
    return (
        pl.when(denominator != 0)
        .then(numerator / denominator)
        .otherwise(pl.lit(when_zero, dtype=pl.Float64))
    )


# --- returns and volatility -------------------------------------------------------------------


def log_return(*, periods: int = 1, column: str = "close") -> pl.Expr:
    """``log(x_t / x_{t-periods})``."""
    return pl.col(column).log().diff(periods)


def rolling_volatility(*, window: int = 20, column: str = "log_ret_1") -> pl.Expr:
    """Sample standard deviation (ddof=1) of ``column`` over the last ``window`` rows."""
    return pl.col(column).rolling_std(window, min_samples=window)


def high_low_range() -> pl.Expr:
    """``(high - low) / close``."""
    return (pl.col("high") - pl.col("low")) / pl.col("close")


# --- moving averages --------------------------------------------------------------------------


def ema(*, span: int, column: str | pl.Expr = "close") -> pl.Expr:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, started at the first value."""
    return _col(column).ewm_mean(span=span, adjust=False, ignore_nulls=True)


def wilder_seed(column: str, *, window: int, first_row: int, row_in_ticker: str) -> pl.Expr:
    """Input of Wilder's smoothing: the mean of the first ``window`` values on row
    ``first_row + window - 1`` (``first_row`` = the first row where ``column`` is defined),
    the raw value after it, null before. Finite memory."""
    seed_row = first_row + window - 1
    row = pl.col(row_in_ticker)
    x = pl.col(column)
    return (
        pl.when(row == seed_row)
        .then(x.rolling_mean(window, min_samples=window))
        .when(row > seed_row)
        .then(x)
    )


def wilder_smooth(column: str, *, window: int) -> pl.Expr:
    """Wilder's smoothing of a `wilder_seed` column: ``avg_t = avg_{t-1} + (x_t - avg_{t-1}) /
    window``, started at the seed. Recursive: run per ticker."""
    return pl.col(column).ewm_mean(alpha=1.0 / window, adjust=False, ignore_nulls=True)


def distance_to_sma(*, window: int, column: str = "close") -> pl.Expr:
    """``x / SMA_window(x) - 1``."""
    return pl.col(column) / pl.col(column).rolling_mean(window, min_samples=window) - 1.0


def macd_line(*, fast: int = 12, slow: int = 26) -> pl.Expr:
    """``(EMA_fast(close) - EMA_slow(close)) / close``: MACD as a fraction of price."""
    return (ema(span=fast) - ema(span=slow)) / pl.col("close")


def ema_spread(*, fast: int = 5, slow: int = 20) -> pl.Expr:
    """``(EMA_fast(close) - EMA_slow(close)) / EMA_slow(close)``."""
    slow_ema = ema(span=slow)
    return (ema(span=fast) - slow_ema) / slow_ema


# --- oscillators and ranges -------------------------------------------------------------------


def rsi_from_averages(*, gain: str, loss: str) -> pl.Expr:
    """``100 * avg_gain / (avg_gain + avg_loss)`` in [0, 100]; 50 where both are 0."""
    g, lo = pl.col(gain), pl.col(loss)
    return _safe_ratio(100.0 * g, g + lo, when_zero=50.0)


def true_range() -> pl.Expr:
    """``max(high - low, |high - close_{t-1}|, |low - close_{t-1}|)``; null on the first row."""
    prev_close = pl.col("close").shift(1)
    return pl.when(prev_close.is_not_null()).then(
        pl.max_horizontal(
            pl.col("high") - pl.col("low"),
            (pl.col("high") - prev_close).abs(),
            (pl.col("low") - prev_close).abs(),
        )
    )


def bollinger_pctb(*, window: int = 20, width: float = 2.0) -> pl.Expr:
    """Bollinger %B: ``(close - lower) / (upper - lower)`` with bands at ``SMA +/- width * sd``
    (population sd over ``window``). Null where the window's closes are all equal."""
    close = pl.col("close")
    mid = close.rolling_mean(window, min_samples=window)
    sd = close.rolling_std(window, min_samples=window, ddof=0)
    return _safe_ratio(close - (mid - width * sd), 2.0 * width * sd, when_zero=None)


def volume_zscore(*, window: int = 20) -> pl.Expr:
    """z-score of ``log(1 + volume)`` against its last ``window`` rows (today included, ddof=1);
    0 where the window's volume is constant (today then equals the mean)."""
    lv = (pl.col("volume") + 1.0).log()
    mean = lv.rolling_mean(window, min_samples=window)
    sd = lv.rolling_std(window, min_samples=window)
    return _safe_ratio(lv - mean, sd, when_zero=0.0)


def volume_ratio(*, fast: int = 5, slow: int = 20) -> pl.Expr:
    """``SMA_fast(volume) / SMA_slow(volume)``; null where the slow window had no volume."""
    volume = pl.col("volume")
    return _safe_ratio(
        volume.rolling_mean(fast, min_samples=fast),
        volume.rolling_mean(slow, min_samples=slow),
        when_zero=None,
    )


# --- candles ----------------------------------------------------------------------------------


def _candle_ratio(part: pl.Expr) -> pl.Expr:
    """``part / (high - low)``; 0 on a bar with no range (open = high = low = close)."""
    return _safe_ratio(part, pl.col("high") - pl.col("low"), when_zero=0.0)


def candle_body_ratio() -> pl.Expr:
    """``(close - open) / (high - low)`` in [-1, 1]."""
    return _candle_ratio(pl.col("close") - pl.col("open"))


def candle_upper_wick_ratio() -> pl.Expr:
    """``(high - max(open, close)) / (high - low)`` in [0, 1]."""
    return _candle_ratio(pl.col("high") - pl.max_horizontal("open", "close"))


def candle_lower_wick_ratio() -> pl.Expr:
    """``(min(open, close) - low) / (high - low)`` in [0, 1]."""
    return _candle_ratio(pl.min_horizontal("open", "close") - pl.col("low"))


def gap_open() -> pl.Expr:
    """``open / close_{t-1} - 1``."""
    return pl.col("open") / pl.col("close").shift(1) - 1.0


def distance_to_high(*, window: int = 20) -> pl.Expr:
    """``close / max(high over window) - 1`` (<= 0)."""
    return pl.col("close") / pl.col("high").rolling_max(window, min_samples=window) - 1.0


def distance_to_low(*, window: int = 20) -> pl.Expr:
    """``close / min(low over window) - 1`` (>= 0)."""
    return pl.col("close") / pl.col("low").rolling_min(window, min_samples=window) - 1.0


# --- curvature --------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def savgol_coefficients(window: int, polyorder: int, deriv: int) -> tuple[float, ...]:
    """Trailing Savitzky-Golay coefficients, evaluated at the newest point of the window.

    Returns ``c`` such that the ``deriv``-th derivative at row t of the degree-``polyorder``
    least-squares polynomial through rows ``t-window+1 .. t`` is ``sum_j c[j] * x_{t-j}``
    (``c[0]`` weighs today). Uses only past and present rows: causal by construction.
    """
    if not 0 <= deriv <= polyorder < window:
        msg = (
            "Savitzky-Golay needs 0 <= deriv <= polyorder < window, got "
            f"`window={window}`, `polyorder={polyorder}`, `deriv={deriv}`"
        )
        raise ValueError(msg)
    lags = -np.arange(window, dtype=np.float64)  # time of x_{t-j} relative to t
    vander = np.vander(lags, polyorder + 1, increasing=True)
    # row `deriv` of the pseudo-inverse gives the polynomial coefficient of t**deriv at t = 0
    coef = np.linalg.pinv(vander)[deriv] * math.factorial(deriv)
    return tuple(float(c) for c in coef)


def savgol_derivative(
    column: str | pl.Expr, *, window: int = 11, polyorder: int = 2, deriv: int = 2
) -> pl.Expr:
    """Trailing Savitzky-Golay derivative as a fixed linear filter (a weighted rolling sum).

    Null wherever the window holds a null. (polars' weighted rolling sum does not accept
    nulls, so they travel through it as NaN and come back as null.)
    """
    coef = savgol_coefficients(window, polyorder, deriv)
    weights = list(reversed(coef))  # rolling weights run oldest -> newest
    x = _col(column).fill_null(float("nan"))
    return x.rolling_sum(window, weights=weights, min_samples=window).fill_nan(None)


# --- event context ----------------------------------------------------------------------------


def days_since(flag: str, *, cap: int, row_in_ticker: str, valid_from: int) -> pl.Expr:
    """Rows since ``flag`` was last 1 in this ticker, capped at ``cap``.

    ``valid_from`` is the first row where ``flag`` is known; from row ``valid_from + cap`` on the
    value is always defined (``cap`` when the flag was not seen in the last ``cap`` rows).
    Finite memory: an event of an earlier ticker (``days > row_in_ticker``) is never counted.
    """
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    last = pl.when(pl.col(flag) == 1).then(index).forward_fill()
    days = index - last
    seen = days.is_not_null() & (days <= pl.col(row_in_ticker)) & (days <= cap)
    return (
        pl.when(seen).then(days).when(pl.col(row_in_ticker) >= valid_from + cap).then(pl.lit(cap))
    )
