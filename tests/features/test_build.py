"""`build_dataset`: a frame goes through the same validation as a path, then the features."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from m002.exceptions import ConfigError, DataValidationError
from m002.features import build_dataset, feature_names, longest_warmup


def vendor(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """The same rows as a vendor spells them: other names, text dates, shuffled."""
    renamed = ohlcv.rename({"ticker": "Symbol", "date": "Date", "volume": "Vol"})
    return renamed.with_columns(pl.col("Date").cast(pl.String)).sample(
        fraction=1.0, shuffle=True, seed=2
    )


def test_a_frame_and_a_file_of_the_same_rows_give_the_same_dataset(
    ohlcv: pl.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "prices.parquet"
    ohlcv.write_parquet(path)
    from_path = build_dataset(path, "v2").collect()
    assert build_dataset(ohlcv, "v2").collect().equals(from_path)
    assert build_dataset(vendor(ohlcv).lazy(), "v2").collect().equals(from_path)


def test_a_bad_row_in_a_frame_is_found_as_in_a_file(ohlcv: pl.DataFrame) -> None:
    bad_row = 17
    broken = ohlcv.with_columns(
        pl.when(pl.int_range(pl.len()) == bad_row).then(-1.0).otherwise(pl.col("low")).alias("low")
    )
    with pytest.raises(DataValidationError) as err:
        build_dataset(broken, "v1")
    assert err.value.rule == "non_positive_price"
    assert str(err.value).startswith(f"frame row {bad_row + 1} (ticker {ohlcv['ticker'][0]}")
    with pytest.warns(UserWarning, match="non_positive_price 1"):
        lenient = build_dataset(broken, "v1", validate="lenient").collect()
    assert lenient.height == ohlcv.height - 1
    # "off" checks nothing: the row goes on, and its log features are NaN
    assert build_dataset(broken, "v1", validate="off").collect().height == ohlcv.height


def test_a_frame_too_short_for_the_set_is_reported(ohlcv: pl.DataFrame) -> None:
    short = ohlcv.filter(pl.col("ticker") == "T00").head(longest_warmup("m002"))
    with pytest.raises(DataValidationError, match="min_rows") as err:
        build_dataset(short, "m002")
    assert err.value.rule == "too_few_rows"


def test_tickers_and_start_on_a_frame(ohlcv: pl.DataFrame) -> None:
    t00 = ohlcv.filter(pl.col("ticker") == "T00")
    start = t00["date"][150]
    frame = build_dataset(ohlcv, "m002", start=start, tickers=["T00"]).collect()
    assert frame["ticker"].unique().to_list() == ["T00"]
    assert frame["date"].min() == start
    assert frame.head(1).select(feature_names("m002")).null_count().sum_horizontal().item() == 0
    with pytest.raises(DataValidationError, match="tickers not found in frame: 'T0'") as err:
        build_dataset(ohlcv, "v1", tickers=["T0"])
    assert err.value.rule == "unknown_ticker"


def test_dates_go_through_the_one_parser(ohlcv: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"`start` must be a date YYYY-MM-DD, got `start='May'`"):
        build_dataset(ohlcv, "v1", start="May")
    last = ohlcv["date"].max()
    assert isinstance(last, date)
    frame = build_dataset(ohlcv, "v1", end=(last - timedelta(days=30)).isoformat()).collect()
    assert frame["date"].max() <= last - timedelta(days=30)
