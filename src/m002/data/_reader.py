"""The one reader of the data layer, for files and frames alike.

A table (one file, files scanned together, or a frame) goes through the same steps whatever
it came from: its columns are recognised by name (:func:`map_columns`), turned into the raw
canonical columns with provenance (:func:`raw_columns`), filtered (:class:`Filters`), and the
collected rows are validated, checked for long gaps, split-adjusted and accounted for
(:func:`finish`), or, with ``validate="off"``, only sorted and adjusted (:func:`finish_off`).
The loader (:mod:`m002.data._loader`) finds and scans the files; :func:`m002.data.validate_frame`
hands over a frame.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from m002._schema import CANONICAL_SCHEMA, DATE, PRICE_COLUMNS, TICKER, VOLUME
from m002.data._timestamps import UTC_MOVED, TimestampWarning, timestamp_date
from m002.data._validation import (
    ADJ_CLOSE,
    DATE_RAW,
    FILE_ID,
    FILE_RULES,
    ISSUES_PER_RULE,
    NUMBER_RAW,
    ROW_ID,
    FileInfo,
    Mode,
    SkippedFile,
    ValidationIssue,
    ValidationReport,
    long_gaps,
    moved_dates,
    sort_drops,
    validate_rows,
)
from m002.exceptions import DataValidationError

__all__ = [
    "REQUIRED",
    "Filters",
    "Read",
    "SilverData",
    "adjusted",
    "column_problem",
    "empty_error",
    "empty_raw",
    "finish",
    "finish_off",
    "is_ticker_name",
    "map_columns",
    "raw_columns",
    "ticker_column",
    "time_zone",
    "unknown_error",
    "warn_dropped",
    "warn_moved_dates",
]

# Role -> accepted spellings after normalisation (lower case, no spaces/_/-/.), by priority.
_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    TICKER: ("ticker", "symbol", "name"),
    DATE: ("date", "timestamp", "datetime", "time"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    VOLUME: ("volume", "vol"),
    ADJ_CLOSE: ("adjclose", "adjustedclose"),
}
REQUIRED: Final = (DATE, *PRICE_COLUMNS, VOLUME)
"""Roles every table needs (the ticker too, where no file name gives it)."""
_NORMALISE = re.compile(r"[\s_\-.\ufeff]")

Columns = dict[str, tuple[str, pl.DataType]]


@dataclass(frozen=True)
class SilverData:
    """Canonical daily OHLCV and the account of how it was read.

    Attributes
    ----------
    frame : pl.LazyFrame
        Columns ``ticker`` (str), ``date`` (date), ``open``, ``high``, ``low``, ``close``,
        ``volume`` (f64), sorted by (ticker, date), one row per (ticker, date) unless read
        with ``validate="off"``.
    report : ValidationReport
        Rows in and out, why each dropped row went, and the warnings (rows kept).
    """

    frame: pl.LazyFrame
    report: ValidationReport


def normalise(name: str) -> str:
    """A column or partition name as it is compared: lower case, no spaces, ``_-.``."""
    return _NORMALISE.sub("", name.lower())


def is_ticker_name(name: str) -> bool:
    """Whether a column or partition name spells the ticker."""
    return normalise(name) in _ALIASES[TICKER]


def map_columns(schema: Mapping[str, pl.DataType]) -> Columns:
    """Role -> (column name, dtype) for every role the schema has a spelling of."""
    by_norm: dict[str, str] = {}
    for name in schema:
        by_norm.setdefault(normalise(name), name)
    columns: Columns = {}
    for role, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in by_norm:
                name = by_norm[alias]
                columns[role] = (name, schema[name])
                break
    return columns


def column_problem(
    names: Sequence[str], columns: Columns, *, named: bool
) -> tuple[str, str] | None:
    """Why a table with columns ``names`` (mapped to ``columns``) cannot be read, as
    ``(rule, detail)``, or None; ``named`` when something other than a column gives the
    ticker (a file name, a hive partition)."""
    listed = ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", ..."
    if sum(r in columns for r in REQUIRED) < 2:
        return "not_a_price_table", f"no date/price columns; it has: {listed}"
    if not named and TICKER not in columns:
        return "missing_column", f"no ticker column (ticker, symbol, name); it has: {listed}"
    missing = [r for r in REQUIRED if r not in columns]
    if missing:
        return "missing_column", f"no {', '.join(missing)} column; it has: {listed}"
    return None


@dataclass(frozen=True)
class Filters:
    """The tickers and the inclusive date range asked for."""

    start: dt.date | None = None
    end: dt.date | None = None
    tickers: tuple[str, ...] | None = None

    def apply(self, lf: pl.LazyFrame, *, provenance: bool, by_column: bool) -> pl.LazyFrame:
        """Filter raw canonical rows; ``by_column`` when the ticker comes from a column.

        With ``provenance`` (validation follows), rows without a date are kept for the
        validator to report.
        """
        if self.tickers is not None and by_column:
            lf = lf.filter(pl.col(TICKER).is_in(self.tickers))
        if self.start is None and self.end is None:
            return lf
        in_range = pl.lit(True)
        if self.start is not None:
            in_range = in_range & (pl.col(DATE) >= self.start)
        if self.end is not None:
            in_range = in_range & (pl.col(DATE) <= self.end)
        return lf.filter(in_range | pl.col(DATE).is_null() if provenance else in_range)


def _date_expr(
    name: str, dtype: pl.DataType, source: pl.Expr | None
) -> tuple[pl.Expr, pl.Expr | None, pl.Expr | None]:
    """The calendar date, the raw text where it does not parse, and whether the UTC date
    was taken (for a datetime with a time zone: see :mod:`m002.data._timestamps`)."""
    col = pl.col(name)
    if dtype == pl.Date:
        return col, None, None
    if isinstance(dtype, pl.Datetime):
        date, moved = timestamp_date(name, dtype, source=source)
        return date, None, moved
    text = col.cast(pl.String).str.strip_chars()
    head = text.str.slice(0, 10)
    parsed = pl.coalesce(
        head.str.to_date("%Y-%m-%d", strict=False),
        head.str.to_date("%Y/%m/%d", strict=False),
        text.str.to_date("%Y%m%d", strict=False),
    )
    bad = pl.when(text.is_not_null() & (text != "") & parsed.is_null()).then(text)
    return parsed, bad, None


def _number_expr(role: str, name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr | None]:
    """The value as Float64, and (for text) a description where it does not parse."""
    col = pl.col(name)
    if dtype.is_numeric() or dtype == pl.Null:
        return col.cast(pl.Float64), None
    text = col.cast(pl.String).str.strip_chars()
    parsed = text.cast(pl.Float64, strict=False)
    label = "adjusted close" if role == ADJ_CLOSE else role
    bad = pl.when(text.is_not_null() & (text != "") & parsed.is_null()).then(
        pl.format(f"{label} '{{}}'", text)
    )
    return parsed, bad


def time_zone(columns: Columns) -> str | None:
    """The time zone of the date column, where it is a datetime with one."""
    dtype = columns[DATE][1]
    return dtype.time_zone if isinstance(dtype, pl.Datetime) else None


def ticker_column(name: str, dtype: pl.DataType) -> pl.Expr:
    """The ticker from a column: text, surrounding blanks removed."""
    tick = pl.col(name).cast(pl.String)
    return (tick.str.strip_chars() if dtype == pl.String else tick).alias(TICKER)


def raw_columns(
    columns: Columns,
    *,
    ticker: pl.Expr,
    file_id: pl.Expr,
    source: pl.Expr | None,
    provenance: bool,
) -> list[pl.Expr]:
    """The raw canonical columns of a table: ticker, date, unadjusted prices, volume, the
    adjusted close, the file id, and with ``provenance`` the row index and the raw text of
    values that do not parse.

    Parameters
    ----------
    columns : dict
        Role -> (column name, dtype), from :func:`map_columns`.
    ticker, file_id : pl.Expr
        The ticker and the file id of every row.
    source : pl.Expr or None
        What tells the files apart when several are scanned together (None for one).
    provenance : bool
        Add :data:`ROW_ID` (from a row index column of that name the caller provides),
        :data:`DATE_RAW`, :data:`NUMBER_RAW` and :data:`UTC_MOVED` where they apply.
    """
    exprs = [ticker.alias(TICKER)]
    date, date_bad, moved = _date_expr(*columns[DATE], source)
    exprs.append(date.alias(DATE))
    bad_numbers: list[pl.Expr] = []
    for role in (*PRICE_COLUMNS, VOLUME, ADJ_CLOSE):
        # Without an adjusted close the factor is close / close = 1.
        value, bad = _number_expr(role, *columns.get(role, columns["close"]))
        exprs.append(value.alias(role))
        if bad is not None and role in columns:
            bad_numbers.append(bad)
    exprs.append(file_id.alias(FILE_ID))
    if provenance:
        exprs.append(pl.col(ROW_ID).cast(pl.UInt32))
        if date_bad is not None:
            exprs.append(date_bad.alias(DATE_RAW))
        if bad_numbers:
            exprs.append(pl.coalesce(bad_numbers).alias(NUMBER_RAW))
        if moved is not None:
            exprs.append(moved.alias(UTC_MOVED))
    return exprs


def adjusted() -> list[pl.Expr]:
    """The canonical columns, split-adjusted through the adjusted close."""
    factor = pl.col(ADJ_CLOSE) / pl.col("close")
    out = [pl.col(TICKER), pl.col(DATE)]
    out.extend((pl.col(c) * factor).alias(c) for c in PRICE_COLUMNS)
    out.append((pl.col(VOLUME) / factor).alias(VOLUME))
    return out


def empty_raw() -> pl.DataFrame:
    """Raw rows with provenance, none of them."""
    schema: dict[str, pl.DataType] = dict(CANONICAL_SCHEMA)
    schema |= {ADJ_CLOSE: pl.Float64(), FILE_ID: pl.UInt32(), ROW_ID: pl.UInt32()}
    return pl.DataFrame(schema=schema)


# --------------------------------------------------------------------------------------------
# Errors every source can meet
# --------------------------------------------------------------------------------------------


def empty_error(source: str, detail: str) -> DataValidationError:
    """No row would come out."""
    msg = f"no price rows in {source}: {detail} [rule empty_source]"
    return DataValidationError(msg, rule="empty_source", source=source, detail=detail)


def unknown_error(
    source: str, missing: Sequence[str], available: Sequence[str]
) -> DataValidationError:
    """Tickers asked for that the data does not hold, with the nearest spellings."""
    hints = []
    for t in missing:
        close = difflib.get_close_matches(t, available, n=1) or [
            a for a in available if a.lower() == t.lower()
        ]
        if close:
            hints.append(f"{t!r} -> {close[0]!r}?")
    shown = ", ".join(sorted(available)[:10]) + (", ..." if len(available) > 10 else "")
    msg = (
        f"tickers not found in {source}: {', '.join(map(repr, missing))}; "
        f"{len(available)} tickers available: {shown}"
        + (f" (did you mean {'; '.join(hints)})" if hints else "")
        + " [rule unknown_ticker]"
    )
    return DataValidationError(msg, rule="unknown_ticker", source=source, detail=", ".join(missing))


# --------------------------------------------------------------------------------------------
# From raw rows to the canonical frame and its report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """The settings of one read, as the public functions took them (already checked)."""

    source: str
    mode: Mode
    min_rows: int | None
    max_gap_days: int
    allow_empty: bool
    filters: Filters


def finish(
    df: pl.DataFrame,
    read: Read,
    *,
    files: Sequence[FileInfo],
    row_base: Callable[[int], int],
    skipped: list[SkippedFile],
    n_files: int,
) -> SilverData:
    """Validate collected raw rows, find the long gaps, adjust, and account for every row.

    Parameters
    ----------
    df : pl.DataFrame
        Raw rows from :func:`raw_columns` with provenance, of every table read.
    read : Read
        The settings (``mode`` is "strict" or "lenient").
    files : sequence of FileInfo
        Per file id.
    row_base : callable
        File id -> value of the row index at the file's first data row.
    skipped : list of SkippedFile
        Files left out as a whole (their rows count as read and dropped).
    n_files : int
        Files found, skipped ones included.

    Raises
    ------
    DataValidationError
        In strict mode on the first offence; with ``rule="empty_source"`` when no row comes
        out and ``read.allow_empty`` is False.
    """
    moved, moved_issues = moved_dates(df, files=files, moved=UTC_MOVED)
    rows_read = df.height
    clean, drops, issues = validate_rows(
        df.drop(UTC_MOVED, strict=False),
        files=files,
        row_base=row_base,
        mode=read.mode,
        min_rows=read.min_rows,
    )
    gaps, gap_issues = long_gaps(
        clean, files=files, row_base=row_base, max_gap_days=read.max_gap_days
    )
    out = clean.select(adjusted())
    skipped.sort(key=lambda s: (FILE_RULES.index(s.rule), s.file))
    for s in skipped:
        if s.rows:
            drops[(s.rule, s.ticker)] = drops.get((s.rule, s.ticker), 0) + s.rows
    file_issues: list[ValidationIssue] = []
    for rule in FILE_RULES:
        file_issues.extend([s.issue() for s in skipped if s.rule == rule][:ISSUES_PER_RULE])
    report = ValidationReport(
        source=read.source,
        mode=read.mode,
        rows_in=rows_read + sum(s.rows for s in skipped),
        rows_out=out.height,
        drops=sort_drops(drops),
        issues=(*file_issues, *issues),
        skipped_files=tuple(skipped),
        n_files=n_files,
        n_tickers=out[TICKER].n_unique() if out.height else 0,
        warned=sort_drops(moved | gaps),
        warnings=(*moved_issues, *gap_issues),
    )
    if out.height == 0 and not read.allow_empty:
        raise empty_error(read.source, _why_empty(report, read.filters))
    return SilverData(out.lazy(), report)


def _why_empty(report: ValidationReport, filters: Filters) -> str:
    lo, hi = filters.start, filters.end
    if report.rows_in == 0 and report.skipped_files and not report.rows_dropped:
        first = report.skipped_files[0].detail
        return f"none of the {report.n_files} files could be read ({first})"
    if report.rows_in == 0 and (lo is not None or hi is not None):
        return f"no rows between {lo or 'the start'} and {hi or 'the end'}"
    if report.rows_in == 0:
        return "the files hold no data rows"
    return f"all {report.rows_in:,} rows were dropped.\n{report.summary()}"


def finish_off(
    lf: pl.LazyFrame | None,
    read: Read,
    *,
    key: pl.Expr,
    skipped: Sequence[SkippedFile],
    n_files: int,
) -> SilverData:
    """``validate="off"``: sort and adjust in one lazy plan, collect nothing.

    ``lf`` holds the raw rows (None when no table could be opened), ``key`` sorts tickers.
    """
    if lf is None:
        if not read.allow_empty:
            detail = f"none of the {n_files} files could be read ({skipped[0].detail})"
            raise empty_error(read.source, detail)
        frame = pl.LazyFrame(schema=CANONICAL_SCHEMA)
    else:
        frame = lf.sort(key, pl.col(DATE)).select(adjusted())
    report = ValidationReport(
        source=read.source,
        mode="off",
        rows_in=None,
        rows_out=None,
        drops=(),
        issues=tuple(s.issue() for s in skipped[:ISSUES_PER_RULE]),
        skipped_files=tuple(skipped),
        n_files=n_files,
    )
    return SilverData(frame, report)


def _outside_m002() -> int:
    """The stack level of the first caller outside m002, for a warning that points there."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("m002."):
        frame = frame.f_back
        level += 1
    return level


def warn_dropped(report: ValidationReport) -> None:
    """A ``UserWarning`` with the report's summary when rows were dropped or files skipped."""
    if report.rows_dropped or report.skipped_files:
        warnings.warn(report.summary(), UserWarning, stacklevel=_outside_m002())


def warn_moved_dates(report: ValidationReport) -> None:
    """One :class:`TimestampWarning` when the report says dates were moved to UTC."""
    moved = [i for i in report.warnings if i.rule == "utc_midnight_timestamps"]
    if not moved:
        return
    total = report.warning_counts()["utc_midnight_timestamps"]
    shown = "; ".join(f"{i.location()}: {i.detail}" for i in moved[:3])
    more = f"; and {len(moved) - 3} more" if len(moved) > 3 else ""
    msg = (
        f"{total:,} rows of {report.source} have the UTC date of their timestamp, not the "
        f"date in the column's time zone: {shown}{more} [rule utc_midnight_timestamps]"
    )
    warnings.warn(msg, TimestampWarning, stacklevel=_outside_m002())
