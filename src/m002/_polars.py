"""How m002 collects its own lazy plans."""

from __future__ import annotations

import polars as pl

__all__ = ["collect", "finite_or_null"]


def collect(frame: pl.LazyFrame) -> pl.DataFrame:
    """Collect with polars' in-memory engine.

    The feature plans are many per-ticker window expressions over one frame; on those the
    in-memory engine beat polars 2's default (``"auto"``) on the S&P sample by about 20% in
    time and 25% in peak memory (benchmarks/bench_features.py), so every collect m002 does
    itself goes through here.
    """
    return frame.collect(engine="in-memory")


def finite_or_null(column: str) -> pl.Expr:
    """The column as Float64 with NaN and +/-inf as null: the one spelling of "a number m002
    can trust" (a Float32 column is widened first, so its values print as written)."""
    value = pl.col(column).cast(pl.Float64)
    return pl.when(value.is_finite()).then(value)
