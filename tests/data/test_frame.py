"""`validate_frame`: a frame goes through the rules, adjustments and order that files do."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from m002._schema import CANONICAL_COLUMNS, CANONICAL_SCHEMA
from m002.data import TimestampWarning, read_silver, validate_frame
from m002.exceptions import ConfigError, DataValidationError


def vendor_frame(n: int = 20, *, seed: int = 0) -> pl.DataFrame:
    """Two tickers as a vendor spells them, out of order, with an adjusted close."""
    rng = np.random.default_rng(seed)
    days = pl.date_range(dt.date(2021, 3, 1), dt.date(2021, 6, 30), eager=True)
    days = days.filter(days.dt.weekday() <= 5)[:n]
    parts = []
    for symbol in ("MSFT", "AAPL"):
        close = 100 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
        open_ = close * np.exp(rng.normal(0.0, 0.005, n))
        parts.append(
            pl.DataFrame(
                {
                    "Symbol": symbol,
                    "Date": days.cast(pl.String),
                    "Open": open_,
                    "High": np.maximum(open_, close) * 1.01,
                    "Low": np.minimum(open_, close) * 0.99,
                    "Close": close,
                    "Adj Close": close * 0.25,
                    "Volume": rng.integers(1_000, 100_000, n),
                    "Dividends": 0.0,
                }
            )
        )
    return pl.concat(parts).reverse()


def break_row(df: pl.DataFrame, i: int, column: str, value: float) -> pl.DataFrame:
    idx = pl.int_range(pl.len())
    return df.with_columns(pl.when(idx == i).then(value).otherwise(pl.col(column)).alias(column))


def as_file(df: pl.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "prices.parquet"
    df.write_parquet(path)
    return path


def test_a_frame_reads_exactly_as_the_same_rows_in_a_file(tmp_path: Path) -> None:
    df = vendor_frame()
    out = validate_frame(df)
    assert out.schema == pl.Schema(CANONICAL_SCHEMA)
    assert out.equals(read_silver(as_file(df, tmp_path)).frame.collect())
    assert out["ticker"].is_sorted()
    assert out.filter(pl.col("ticker") == "AAPL")["date"].is_sorted()
    # split-adjusted through the adjusted close, volume the other way
    raw = df.filter(pl.col("Symbol") == "AAPL").sort("Date")
    aapl = out.filter(pl.col("ticker") == "AAPL")
    np.testing.assert_allclose(aapl["close"].to_numpy(), raw["Adj Close"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(aapl["volume"].to_numpy(), raw["Volume"].to_numpy() * 4.0)


def test_a_canonical_frame_comes_back_sorted_and_unchanged() -> None:
    canonical = validate_frame(vendor_frame())
    shuffled = canonical.sample(fraction=1.0, shuffle=True, seed=1)
    assert validate_frame(shuffled).equals(canonical)
    assert validate_frame(shuffled.lazy()).equals(canonical)
    assert validate_frame(canonical, validate="off").equals(canonical)


def test_strict_names_the_row_of_the_frame_the_ticker_the_date_and_the_rule() -> None:
    df = vendor_frame()
    bad = break_row(df, 7, "High", 1.0)
    with pytest.raises(DataValidationError) as err:
        validate_frame(bad)
    exc = err.value
    assert (exc.rule, exc.ticker, exc.source) == ("high_below_low", df["Symbol"][7], "frame")
    msg = str(exc)
    assert msg.startswith(f"frame row 8 (ticker {df['Symbol'][7]}, date {df['Date'][7]}): high 1")
    assert "[rule high_below_low]" in msg
    with pytest.raises(DataValidationError, match=r"^prices row 8 "):
        validate_frame(bad, source="prices")


def test_lenient_drops_warns_with_counts_and_matches_the_file_read(tmp_path: Path) -> None:
    df = break_row(break_row(vendor_frame(), 3, "Volume", -5), 30, "Low", 0.0)
    with pytest.warns(UserWarning, match="non_positive_price 1, negative_volume 1") as caught:
        out = validate_frame(df, validate="lenient")
    summary = str(caught[0].message)
    assert "dropped 2" in summary
    assert f"frame row 4 (ticker {df['Symbol'][3]}" in summary
    assert out.height == df.height - 2
    from_file = read_silver(as_file(df, tmp_path), validate="lenient").frame.collect()
    assert out.equals(from_file)


def test_duplicates_keep_the_first_and_off_keeps_them_all() -> None:
    df = vendor_frame()
    doubled = pl.concat([df, df.head(3)])
    with pytest.raises(DataValidationError, match=r"the first is frame row 1\b") as err:
        validate_frame(doubled)
    assert err.value.rule == "duplicate_row"
    with pytest.warns(UserWarning, match="duplicate_row 3"):
        assert validate_frame(doubled, validate="lenient").equals(validate_frame(df))
    assert validate_frame(doubled, validate="off").height == df.height + 3


def test_filters_and_min_rows() -> None:
    df = vendor_frame()
    out = validate_frame(df, tickers=["AAPL"], start="2021-03-10", end=dt.date(2021, 3, 19))
    assert out["ticker"].unique().to_list() == ["AAPL"]
    assert (out["date"].min(), out["date"].max()) == (dt.date(2021, 3, 10), dt.date(2021, 3, 19))
    with pytest.raises(DataValidationError, match="'APPL' -> 'AAPL'") as unknown:
        validate_frame(df, tickers=["APPL"], validate="lenient")
    assert unknown.value.rule == "unknown_ticker"
    with pytest.raises(DataValidationError, match="has 20 rows < min_rows 21") as short:
        validate_frame(df, min_rows=21)
    assert short.value.rule == "too_few_rows"


def test_missing_columns_and_bad_arguments() -> None:
    df = vendor_frame()
    for mode in ("strict", "lenient", "off"):
        with pytest.raises(DataValidationError, match=r"^frame: no volume column") as err:
            validate_frame(df.drop("Volume"), validate=mode)  # type: ignore[arg-type]
        assert err.value.rule == "missing_column"
    with pytest.raises(DataValidationError, match="no ticker column"):
        validate_frame(df.drop("Symbol"))
    with pytest.raises(ConfigError, match="`frame` must be a polars DataFrame"):
        validate_frame(df.to_dicts())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="`validate` must be one of"):
        validate_frame(df, validate="loose")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="`start` must not be after `end`"):
        validate_frame(df, start="2021-05-01", end="2021-04-01")
    with pytest.raises(DataValidationError, match="no rows between") as empty:
        validate_frame(df, start="2030-01-01")
    assert empty.value.rule == "empty_source"


def test_utc_midnight_stamps_in_a_frame() -> None:
    canonical = validate_frame(vendor_frame())
    stamps = pl.col("date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    vendor = canonical.with_columns(stamps.dt.convert_time_zone("America/New_York"))
    with pytest.warns(TimestampWarning, match="40 rows of frame"):
        assert validate_frame(vendor).equals(canonical)
    close = pl.col("date").cast(pl.Datetime("us")).dt.offset_by("16h")
    local = canonical.with_columns(close.dt.replace_time_zone("America/New_York"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampWarning)
        assert validate_frame(local).equals(canonical)
    assert list(canonical.columns) == list(CANONICAL_COLUMNS)
