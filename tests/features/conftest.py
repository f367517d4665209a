from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest


def random_ohlcv(
    n_tickers: int = 6, *, min_days: int = 90, max_days: int = 260, seed: int = 0
) -> pl.DataFrame:
    """Ragged multi-ticker OHLCV: each ticker its own length, start date and price level."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_tickers):
        n = int(rng.integers(min_days, max_days + 1))
        first = date(2015, 1, 1) + timedelta(days=int(rng.integers(0, 400)))
        calendar = (first + timedelta(days=k) for k in range(n * 2))
        days = [d for d in calendar if d.weekday() < 5][:n]
        close = float(rng.uniform(5, 500)) * np.exp(np.cumsum(rng.standard_t(4, n) * 0.015))
        open_ = close * np.exp(rng.normal(0, 0.005, n))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
        volume = rng.lognormal(12, 0.6, n).round()
        frames.append(
            pl.DataFrame(
                {
                    "ticker": f"T{i:02d}",
                    "date": days,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                }
            )
        )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def ohlcv() -> pl.DataFrame:
    return random_ohlcv()
