"""Validation rules: strict errors that name the culprit, lenient drops that add up."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m002.data import (
    LENIENT_HINT,
    RULES,
    ValidationIssue,
    ValidationReport,
    check_silver,
    load_silver,
    read_silver,
)
from m002.exceptions import ConfigError, DataValidationError

N = 12  # rows per ticker
BAD = 4  # 0-based index of the row that gets broken: data row 5 of its file


def bars(n: int = N, *, seed: int = 0) -> pl.DataFrame:
    """Clean bars with an adjusted close, every value as text (as a CSV holds it)."""
    rng = np.random.default_rng(seed)
    days = pl.date_range(dt.date(2020, 1, 1), dt.date(2020, 12, 31), eager=True)
    days = days.filter(days.dt.weekday() <= 5)[:n]
    close = 100 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, n))
    df = pl.DataFrame(
        {
            "Date": days,
            "Open": open_,
            "High": np.maximum(open_, close) * 1.01,
            "Low": np.minimum(open_, close) * 0.99,
            "Close": close,
            "Adj Close": close * 0.5,
            "Volume": rng.integers(1_000, 100_000, n).astype(float),
        }
    )
    return df.cast(pl.String)


def num(df: pl.DataFrame, col: str, i: int) -> float:
    return float(df[col][i])


Mutation = Callable[[pl.DataFrame, int], dict[str, str]]


def _set(df: pl.DataFrame, i: int, values: dict[str, str]) -> pl.DataFrame:
    idx = pl.int_range(pl.len())
    return df.with_columns(
        [pl.when(idx == i).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items()]
    )


# rule -> (values written into the row, fragments the strict message must contain)
MUTATIONS: dict[str, Mutation] = {
    "unparseable_date": lambda df, i: {"Date": "2020-02-30"},
    "unparseable_number": lambda df, i: {"Close": "1O1.5"},
    "null_value": lambda df, i: {"Volume": ""},
    "non_finite_price": lambda df, i: {"High": "inf"},
    "non_positive_price": lambda df, i: {"Low": "0"},
    "negative_volume": lambda df, i: {"Volume": "-100"},
    "high_below_low": lambda df, i: {"High": str(num(df, "Low", i) * 0.9)},
    "open_outside_range": lambda df, i: {"Open": str(num(df, "High", i) * 1.05)},
    "close_outside_range": lambda df, i: {"Close": str(num(df, "Low", i) * 0.95)},
    "duplicate_row": lambda df, i: dict(zip(df.columns, df.row(i - 1), strict=True)),
}
FRAGMENTS = {
    "unparseable_date": ["'2020-02-30'"],
    "unparseable_number": ["close '1O1.5'"],
    "null_value": ["missing value in volume"],
    "non_finite_price": ["high inf"],
    "non_positive_price": ["low 0 <= 0"],
    "negative_volume": ["volume -100 < 0"],
    "high_below_low": ["< low"],
    "open_outside_range": ["outside [low"],
    "close_outside_range": ["outside [low"],
    "duplicate_row": ["second row for (AAPL, 2020-01-06)", "AAPL.csv row 4"],
}


def write_case(root: Path, rule: str) -> pl.DataFrame:
    """AAPL with row 5 broken under `rule`, MSFT clean; returns the AAPL text frame."""
    aapl = bars(seed=1)
    aapl = _set(aapl, BAD, MUTATIONS[rule](aapl, BAD))
    aapl.write_csv(root / "AAPL.csv")
    bars(seed=2).write_csv(root / "MSFT.csv")
    return aapl


def test_rules_are_described_in_order() -> None:
    required = [
        "missing_column",
        "not_a_price_table",
        "empty_source",
        "unparseable_date",
        "null_value",
        "duplicate_row",
        "non_positive_price",
        "non_finite_price",
        "high_below_low",
        "close_outside_range",
        "open_outside_range",
        "negative_volume",
        "too_few_rows",
        "unknown_ticker",
    ]
    assert set(required) <= set(RULES)
    assert all(isinstance(v, str) and v for v in RULES.values())
    order = list(RULES)
    assert order.index("unparseable_date") < order.index("null_value")
    assert order.index("null_value") < order.index("high_below_low")
    assert order.index("close_outside_range") < order.index("duplicate_row")
    assert order.index("duplicate_row") < order.index("too_few_rows")


@pytest.mark.parametrize("rule", list(MUTATIONS))
def test_strict_names_the_culprit(tmp_path: Path, rule: str) -> None:
    aapl = write_case(tmp_path, rule)
    with pytest.raises(DataValidationError) as err:
        read_silver(tmp_path)
    exc = err.value
    assert isinstance(exc, ValueError)
    assert exc.rule == rule
    assert exc.ticker == "AAPL"
    assert exc.source is not None
    assert exc.source.endswith("AAPL.csv")
    assert exc.detail
    msg = str(exc)
    assert f"AAPL.csv row {BAD + 1} " in msg
    assert f"[rule {rule}]" in msg
    if rule != "unparseable_date":
        assert f"date {aapl['Date'][BAD][:10]}" in msg
    for fragment in FRAGMENTS[rule]:
        assert fragment in msg


@pytest.mark.parametrize("rule", list(MUTATIONS))
def test_lenient_drops_and_counts(tmp_path: Path, rule: str) -> None:
    write_case(tmp_path, rule)
    data = read_silver(tmp_path, validate="lenient")
    report = data.report
    assert report.dropped == {(rule, "AAPL"): 1}
    assert (report.rows_in, report.rows_out, report.rows_dropped) == (2 * N, 2 * N - 1, 1)
    assert data.frame.collect().height == 2 * N - 1
    (issue,) = report.issues
    assert (issue.rule, issue.ticker, issue.row) == (rule, "AAPL", BAD + 1)
    assert not report.ok
    # check_silver gives the same account and never raises on data rules.
    assert check_silver(tmp_path).to_dict() == report.to_dict()


def test_adjusted_close_is_checked_too(tmp_path: Path) -> None:
    aapl = _set(bars(seed=1), 2, {"Adj Close": ""})
    aapl = _set(aapl, 6, {"Adj Close": "-3.5"})
    aapl.write_csv(tmp_path / "AAPL.csv")
    with pytest.raises(DataValidationError, match="missing value in adjusted close"):
        read_silver(tmp_path)
    report = check_silver(tmp_path)
    assert report.dropped == {("null_value", "AAPL"): 1, ("non_positive_price", "AAPL"): 1}
    assert "adjusted close -3.5 <= 0" in report.issues[1].detail


def test_row_breaking_several_rules_counts_once_under_the_first(tmp_path: Path) -> None:
    aapl = bars(seed=1)
    # high < low, close outside the range and a negative volume: negative_volume comes first.
    aapl = _set(aapl, 3, {"High": "1.0", "Volume": "-5"})
    # a null and a non-positive price: null_value comes first.
    aapl = _set(aapl, 7, {"Open": "", "Low": "-1"})
    aapl.write_csv(tmp_path / "AAPL.csv")
    report = check_silver(tmp_path)
    assert report.dropped == {("null_value", "AAPL"): 1, ("negative_volume", "AAPL"): 1}
    assert report.rows_out is not None
    assert report.rows_in == report.rows_out + report.rows_dropped == N


def test_zero_volume_is_allowed(tmp_path: Path) -> None:
    _set(bars(seed=1), 3, {"Volume": "0"}).write_csv(tmp_path / "AAPL.csv")
    df = load_silver(tmp_path).collect()
    assert df["volume"][3] == 0.0


def test_range_rules_tolerate_rounding(tmp_path: Path) -> None:
    aapl = bars(seed=1)
    high = num(aapl, "High", 3)
    aapl = _set(aapl, 3, {"Close": repr(high * (1 + 1e-12))})
    aapl = _set(aapl, 5, {"Close": repr(num(aapl, "High", 5) * (1 + 1e-6))})
    aapl.write_csv(tmp_path / "AAPL.csv")
    assert check_silver(tmp_path).dropped == {("close_outside_range", "AAPL"): 1}


def test_duplicates_keep_the_first_occurrence(tmp_path: Path) -> None:
    aapl = bars(seed=1)
    copy = aapl.slice(2, 1).with_columns(pl.lit("999").alias("Volume"))
    pl.concat([aapl, copy, copy]).write_csv(tmp_path / "AAPL.csv")
    data = read_silver(tmp_path, validate="lenient")
    assert data.report.dropped == {("duplicate_row", "AAPL"): 2}
    assert [i.row for i in data.report.issues] == [N + 1, N + 2]
    df = data.frame.collect()
    assert df.height == N
    # The first row's volume is kept (in adjusted shares: adjusted close is half the close).
    assert df["volume"][2] == 2 * float(aapl["Volume"][2])


def test_duplicates_across_files_keep_the_first_file(tmp_path: Path) -> None:
    bars(seed=1).write_csv(tmp_path / "AAPL.csv")
    pl.read_csv(tmp_path / "AAPL.csv", infer_schema=False).head(3).write_parquet(
        tmp_path / "AAPL.parquet"
    )
    report = check_silver(tmp_path)
    assert report.dropped == {("duplicate_row", "AAPL"): 3}
    assert all(i.source and i.source.endswith("AAPL.parquet") for i in report.issues)


def test_too_few_rows(tmp_path: Path) -> None:
    bars(n=14, seed=1).write_csv(tmp_path / "AAPL.csv")
    bars(n=12, seed=2).write_csv(tmp_path / "MSFT.csv")
    assert check_silver(tmp_path).ok  # min_rows=None: no check
    with pytest.raises(DataValidationError, match="MSFT has 12 rows < min_rows 13") as err:
        read_silver(tmp_path, min_rows=13)
    assert (err.value.rule, err.value.ticker) == ("too_few_rows", "MSFT")
    data = read_silver(tmp_path, min_rows=13, validate="lenient")
    assert data.report.dropped == {("too_few_rows", "MSFT"): 12}
    assert data.frame.collect()["ticker"].unique().to_list() == ["AAPL"]
    assert read_silver(tmp_path, min_rows=12).report.ok


def test_too_few_rows_counts_rows_after_other_drops(tmp_path: Path) -> None:
    _set(bars(n=13, seed=1), 0, {"Volume": "-1"}).write_csv(tmp_path / "AAPL.csv")
    report = check_silver(tmp_path, min_rows=13)
    assert report.dropped == {("negative_volume", "AAPL"): 1, ("too_few_rows", "AAPL"): 12}
    assert report.rows_out == 0
    with pytest.raises(DataValidationError, match="all 13 rows were dropped"):
        read_silver(tmp_path, min_rows=13, validate="lenient")


def test_issues_are_capped_per_rule(tmp_path: Path) -> None:
    aapl = bars(n=60, seed=1).with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 1)
        .then(pl.lit("-1"))
        .otherwise("Volume")
        .alias("Volume")
    )
    aapl.write_csv(tmp_path / "AAPL.csv")
    report = check_silver(tmp_path)
    assert report.dropped == {("negative_volume", "AAPL"): 30}
    assert len(report.issues) == 20
    assert [i.row for i in report.issues[:3]] == [2, 4, 6]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("start", [None, "2020-01-03"])
def test_row_numbers_in_a_multi_file_scan(tmp_path: Path, fmt: str, start: str | None) -> None:
    """Files scanned together share one row index; each issue still names its own file row."""
    for seed, ticker in enumerate(("AAPL", "BF.B", "MSFT", "XOM")):
        df = bars(n=10 + seed, seed=seed).with_columns(pl.col("Date").str.to_date())
        df = df.cast({c: pl.Float64 for c in df.columns if c != "Date"})
        if ticker == "MSFT":
            df = df.with_columns(
                pl.when(pl.int_range(pl.len()) == 6).then(-1.0).otherwise("Volume").alias("Volume")
            )
        if ticker == "XOM":
            df = pl.concat([df, df.slice(3, 1)])
        if fmt == "parquet":
            df.write_parquet(tmp_path / f"{ticker}.parquet")
        else:
            df.write_csv(tmp_path / f"{ticker}.csv")
    with pytest.raises(DataValidationError, match=rf"MSFT\.{fmt} row 7 ") as err:
        read_silver(tmp_path, start=start)
    assert err.value.ticker == "MSFT"
    report = check_silver(tmp_path, start=start)
    assert [(i.rule, i.ticker, i.row) for i in report.issues] == [
        ("negative_volume", "MSFT", 7),
        ("duplicate_row", "XOM", 14),
    ]
    assert f"XOM.{fmt} row 4" in report.issues[1].detail


# --- file rules ----------------------------------------------------------------------------


def test_missing_column(tmp_path: Path) -> None:
    bars(seed=1).write_csv(tmp_path / "AAPL.csv")
    bars(seed=2).drop("Volume").write_csv(tmp_path / "MSFT.csv")
    with pytest.raises(DataValidationError, match=r"MSFT\.csv.*no volume column") as err:
        read_silver(tmp_path)
    assert (err.value.rule, err.value.ticker) == ("missing_column", "MSFT")
    report = check_silver(tmp_path)
    assert report.dropped == {("missing_column", "MSFT"): N}
    assert report.rows_in == 2 * N
    assert report.rows_out == N
    (skipped,) = report.skipped_files
    assert (skipped.rule, skipped.rows) == ("missing_column", N)


def test_ticker_column_missing_in_hive_without_ticker_partition(tmp_path: Path) -> None:
    part = tmp_path / "year=2020"
    part.mkdir()
    bars(seed=1).write_csv(part / "data.csv")
    with pytest.raises(DataValidationError, match="no ticker column") as err:
        read_silver(tmp_path)
    assert err.value.rule == "missing_column"


@pytest.mark.parametrize(
    ("name", "content", "rows", "match"),
    [
        ("BF.B.csv", b'{"Error Message": "Invalid API call"}', 0, "JSON"),
        ("JUNK.csv", bytes(range(256)) * 4, 0, "binary"),
        ("PAGE.csv", b"<html><body>503</body></html>", 0, "HTML"),
        ("BAD.parquet", b"PAR1 but not really", 0, "not a readable parquet"),
        ("NOTES.csv", b"foo,bar\n1,2\n3,4\n5,6\n", 3, "no date/price columns"),
    ],
)
def test_not_a_price_table(
    tmp_path: Path, name: str, content: bytes, rows: int, match: str
) -> None:
    bars(seed=1).write_csv(tmp_path / "AAPL.csv")
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataValidationError, match=match) as err:
        read_silver(tmp_path)
    assert err.value.rule == "not_a_price_table"
    assert err.value.source is not None
    assert err.value.source.endswith(name)
    report = check_silver(tmp_path)
    (skipped,) = report.skipped_files
    assert (skipped.rule, skipped.rows) == ("not_a_price_table", rows)
    assert report.rows_out is not None
    assert report.rows_in == N + rows == report.rows_out + report.rows_dropped


def test_unreadable_rows_found_at_scan_time(tmp_path: Path) -> None:
    """A ragged CSV fails only when scanned; its group is re-read file by file."""
    bars(seed=1).write_csv(tmp_path / "AAPL.csv")
    text = bars(seed=2).write_csv()
    (tmp_path / "MSFT.csv").write_text(text + "2021-01-04,1,2,0.5,1,1,100,surplus,fields\n")
    with pytest.raises(DataValidationError, match=r"MSFT\.csv") as err:
        read_silver(tmp_path)
    assert err.value.rule == "not_a_price_table"
    data = read_silver(tmp_path, validate="lenient")
    assert data.frame.collect()["ticker"].unique().to_list() == ["AAPL"]
    assert data.report.skipped_files[0].file.endswith("MSFT.csv")


@pytest.mark.parametrize("content", ["", "Date,Open,High,Low,Close,Adj Close,Volume\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    bars(seed=1).write_csv(tmp_path / "AAPL.csv")
    (tmp_path / "MSFT.csv").write_text(content)
    with pytest.raises(DataValidationError, match=r"MSFT\.csv") as err:
        read_silver(tmp_path)
    assert err.value.rule == "empty_source"
    report = check_silver(tmp_path)
    assert [(s.rule, s.ticker, s.rows) for s in report.skipped_files] == [
        ("empty_source", "MSFT", 0)
    ]
    assert report.rows_in == report.rows_out == N


# --- the report ----------------------------------------------------------------------------


def test_report_api(tmp_path: Path) -> None:
    aapl = _set(bars(seed=1), 2, {"High": "1"})
    aapl = _set(aapl, 5, {"Volume": "-7"})
    aapl.write_csv(tmp_path / "AAPL.csv")
    _set(bars(seed=2), 3, {"Volume": "-1"}).write_csv(tmp_path / "MSFT.csv")
    (tmp_path / "BF.B.csv").write_text('{"Error Message": "Invalid API call"}')
    report = check_silver(tmp_path)
    assert isinstance(report, ValidationReport)
    assert report.mode == "lenient"
    assert report.rows_in == 2 * N
    assert report.rows_out == 2 * N - 3
    assert report.rows_dropped == 3
    assert report.dropped == {
        ("negative_volume", "AAPL"): 1,
        ("negative_volume", "MSFT"): 1,
        ("high_below_low", "AAPL"): 1,
    }
    assert report.counts().to_dicts() == [
        {"rule": "negative_volume", "ticker": "AAPL", "rows": 1},
        {"rule": "negative_volume", "ticker": "MSFT", "rows": 1},
        {"rule": "high_below_low", "ticker": "AAPL", "rows": 1},
    ]
    assert report.counts().schema == pl.Schema(
        {"rule": pl.String, "ticker": pl.String, "rows": pl.Int64}
    )
    assert report.rule_counts() == {"negative_volume": 2, "high_below_low": 1}
    assert report.issues[0].rule == "not_a_price_table"
    assert all(isinstance(i, ValidationIssue) for i in report.issues)
    text = report.summary()
    assert text.splitlines()[0].startswith(f"Silver data from {tmp_path}: read 24 rows")
    assert "negative_volume: 2 (AAPL 1, MSFT 1)" in text
    assert "BF.B.csv" in text
    assert "AAPL.csv row 3 (ticker AAPL, date 2020-01-03): high 1 < low" in text
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["rows_dropped"] == 3
    assert as_json["skipped_files"][0]["rule"] == "not_a_price_table"
    assert as_json["issues"][1]["date"] == "2020-01-08"
    assert not report.ok


def test_clean_report(tmp_path: Path) -> None:
    bars(seed=1).write_csv(tmp_path / "AAPL.csv")
    report = check_silver(tmp_path)
    assert report.ok
    assert report.counts().height == 0
    assert report.summary() == (
        f"Silver data from {tmp_path}: read 12 rows from 1 file, kept 12 rows of 1 ticker, "
        "dropped 0."
    )


def test_check_silver_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_silver(tmp_path / "missing")
    with pytest.raises(DataValidationError) as err:
        check_silver(tmp_path)
    assert err.value.rule == "empty_source"
    (tmp_path / "BF.B.csv").write_text('{"Error Message": "Invalid API call"}')
    report = check_silver(tmp_path)  # nothing readable: a report, not an error
    assert (report.rows_in, report.rows_out, report.ok) == (0, 0, False)


# --- accounting, as a property ---------------------------------------------------------------

TICKERS = ("AAA", "BBB")
ROWS = 16
ODD = [i for i in range(len(TICKERS) * ROWS) if i % 2 == 1]
PROPERTY_RULES = [*MUTATIONS, "null_ticker"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(injected=st.dictionaries(st.sampled_from(ODD), st.sampled_from(PROPERTY_RULES), max_size=12))
def test_every_injected_row_is_accounted_for(tmp_path: Path, injected: dict[int, str]) -> None:
    """Random bad rows in a good table: each is dropped under its own rule, none else is."""
    good = pl.concat(
        [bars(n=ROWS, seed=i).with_columns(symbol=pl.lit(t)) for i, t in enumerate(TICKERS)]
    )
    df = good
    want: Counter[tuple[str, str | None]] = Counter()
    for i, rule in sorted(injected.items()):
        # Odd rows only, so that a duplicate copies a clean row of the same ticker.
        if rule == "null_ticker":
            df = _set(df, i, {"symbol": ""})
            want[("null_value", None)] += 1
        else:
            df = _set(df, i, MUTATIONS[rule](good, i))
            want[(rule, TICKERS[i // ROWS])] += 1
    path = tmp_path / "prices.csv"
    df.write_csv(path)
    report = check_silver(path)
    assert report.dropped == dict(want)
    assert report.rows_in == len(TICKERS) * ROWS
    assert report.rows_out is not None
    assert report.rows_in == report.rows_out + report.rows_dropped
    bad_rows = {i + 1: r if r != "null_ticker" else "null_value" for i, r in injected.items()}
    assert {i.row: i.rule for i in report.issues} == bad_rows


# --- warnings: rows kept -----------------------------------------------------------------------


def with_gap(days: int) -> pl.DataFrame:
    """AAPL bars whose last 6 rows come ``days`` calendar days after the 6th."""
    df = bars(seed=1).with_columns(pl.col("Date").str.to_date())
    jump = days - (df["Date"][6] - df["Date"][5]).days
    shift = pl.when(pl.int_range(pl.len()) >= 6).then(pl.duration(days=jump))
    return df.with_columns(pl.col("Date") + shift.otherwise(pl.duration(days=0)))


def test_a_long_gap_is_a_warning_with_ticker_dates_and_length(tmp_path: Path) -> None:
    aapl = with_gap(45)
    aapl.write_csv(tmp_path / "AAPL.csv")
    bars(seed=2).write_csv(tmp_path / "MSFT.csv")
    report = check_silver(tmp_path)
    assert report.ok  # nothing dropped: `m002 data check` still exits 0
    assert report.rows_out == report.rows_in == 2 * N
    assert report.warned == (("long_gap", "AAPL", 1),)
    assert report.warning_counts() == {"long_gap": 1}
    (gap,) = report.warnings
    before, after = aapl["Date"][5], aapl["Date"][6]
    assert (gap.rule, gap.ticker, gap.date, gap.row) == ("long_gap", "AAPL", after, 7)
    assert gap.source is not None
    assert gap.source.endswith("AAPL.csv")
    assert f"no row for 45 calendar days, from {before} to {after}" in gap.detail
    text = report.summary()
    assert "Warnings, rows kept: long_gap 1." in text.splitlines()[0]
    assert "long_gap: 1 (AAPL 1)" in text
    assert f"AAPL.csv row 7 (ticker AAPL, date {after}): no row for 45" in text
    as_json = json.loads(json.dumps(report.to_dict(), default=str))
    assert as_json["warned"] == [{"rule": "long_gap", "ticker": "AAPL", "count": 1}]
    assert as_json["warnings"][0]["date"] == after.isoformat()
    assert as_json["ok"] is True
    # read_silver reports it too, keeps every row, and strict mode does not raise on it
    data = read_silver(tmp_path)
    assert data.report.warned == report.warned
    assert data.frame.collect().height == 2 * N


def test_gap_threshold(tmp_path: Path) -> None:
    with_gap(10).write_csv(tmp_path / "AAPL.csv")
    assert check_silver(tmp_path).warned == ()
    with_gap(11).write_csv(tmp_path / "AAPL.csv")
    assert check_silver(tmp_path).warned == (("long_gap", "AAPL", 1),)
    assert check_silver(tmp_path, max_gap_days=11).warned == ()
    with pytest.raises(ConfigError, match=r"`max_gap_days` must be >= 1, got `max_gap_days=0`"):
        check_silver(tmp_path, max_gap_days=0)


def test_gaps_between_tickers_are_no_gaps(tmp_path: Path) -> None:
    early = bars(seed=1)
    late = bars(seed=2).with_columns(pl.col("Date").str.to_date() + pl.duration(days=400))
    both = [
        early.with_columns(Symbol=pl.lit("A")),
        late.cast(pl.String).with_columns(Symbol=pl.lit("B")),
    ]
    pl.concat(both).write_csv(tmp_path / "prices.csv")
    assert check_silver(tmp_path / "prices.csv").warned == ()


def test_strict_errors_end_with_the_one_lenient_hint(tmp_path: Path) -> None:
    write_case(tmp_path, "high_below_low")
    with pytest.raises(DataValidationError) as rows:
        read_silver(tmp_path)
    assert str(rows.value).endswith(f". Fix the data, or {LENIENT_HINT}.")
    (tmp_path / "BF.B.csv").write_text('{"Error Message": "Invalid API call"}')
    with pytest.raises(DataValidationError) as files:
        read_silver(tmp_path)
    assert files.value.rule == "not_a_price_table"
    assert str(files.value).endswith(f". Fix the data, or {LENIENT_HINT}.")
    # what a caller with other words for the advice does
    cli = str(files.value).replace(LENIENT_HINT, "rerun with --validate lenient")
    assert cli.endswith("Fix the data, or rerun with --validate lenient.")
