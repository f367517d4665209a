"""Frames for the portfolio tests: small hand-written ones and seeded random ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from m002.portfolio import PortfolioConfig, build_portfolio

START = dt.date(2024, 1, 1)
ABSENT = "absent"
"""In a hand-written column: the ticker has no row that date."""

# one rule at a time: a rank book traded in full, with no cap or leverage limit
# the rules are tested on the policy's score; the shipped default ranks the head's expected return
PLAIN = PortfolioConfig(
    score_column="policy_score", long_only=False, trade_rate=1.0, max_weight=None, max_leverage=None
)
SPEC = PortfolioConfig.passthrough()


def with_rules(base: PortfolioConfig, **changes: Any) -> PortfolioConfig:
    return dataclasses.replace(base, **changes)


def frame_of(score: dict[str, list[Any]], **columns: dict[str, list[Any]]) -> pl.DataFrame:
    """One row per ticker and date index, ``score`` as ``policy_score`` and each of
    ``columns`` by its name; a score of `ABSENT` leaves the row out."""
    rows = []
    for ticker, values in score.items():
        for day, value in enumerate(values):
            if value == ABSENT:
                continue
            row = {"ticker": ticker, "date": START + dt.timedelta(days=day), "policy_score": value}
            row.update({name: column[ticker][day] for name, column in columns.items()})
            rows.append(row)
    schema: dict[str, pl.DataType] = {"ticker": pl.String(), "date": pl.Date()}
    schema.update({name: pl.Float64() for name in ("policy_score", *columns)})
    return pl.DataFrame(rows, schema=schema)


def weights_of(frame: pl.DataFrame, config: PortfolioConfig) -> dict[str, list[float | None]]:
    """``target_weight`` per ticker over the frame's dates (None where it has no row)."""
    out = build_portfolio(frame, config)
    dates = out["date"].unique().sort().to_list()
    table: dict[str, list[float | None]] = {}
    for ticker in out["ticker"].unique().sort().to_list():
        mine = dict(out.filter(pl.col("ticker") == ticker).select("date", "target_weight").rows())
        table[ticker] = [mine.get(day) for day in dates]
    return table


def random_frame(
    seed: int,
    n_dates: int = 120,
    n_tickers: int = 12,
    *,
    persistence: float = 0.9,
    missing: float = 0.03,
    null_scores: float = 0.03,
) -> pl.DataFrame:
    """Seeded policy frame: AR(1) scores, prices with a market factor, sizes, expected
    returns; a share of rows left out and of scores null."""
    rng = np.random.default_rng(seed)
    score = np.zeros((n_dates, n_tickers))
    state = rng.standard_normal(n_tickers)
    for day in range(n_dates):
        state = persistence * state + np.sqrt(1 - persistence**2) * rng.standard_normal(n_tickers)
        score[day] = state
    market = 0.01 * rng.standard_normal((n_dates, 1))
    loading = rng.uniform(0.5, 1.5, n_tickers)
    returns = 0.0003 + loading * market + 0.015 * rng.standard_normal((n_dates, n_tickers))
    close = 50.0 * np.exp(np.cumsum(returns, axis=0))
    size = np.clip(score, -1.0, 1.0) * (rng.uniform(size=score.shape) < 0.6)
    dates = [START + dt.timedelta(days=d) for d in range(n_dates)]
    frame = pl.DataFrame(
        {
            "ticker": np.repeat([f"T{i:02d}" for i in range(n_tickers)], n_dates),
            "date": dates * n_tickers,
            "policy_score": (score * 0.01).T.ravel(),
            "position_size": size.T.ravel(),
            "close": close.T.ravel(),
            "pred_expected_ret_pct": (
                score * 0.3 + 0.1 * rng.standard_normal(score.shape)
            ).T.ravel(),
        }
    )
    keep = rng.uniform(size=frame.height) >= missing
    null = rng.uniform(size=frame.height) < null_scores
    return frame.filter(pl.Series(keep)).with_columns(
        pl.when(pl.Series(null[keep])).then(None).otherwise(pl.col("policy_score"))
        .alias("policy_score")
    )  # fmt: skip


def weight_grid(out: pl.DataFrame) -> tuple[list[dt.date], np.ndarray]:
    """``target_weight`` as a (dates x tickers) array, 0 where a ticker has no row."""
    wide = out.pivot("ticker", index="date", values="target_weight").sort("date").fill_null(0.0)
    tickers = sorted(c for c in wide.columns if c != "date")
    return wide["date"].to_list(), wide.select(tickers).to_numpy()
