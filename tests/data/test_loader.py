"""Reading Silver data: input layouts, column spellings, dates, split adjustment, filters."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from m002._schema import CANONICAL_COLUMNS, CANONICAL_SCHEMA
from m002.data import SilverData, TimestampWarning, load_silver, read_silver, write_synthetic
from m002.exceptions import ConfigError, DataValidationError

START = dt.date(2020, 1, 1)


def bars(
    n: int = 30, *, seed: int = 0, start: dt.date = START, base: float = 100.0
) -> pl.DataFrame:
    """Clean business-day bars: date, open, high, low, close, volume (int)."""
    rng = np.random.default_rng(seed)
    days = pl.date_range(start, start + dt.timedelta(days=2 * n + 10), eager=True)
    days = days.filter(days.dt.weekday() <= 5)[:n]
    close = base * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, n))
    return pl.DataFrame(
        {
            "date": days,
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(1_000, 100_000, n),
        }
    )


def expected(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """What the loader must return for unadjusted per-ticker bars."""
    out = pl.concat([df.with_columns(ticker=pl.lit(t)) for t, df in frames.items()], how="diagonal")
    return out.select(CANONICAL_COLUMNS).cast(pl.Schema(CANONICAL_SCHEMA)).sort("ticker", "date")


def write_folder(root: Path, frames: dict[str, pl.DataFrame], fmt: str = "parquet") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for ticker, df in frames.items():
        if fmt == "parquet":
            df.write_parquet(root / f"{ticker}.parquet")
        else:
            df.write_csv(root / f"{ticker}.csv")
    return root


FRAMES = {"AAPL": bars(seed=1), "BF.B": bars(seed=2, n=25), "MSFT": bars(seed=3, n=40)}


def check_canonical(df: pl.DataFrame) -> None:
    assert df.schema == pl.Schema(CANONICAL_SCHEMA)
    assert df.equals(df.sort("ticker", "date"))
    assert not df.select(pl.struct("ticker", "date").is_duplicated().any()).item()


# --- layouts -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_per_ticker_folder(tmp_path: Path, fmt: str) -> None:
    root = write_folder(tmp_path / "px", FRAMES, fmt)
    # Written beside the ticker files by other tools: never read.
    pl.DataFrame({"regime": ["bull"]}).write_parquet(root / "_regimes.parquet")
    (root / "_SUCCESS").write_text("")
    (root / ".DS_Store").write_bytes(b"\x00\x01garbage")
    FRAMES["AAPL"].write_parquet(root / ".AAPL.parquet")
    (root / "notes").mkdir()
    FRAMES["AAPL"].write_parquet(root / "notes" / "OLD.parquet")
    data = read_silver(root)
    assert isinstance(data, SilverData)
    assert isinstance(data.frame, pl.LazyFrame)
    df = data.frame.collect()
    check_canonical(df)
    assert_frame_equal(df, expected(FRAMES))
    assert data.report.ok
    assert (data.report.rows_in, data.report.rows_out, data.report.n_files) == (95, 95, 3)


def test_mixed_parquet_and_csv_folder(tmp_path: Path) -> None:
    FRAMES["AAPL"].write_parquet(tmp_path / "AAPL.parquet")
    FRAMES["MSFT"].write_csv(tmp_path / "MSFT.csv")
    df = load_silver(tmp_path).collect()
    check_canonical(df)
    assert_frame_equal(df, expected({k: FRAMES[k] for k in ("AAPL", "MSFT")}))


def _long(frames: dict[str, pl.DataFrame], ticker_col: str = "ticker") -> pl.DataFrame:
    """One multi-ticker table, rows shuffled (the loader sorts)."""
    long = pl.concat([df.with_columns(pl.lit(t).alias(ticker_col)) for t, df in frames.items()])
    return long.sample(fraction=1.0, shuffle=True, seed=7)


def test_one_multi_ticker_parquet(tmp_path: Path) -> None:
    _long(FRAMES).write_parquet(tmp_path / "all.parquet")
    df = load_silver(tmp_path / "all.parquet").collect()
    check_canonical(df)
    assert_frame_equal(df, expected(FRAMES))


def test_one_multi_ticker_csv_kaggle_layout(tmp_path: Path) -> None:
    # The Kaggle "all_stocks_5yr.csv" layout: ticker in a trailing "Name" column.
    _long(FRAMES, "Name").write_csv(tmp_path / "all_stocks_5yr.csv")
    df = load_silver(tmp_path / "all_stocks_5yr.csv").collect()
    assert_frame_equal(df, expected(FRAMES))


def test_folder_of_multi_ticker_files(tmp_path: Path) -> None:
    long = _long(FRAMES).sort("date")
    long.filter(pl.col("date") < dt.date(2020, 2, 1)).write_parquet(tmp_path / "2020-01.parquet")
    long.filter(pl.col("date") >= dt.date(2020, 2, 1)).write_parquet(tmp_path / "rest.parquet")
    assert_frame_equal(load_silver(tmp_path).collect(), expected(FRAMES))
    one = load_silver(tmp_path, tickers=["MSFT"]).collect()
    assert_frame_equal(one, expected({"MSFT": FRAMES["MSFT"]}))


def test_hive_folders(tmp_path: Path) -> None:
    for ticker, df in FRAMES.items():
        part = tmp_path / f"ticker={ticker}"
        part.mkdir()
        # Two files per ticker, split by month, as a partitioned writer would leave them.
        df.filter(pl.col("date").dt.month() == 1).write_parquet(part / "part-0.parquet")
        df.filter(pl.col("date").dt.month() != 1).write_parquet(part / "part-1.parquet")
        (part / "_SUCCESS").write_text("")
        (part / ".part-0.parquet.crc").write_bytes(b"\x00crc")
    (tmp_path / "_SUCCESS").write_text("")
    data = read_silver(tmp_path)
    assert data.report.n_files == 6
    df = data.frame.collect()
    check_canonical(df)
    assert_frame_equal(df, expected(FRAMES))
    aapl = load_silver(tmp_path, tickers=["AAPL"]).collect()
    assert_frame_equal(aapl, expected({"AAPL": FRAMES["AAPL"]}))


def test_single_per_ticker_file_takes_its_stem(tmp_path: Path) -> None:
    FRAMES["BF.B"].write_csv(tmp_path / "BF.B.csv")
    df = load_silver(tmp_path / "BF.B.csv").collect()
    assert df["ticker"].unique().to_list() == ["BF.B"]


def test_ticker_column_wins_over_file_name(tmp_path: Path) -> None:
    FRAMES["AAPL"].with_columns(symbol=pl.lit("AAPL")).write_csv(tmp_path / "AAPL_data.csv")
    df = load_silver(tmp_path).collect()
    assert df["ticker"].unique().to_list() == ["AAPL"]


def test_synthetic_folder_round_trip(tmp_path: Path) -> None:
    root = write_synthetic(tmp_path / "syn", n_tickers=3, n_days=60, seed=1)
    data = read_silver(root)
    df = data.frame.collect()
    check_canonical(df)
    assert df.height == 180
    assert df["ticker"].n_unique() == 3


# --- column spellings and types ------------------------------------------------------------

SPELLINGS = [
    ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"),
    ("timestamp", "OPEN", "HIGH", "LOW", "CLOSE", "ADJ_CLOSE", "VOLUME"),
    ("datetime", "open", "high", "low", "close", "adjusted_close", "vol"),
    ("time", "Open", "High", "Low", "Close", "adjclose", "Vol"),
    ("DATE", "open_", "High ", "low", "Close", "Adjusted-Close", "Volume"),
]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("names", SPELLINGS, ids=lambda n: n[0])
@pytest.mark.parametrize("ticker_col", ["ticker", "Name", "symbol", "Symbol", "TICKER"])
def test_column_spellings(
    tmp_path: Path, fmt: str, names: tuple[str, ...], ticker_col: str
) -> None:
    raw = FRAMES["AAPL"].with_columns(
        adj=pl.col("close"), t=pl.lit("AAPL"), dividend_amount=pl.lit(0.0)
    )
    raw = raw.select(
        [
            pl.col(c).alias(n)
            for c, n in zip(
                ["date", "open", "high", "low", "close", "adj", "volume"], names, strict=True
            )
        ]
        + [pl.col("t").alias(ticker_col), "dividend_amount"]
    )
    path = tmp_path / f"prices.{fmt}"
    raw.write_parquet(path) if fmt == "parquet" else raw.write_csv(path)
    df = load_silver(path).collect()
    assert_frame_equal(df, expected({"AAPL": FRAMES["AAPL"]}), check_exact=False, rel_tol=1e-12)


def test_timestamp_with_time_zone_takes_the_calendar_date(tmp_path: Path) -> None:
    df = FRAMES["AAPL"].head(5)
    # 20:00 in New York is 01:00 UTC the next day: the date in the column's own zone is kept.
    ts = df["date"].cast(pl.Datetime("us")).dt.offset_by("20h")
    ts = ts.dt.replace_time_zone("America/New_York")
    df.with_columns(timestamp=ts).drop("date").write_parquet(tmp_path / "AAPL.parquet")
    out = load_silver(tmp_path).collect()
    assert out["date"].to_list() == df["date"].to_list()


def test_naive_datetime_column(tmp_path: Path) -> None:
    df = FRAMES["AAPL"].head(5)
    df.with_columns(pl.col("date").cast(pl.Datetime("ns"))).write_parquet(tmp_path / "A.parquet")
    assert load_silver(tmp_path).collect()["date"].to_list() == df["date"].to_list()


def test_date_strings_in_several_formats(tmp_path: Path) -> None:
    text = (
        "date,open,high,low,close,volume\n"
        "2020-01-02,10,11,9,10,100\n"
        "2020/01/03,10,11,9,10,100\n"
        "2020-01-06T00:00:00-05:00,10,11,9,10,100\n"
        "2020-01-07 16:00:00,10,11,9,10,100\n"
        "20200108,10,11,9,10,100\n"
        " 2020-1-9 ,10,11,9,10,100\n"
    )
    (tmp_path / "X.csv").write_text(text)
    out = load_silver(tmp_path).collect()
    assert out["date"].to_list() == [dt.date(2020, 1, d) for d in (2, 3, 6, 7, 8, 9)]


def test_integer_volume_and_extra_columns(tmp_path: Path) -> None:
    df = FRAMES["AAPL"].with_columns(dividend_amount=0.0, split_coefficient=1.0, note=pl.lit("x"))
    df.write_parquet(tmp_path / "AAPL.parquet")
    out = load_silver(tmp_path).collect()
    assert out.columns == list(CANONICAL_COLUMNS)
    assert out["volume"].dtype == pl.Float64


# --- split adjustment ----------------------------------------------------------------------


def split_frame() -> pl.DataFrame:
    """AAPL-like 4:1 split on day 5: raw prices fall from ~400 to ~100, adjusted ones do not."""
    raw_close = [400.0, 404.0, 398.0, 402.0, 100.5, 101.0, 99.8]
    factor = [0.25] * 4 + [1.0] * 3
    adj = [c * f for c, f in zip(raw_close, factor, strict=True)]
    days = [dt.date(2020, 8, 24) + dt.timedelta(days=i) for i in range(7)]
    return pl.DataFrame(
        {
            "date": days,
            "open": [c * 0.995 for c in raw_close],
            "high": [c * 1.01 for c in raw_close],
            "low": [c * 0.99 for c in raw_close],
            "close": raw_close,
            "adjusted_close": adj,
            "volume": [1_000.0] * 4 + [4_000.0] * 3,
            "split_coefficient": [1.0] * 4 + [4.0] + [1.0] * 2,
        }
    )


def test_split_adjustment(tmp_path: Path) -> None:
    raw = split_frame()
    raw.write_parquet(tmp_path / "AAPL.parquet")
    out = load_silver(tmp_path).collect()
    ret = out.select((pl.col("close") / pl.col("close").shift(1)).log()).to_series().drop_nulls()
    raw_ret = (raw["close"] / raw["close"].shift(1)).log().drop_nulls()
    assert raw_ret.to_numpy().min() < -1.3  # the raw series shows a -75% day
    assert np.abs(ret.to_numpy()).max() < 0.02  # the adjusted one does not
    np.testing.assert_allclose(out["close"], raw["adjusted_close"], rtol=1e-12)
    np.testing.assert_allclose(out["open"], raw["adjusted_close"] * 0.995, rtol=1e-12)
    # Volume in post-split shares: 1,000 before the split is 4,000 now.
    np.testing.assert_allclose(out["volume"], [4_000.0] * 7, rtol=1e-12)
    assert (out["low"] <= out["close"]).all()
    assert (out["close"] <= out["high"]).all()


def test_split_adjustment_in_lazy_mode_matches(tmp_path: Path) -> None:
    split_frame().write_csv(tmp_path / "AAPL.csv")
    strict = load_silver(tmp_path).collect()
    off = load_silver(tmp_path, validate="off").collect()
    assert_frame_equal(strict, off)


def test_no_adjusted_close_keeps_raw_prices(tmp_path: Path) -> None:
    split_frame().drop("adjusted_close").write_parquet(tmp_path / "AAPL.parquet")
    out = load_silver(tmp_path).collect()
    assert out["close"].to_list() == split_frame()["close"].to_list()


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("validate", ["strict", "off"])
def test_date_filter_is_inclusive(tmp_path: Path, fmt: str, validate: str) -> None:
    root = write_folder(tmp_path, FRAMES, fmt)
    lo, hi = dt.date(2020, 1, 6), dt.date(2020, 1, 20)
    out = load_silver(root, start=lo, end="2020-01-20", validate=validate).collect()  # type: ignore[arg-type]
    assert out["date"].min() == lo
    assert out["date"].max() == hi
    want = expected(FRAMES).filter(pl.col("date").is_between(lo, hi))
    assert_frame_equal(out, want)
    only_start = load_silver(root, start="2020-02-01").collect()
    assert only_start["date"].min() == dt.date(2020, 2, 3)


def test_ticker_filter_does_not_open_other_files(tmp_path: Path) -> None:
    root = write_folder(tmp_path, FRAMES)
    (root / "CORRUPT.parquet").write_bytes(b"this is not parquet")
    (root / "ERR.csv").write_text('{"Error Message": "Invalid API call"}')
    with pytest.raises(DataValidationError) as err:
        read_silver(root)
    assert err.value.rule == "not_a_price_table"
    data = read_silver(root, tickers=["MSFT", "AAPL"])
    assert data.report.n_files == 2
    assert_frame_equal(data.frame.collect(), expected({k: FRAMES[k] for k in ("AAPL", "MSFT")}))
    one = load_silver(root, tickers="BF.B").collect()
    assert one["ticker"].unique().to_list() == ["BF.B"]


def test_a_file_is_inspected_again_only_once_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from m002.data import _loader

    opened: list[str] = []
    inspect_file = _loader._inspect_file

    def counting(cand: object) -> object:
        opened.append(Path(cand.path).name)  # type: ignore[attr-defined]
        return inspect_file(cand)  # type: ignore[arg-type]

    monkeypatch.setattr(_loader, "_inspect_file", counting)
    root = write_folder(tmp_path, FRAMES)
    first = load_silver(root).collect()
    later = load_silver(root, start="2020-01-10").collect()
    assert_frame_equal(later, first.filter(pl.col("date") >= dt.date(2020, 1, 10)))
    assert sorted(opened) == sorted(f"{t}.parquet" for t in FRAMES)  # once each
    # rewritten without its close: read again, and refused
    FRAMES["MSFT"].drop("close").write_parquet(root / "MSFT.parquet")
    with pytest.raises(DataValidationError, match="MSFT"):
        load_silver(root)
    assert opened.count("MSFT.parquet") == 2
    assert opened.count("AAPL.parquet") == 1


@pytest.mark.parametrize("validate", ["strict", "lenient", "off"])
def test_unknown_ticker(tmp_path: Path, validate: str) -> None:
    root = write_folder(tmp_path, FRAMES)
    with pytest.raises(DataValidationError, match="ZZZ") as err:
        read_silver(root, tickers=["AAPL", "ZZZ", "msft"], validate=validate)  # type: ignore[arg-type]
    assert err.value.rule == "unknown_ticker"
    msg = str(err.value)
    assert "'msft'" in msg
    assert "AAPL, BF.B, MSFT" in msg  # the available ones
    assert "'MSFT'" in msg  # did you mean


def test_unknown_ticker_in_multi_ticker_file(tmp_path: Path) -> None:
    _long(FRAMES).write_parquet(tmp_path / "all.parquet")
    with pytest.raises(DataValidationError, match="ZZZ") as err:
        read_silver(tmp_path / "all.parquet", tickers=["ZZZ"])
    assert err.value.rule == "unknown_ticker"
    assert "AAPL" in str(err.value)
    # A ticker present in the file but not in the date range is not unknown: just no rows.
    with pytest.raises(DataValidationError) as empty:
        read_silver(tmp_path / "all.parquet", tickers=["AAPL"], start="2030-01-01")
    assert empty.value.rule == "empty_source"


# --- modes ---------------------------------------------------------------------------------


def _with_bad_row(tmp_path: Path) -> Path:
    bad = FRAMES["AAPL"].with_columns(
        high=pl.when(pl.int_range(pl.len()) == 4).then(pl.col("low") * 0.9).otherwise("high")
    )
    bad.write_parquet(tmp_path / "AAPL.parquet")
    FRAMES["MSFT"].write_parquet(tmp_path / "MSFT.parquet")
    return tmp_path


def test_off_mode_is_lazy_and_checks_nothing(tmp_path: Path) -> None:
    root = _with_bad_row(tmp_path)
    data = read_silver(root, validate="off")
    assert data.report.mode == "off"
    assert data.report.rows_in is None
    assert "SCAN" in data.frame.explain()
    df = data.frame.collect()
    assert df.height == 70
    check_canonical(df)


def test_load_silver_warns_when_rows_are_dropped(tmp_path: Path) -> None:
    root = _with_bad_row(tmp_path)
    with pytest.warns(UserWarning, match=r"high_below_low 1") as rec:
        df = load_silver(root, validate="lenient").collect()
    assert "AAPL" in str(rec[0].message)
    assert df.height == 69


def test_load_silver_is_quiet_on_clean_data(tmp_path: Path) -> None:
    root = write_folder(tmp_path, FRAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_silver(root, validate="lenient").collect()


def test_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_silver(tmp_path / "nowhere")


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"no \.parquet or \.csv files") as err:
        read_silver(tmp_path)
    assert err.value.rule == "empty_source"
    (tmp_path / "_regimes.parquet").write_bytes(b"")
    (tmp_path / ".hidden.csv").write_text("date,close\n")
    with pytest.raises(DataValidationError, match="empty_source"):
        read_silver(tmp_path, validate="lenient")


def test_bf_b_json_error_body(tmp_path: Path) -> None:
    """A vendor's error saved as BF.B.csv: named, skipped in lenient mode, fatal in strict."""
    FRAMES["AAPL"].write_csv(tmp_path / "AAPL.csv")
    (tmp_path / "BF.B.csv").write_text('{\n    "Error Message": "Invalid API call."\n}')
    with pytest.raises(DataValidationError, match=r"BF\.B\.csv") as err:
        read_silver(tmp_path)
    assert err.value.rule == "not_a_price_table"
    assert err.value.ticker == "BF.B"
    assert "Invalid API call" in str(err.value)
    data = read_silver(tmp_path, validate="lenient")
    assert data.frame.collect()["ticker"].unique().to_list() == ["AAPL"]
    (skipped,) = data.report.skipped_files
    assert skipped.file.endswith("BF.B.csv")
    assert (skipped.rule, skipped.rows, skipped.ticker) == ("not_a_price_table", 0, "BF.B")
    assert not data.report.ok
    with pytest.warns(UserWarning, match=r"BF\.B\.csv"):
        load_silver(tmp_path, validate="lenient")
    # Only garbage left: nothing to load is an error even in lenient mode.
    (tmp_path / "AAPL.csv").unlink()
    with pytest.raises(DataValidationError, match="none of the 1 files") as none:
        read_silver(tmp_path, validate="lenient")
    assert none.value.rule == "empty_source"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"validate": "loose"}, "validate"),
        ({"min_rows": 0}, "min_rows"),
        ({"min_rows": 2.5}, "min_rows"),
        ({"start": "2020-02-01", "end": "2020-01-01"}, "start"),
        ({"start": "Jan 2020"}, "start"),
        ({"tickers": []}, "tickers"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    root = write_folder(tmp_path, FRAMES)
    with pytest.raises(ConfigError, match=match):
        read_silver(root, **kwargs)  # type: ignore[arg-type]


# --- time zones ------------------------------------------------------------------------------


def utc_midnight_in_new_york(df: pl.DataFrame) -> pl.Series:
    """A vendor's stamps: each trading date at 00:00 UTC, stored as New York time."""
    utc = df["date"].cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return utc.dt.convert_time_zone("America/New_York")


def test_utc_midnight_stamps_in_new_york_time_keep_their_trading_date(tmp_path: Path) -> None:
    df = FRAMES["AAPL"]
    stamps = utc_midnight_in_new_york(df)
    assert (stamps.dt.date() != df["date"]).all()  # in New York, each falls the day before
    df.with_columns(date=stamps).write_parquet(tmp_path / "AAPL.parquet")
    with pytest.warns(TimestampWarning, match=r"30 rows .*AAPL\.parquet .*30 of 30 timestamps"):
        data = read_silver(tmp_path)
    assert data.frame.collect()["date"].to_list() == df["date"].to_list()
    assert data.report.warned == (("utc_midnight_timestamps", "AAPL", 30),)
    (issue,) = data.report.warnings
    assert issue.ticker == "AAPL"
    assert "America/New_York" in issue.detail
    assert data.report.ok  # a warning: nothing dropped
    with pytest.warns(TimestampWarning):
        assert load_silver(tmp_path).collect()["date"].to_list() == df["date"].to_list()


def test_a_new_york_close_stamp_keeps_its_date_without_a_warning(tmp_path: Path) -> None:
    df = FRAMES["AAPL"]
    close = df["date"].cast(pl.Datetime("ns")).dt.offset_by("16h")
    close = close.dt.replace_time_zone("America/New_York")
    df.with_columns(date=close).write_parquet(tmp_path / "AAPL.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampWarning)
        data = read_silver(tmp_path)
    assert data.frame.collect()["date"].to_list() == df["date"].to_list()
    assert data.report.warned == ()


def test_naive_midnight_timestamps_keep_their_date_part(tmp_path: Path) -> None:
    df = FRAMES["AAPL"]
    df.with_columns(pl.col("date").cast(pl.Datetime("ms"))).write_parquet(tmp_path / "A.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampWarning)
        assert load_silver(tmp_path).collect()["date"].to_list() == df["date"].to_list()


def test_utc_stamps_found_by_their_weekends_when_not_all_are_midnight(tmp_path: Path) -> None:
    df = FRAMES["AAPL"]
    # a few bars stamped at noon UTC: not all midnight, but New York dates put every Monday
    # bar on a Sunday, and the UTC dates put none on a weekend
    noon = pl.int_range(pl.len()) % 7 == 3
    stamps = pl.col("date").cast(pl.Datetime("us")) + pl.when(noon).then(
        pl.duration(hours=12)
    ).otherwise(pl.duration(hours=0))
    frame = df.with_columns(date=stamps.dt.replace_time_zone("UTC"))
    frame = frame.with_columns(pl.col("date").dt.convert_time_zone("America/New_York"))
    frame.write_parquet(tmp_path / "AAPL.parquet")
    with pytest.warns(TimestampWarning):
        out = load_silver(tmp_path).collect()
    assert out["date"].to_list() == df["date"].to_list()


def test_the_timestamp_rule_is_decided_per_file(tmp_path: Path) -> None:
    # the same column type, so both files go through one scan
    utc = FRAMES["AAPL"].with_columns(date=utc_midnight_in_new_york(FRAMES["AAPL"]))
    close = pl.col("date").cast(pl.Datetime("us")).dt.offset_by("16h")
    local = FRAMES["MSFT"].with_columns(close.dt.replace_time_zone("America/New_York"))
    utc.write_parquet(tmp_path / "AAPL.parquet")
    local.write_parquet(tmp_path / "MSFT.parquet")
    with pytest.warns(TimestampWarning) as caught:
        data = read_silver(tmp_path, start=FRAMES["AAPL"]["date"][5])
    out = data.frame.collect()
    want = expected({"AAPL": FRAMES["AAPL"], "MSFT": FRAMES["MSFT"]})
    want = want.filter(pl.col("date") >= FRAMES["AAPL"]["date"][5])
    assert out["date"].to_list() == want["date"].to_list()
    assert data.report.warned == (("utc_midnight_timestamps", "AAPL", 25),)
    assert "MSFT" not in str(caught[0].message)


def test_the_timestamp_rule_holds_without_validation(tmp_path: Path) -> None:
    df = FRAMES["AAPL"]
    df.with_columns(date=utc_midnight_in_new_york(df)).write_parquet(tmp_path / "AAPL.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampWarning)  # nothing is counted with "off"
        out = load_silver(tmp_path, validate="off").collect()
    assert out["date"].to_list() == df["date"].to_list()
