"""The real S&P 500 sample (100 tickers, 1999-11-01 to 2021-04-21) through the data layer.

What the sample holds, found by reading it: 465,390 rows in 100 ticker files, none breaking a
rule (24 rows have zero volume, which is allowed); a hidden file ``.parquet`` beside them
that must be ignored; 77 days with a split coefficient other than 1, two of which are
spin-offs booked as splits (MSI 2011-01-04, SO 2001-04-03) whose adjusted close still moves a
lot; and one 2:1 split the vendor did not record at all (TRMB 2007-02-26).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from m002._schema import CANONICAL_SCHEMA
from m002.data import check_silver, load_silver, read_silver
from m002.exceptions import DataValidationError

ROWS = 465_390
SPIN_OFFS = {("MSI", dt.date(2011, 1, 4)), ("SO", dt.date(2001, 4, 3))}


@pytest.fixture(scope="module")
def loaded(sample_dir: Path) -> pl.DataFrame:
    return load_silver(sample_dir).collect()


@pytest.fixture(scope="module")
def raw(sample_dir: Path) -> pl.DataFrame:
    """The files as stored, straight from polars (ticker from the file name)."""
    files = sorted(p for p in sample_dir.glob("*.parquet") if not p.name.startswith("."))
    lf = pl.scan_parquet(files, include_file_paths="path")
    return lf.with_columns(ticker=pl.col("path").str.extract(r"([^/\\]+)\.parquet$")).collect()


def test_all_tickers_load_clean_in_strict_mode(sample_dir: Path, loaded: pl.DataFrame) -> None:
    report = read_silver(sample_dir).report
    assert report.ok
    assert (report.rows_in, report.rows_out, report.rows_dropped) == (ROWS, ROWS, 0)
    assert report.n_files == 100  # the hidden ".parquet" file is not read
    assert report.n_tickers == 100
    assert loaded.schema == pl.Schema(CANONICAL_SCHEMA)
    assert loaded.height == ROWS
    assert loaded["ticker"].n_unique() == 100
    assert loaded.equals(loaded.sort("ticker", "date"))
    assert loaded.select(pl.struct("ticker", "date").n_unique()).item() == ROWS
    assert loaded["date"].min() == dt.date(1999, 11, 1)
    assert loaded["date"].max() == dt.date(2021, 4, 21)
    assert loaded.filter(pl.col("ticker") == "VTRS").height == 107
    assert loaded.filter(pl.col("volume") == 0).height == 24
    assert check_silver(sample_dir).ok


def test_prices_are_the_adjusted_ones(loaded: pl.DataFrame, raw: pl.DataFrame) -> None:
    both = loaded.join(raw, on=["ticker", "date"], suffix="_raw")
    assert both.height == ROWS
    rel = (both["close"] / both["adjusted_close"] - 1).abs().max()
    assert rel is not None
    assert float(rel) < 1e-12  # type: ignore[arg-type]
    assert (loaded["low"] <= loaded["close"]).all()
    assert (loaded["close"] <= loaded["high"]).all()


def test_split_days_are_not_crashes(loaded: pl.DataFrame, raw: pl.DataFrame) -> None:
    ret = loaded.with_columns(lr=(pl.col("close") / pl.col("close").shift(1).over("ticker")).log())
    splits = raw.filter(pl.col("split_coefficient") != 1).select("ticker", "date")
    days = splits.join(ret, on=["ticker", "date"])
    assert days.height == 77
    assert days["lr"].null_count() == 0
    assert days.select((pl.col("lr").exp() - 1).min()).item() > -0.5
    spin = pl.struct("ticker", "date").is_in(
        pl.Series([{"ticker": t, "date": d} for t, d in SPIN_OFFS]).implode()
    )
    assert days.filter(spin).height == 2
    assert days.filter(spin)["lr"].abs().max() < 0.5  # type: ignore[operator]
    assert days.filter(~spin)["lr"].abs().max() < 0.1  # type: ignore[operator]
    assert days["lr"].abs().median() < 0.02  # type: ignore[operator]


def test_days_below_minus_half_are_known_events(loaded: pl.DataFrame) -> None:
    ret = loaded.with_columns(r=pl.col("close") / pl.col("close").shift(1).over("ticker") - 1)
    crashes = ret.filter(pl.col("r") < -0.5).select("ticker", "date")
    assert set(crashes.iter_rows()) == {
        ("PWR", dt.date(2002, 7, 2)),
        ("STT", dt.date(2009, 1, 20)),
        ("OXY", dt.date(2020, 3, 9)),
        # a 2:1 split missing from both split_coefficient and adjusted_close
        ("TRMB", dt.date(2007, 2, 26)),
    }


def test_filters_on_the_sample(sample_dir: Path, loaded: pl.DataFrame) -> None:
    part = load_silver(
        sample_dir, tickers=["VTRS"], start="2021-01-01", end=dt.date(2021, 3, 31)
    ).collect()
    want = loaded.filter(
        pl.col("ticker") == "VTRS",
        pl.col("date").is_between(dt.date(2021, 1, 1), dt.date(2021, 3, 31)),
    )
    assert part.equals(want)
    off = load_silver(sample_dir, validate="off").collect()
    assert off.equals(loaded)
    with pytest.raises(DataValidationError, match="'AAPL'") as err:
        read_silver(sample_dir, tickers=["AAPL"])
    assert err.value.rule == "unknown_ticker"
