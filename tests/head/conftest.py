"""Synthetic head frames: `HEAD_FEATURES` of seeded noise, targets with a planted signal."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from m002.head import HEAD_FEATURES

SIGNAL = HEAD_FEATURES[0]
"""The feature the return target depends on (besides each date's market move)."""
REBOUND_SIGNAL = HEAD_FEATURES[1]
"""The feature the rebound label depends on."""
HORIZON = 10
"""Not 5, so that nothing may silently assume the spec's default horizon."""


def head_frame(
    *,
    n_dates: int = 80,
    n_tickers: int = 25,
    seed: int = 0,
    signal: float = 1.0,
    first: date = date(2020, 1, 1),
) -> pl.DataFrame:
    """One row per (ticker, date) with every head feature, the three head targets,
    ``target_horizon`` and a positive ``volatility_20``.

    ``future_ret_pct`` = 4 x the date's market move + 1.5 x ``signal`` x `SIGNAL` + noise, so
    most of its variance is the market's; the rebound label leans on `REBOUND_SIGNAL` and the
    drawdown on both. ``signal=0`` gives targets of pure noise.
    """
    rng = np.random.default_rng(seed)
    n = n_dates * n_tickers
    days = [first + timedelta(days=k) for k in range(n_dates)]
    features = {name: rng.normal(0.0, 1.0, n) for name in HEAD_FEATURES}
    features["volatility_20"] = rng.uniform(0.005, 0.03, n)
    market = np.repeat(rng.normal(0.0, 1.0, n_dates), n_tickers)
    x, z = features[SIGNAL], features[REBOUND_SIGNAL]
    ret = 4.0 * market + 1.5 * signal * x + rng.normal(0.0, 1.0, n)
    dd = -np.abs(rng.normal(0.0, 1.0, n)) - 0.5 * signal * np.maximum(0.0, -x)
    rebound = (signal * z + rng.normal(0.0, 1.0, n) > 0.5).astype(np.int8)
    return pl.DataFrame(
        {
            "ticker": [f"T{k:02d}" for _ in days for k in range(n_tickers)],
            "date": [d for d in days for _ in range(n_tickers)],
            **features,
            "future_ret_pct": ret,
            "future_dd_pct": np.minimum(dd, 0.0),
            "label_rebound_bin": rebound,
            "target_horizon": pl.Series([HORIZON] * n, dtype=pl.Int16),
        }
    )


def split_dates(frame: pl.DataFrame, *, valid_fraction: float = 0.25) -> tuple[pl.DataFrame, ...]:
    """(fit rows, validation rows): the last share of the dates, after a purge of
    ``HORIZON + 1`` dates, as the pipeline is to cut them."""
    calendar = frame["date"].unique().sort()
    start = int(calendar.len() * (1 - valid_fraction))
    fit_end = calendar[start - 1 - (HORIZON + 1)]
    return (
        frame.filter(pl.col("date") <= fit_end),
        frame.filter(pl.col("date") >= calendar[start]),
    )
