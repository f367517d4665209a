"""Trailing daily returns on the grid, and what the risk rules read from them: which names
have a full window, each name's beta to the equal-weight universe, a book's ex-ante volatility.

Causal: every value on date t reads closes up to t only. Each windowed sum adds the window's
dates in one fixed order (today, then one date back, ...), never as a difference of running
totals, so a value depends on its window alone and not on where the data starts: a run over a
shorter history gives the same bits once its window is full.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["book_volatility", "daily_returns", "full_window", "rolling_beta", "universe_return"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

TRADING_DAYS = 252


def daily_returns(close: Floats) -> Floats:
    """``close[t] / close[t - 1] - 1`` per name, where the name has a finite positive close
    on both dates of the grid; NaN elsewhere (the first date, a missing row, a bad close)."""
    good = np.isfinite(close) & (close > 0.0)
    out = np.full(close.shape, np.nan)
    if close.shape[0] > 1:
        both = good[1:] & good[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = close[1:] / close[:-1] - 1.0
        out[1:] = np.where(both, ratio, np.nan)
    return out


def full_window(returns: Floats, window: int) -> Bools:
    """True on (date, name) where the name has a return on each of the last ``window``
    dates, that date included."""
    count = np.zeros(returns.shape, dtype=np.int64)
    finite = np.isfinite(returns)
    for lag in range(min(window, returns.shape[0])):
        count[lag:] += finite[: returns.shape[0] - lag]
    full: Bools = count == window
    return full


def universe_return(returns: Floats) -> Floats:
    """Equal-weight mean return of the names with a return on each date (NaN where none).

    Summed over the names present that date only, in ticker order: a name absent from the
    date (one that is not in a shorter history at all) cannot change the rounding.
    """
    out = np.full(returns.shape[0], np.nan)
    finite = np.isfinite(returns)
    for date in range(returns.shape[0]):
        values = returns[date, finite[date]]
        if values.size:
            out[date] = values.sum() / values.size
    return out


def rolling_beta(returns: Floats, market: Floats, window: int) -> Floats:
    """Each name's beta to ``market`` over the last ``window`` dates (that date included):
    ``cov(r, m) / var(m)``; NaN where the name's window is not full or the market did not
    move over it (a variance below 1e-14 of its mean square).

    Two passes over the window, means first, so that no sum of squares loses the variance to
    cancellation against the mean.
    """
    n_dates = returns.shape[0]
    filled = np.where(np.isfinite(returns), returns, 0.0)
    m = np.where(np.isfinite(market), market, 0.0)
    lags = range(min(window, n_dates))
    mean_r = np.zeros(returns.shape)
    mean_m = np.zeros(n_dates)
    square_m = np.zeros(n_dates)
    for lag in lags:
        mean_r[lag:] += filled[: n_dates - lag]
        mean_m[lag:] += m[: n_dates - lag]
        square_m[lag:] += m[: n_dates - lag] ** 2
    mean_r /= window
    mean_m /= window
    cov = np.zeros(returns.shape)
    var_m = np.zeros(n_dates)
    for lag in lags:
        step_m = m[: n_dates - lag] - mean_m[lag:]
        cov[lag:] += (filled[: n_dates - lag] - mean_r[lag:]) * step_m[:, None]
        var_m[lag:] += step_m * step_m
    moved = var_m > 1e-14 * square_m
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = cov / var_m[:, None]
    return np.where(full_window(returns, window) & moved[:, None], beta, np.nan)


def book_volatility(window_returns: Floats, weights: Floats) -> float:
    """Annualised volatility of the book ``weights`` held over the ``window_returns`` (dates
    x names, every entry finite): the sample standard deviation (ddof 1) of the daily book
    returns, times sqrt(252)."""
    book = (window_returns * weights).sum(axis=1)
    return float(book.std(ddof=1)) * math.sqrt(TRADING_DAYS)
