"""`validate_frame`: a frame in memory through the same rules as files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from m002._checks import check_mode
from m002._schema import MAX_GAP_DAYS, TICKER
from m002.data._args import as_tickers, check_min_rows, date_range
from m002.data._reader import (
    Filters,
    Read,
    column_problem,
    finish,
    finish_off,
    map_columns,
    raw_columns,
    ticker_column,
    time_zone,
    unknown_error,
    warn_dropped,
    warn_moved_dates,
)
from m002.data._validation import ADJ_CLOSE, ROW_ID, FileInfo, Mode, ValidationIssue
from m002.exceptions import ConfigError, DataValidationError

__all__ = ["validate_frame"]


def validate_frame(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    tickers: Sequence[str] | str | None = None,
    validate: Mode = "strict",
    min_rows: int | None = None,
    source: str = "frame",
) -> pl.DataFrame:
    """Validate daily OHLCV held in a frame and return it in the canonical schema.

    The frame goes through the reader that files go through (:func:`~m002.data.read_silver`):
    the same column spellings, date rule, rules, split adjustment and order. Its columns may
    be spelled as in a file (``Date``, ``Symbol``, ``Adj Close``, ...) or be canonical
    already; the ticker must be a column.

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        One row per (ticker, date), in any order.
    start, end : datetime.date or str, optional
        Inclusive date range to keep (ISO strings ``'YYYY-MM-DD'`` accepted); rows outside
        it are not validated.
    tickers : sequence of str, optional
        Tickers to keep; one that the frame does not hold is an error.
    validate : {"strict", "lenient", "off"}, default "strict"
        ``"strict"`` raises on the first offence against a rule of
        :data:`~m002.data.RULES`; ``"lenient"`` drops offending rows and warns with the
        counts per rule and ticker; ``"off"`` only renames, casts, adjusts and sorts.
    min_rows : int, optional
        Smallest number of rows a ticker must have; fewer is the rule ``too_few_rows``.
    source : str, default "frame"
        What messages call the frame: "frame row 12 (ticker AAPL, date 2020-03-02): high
        10.2 < low 10.5 [rule high_below_low]" (row 12 of the frame as given, from 1).

    Returns
    -------
    pl.DataFrame
        ``ticker``, ``date``, ``open``, ``high``, ``low``, ``close``, ``volume``, sorted by
        (ticker, date).

    Raises
    ------
    DataValidationError
        In strict mode on the first offence (``.rule``, ``.ticker``, ``.detail``; the
        message names the row and the date); in every mode with ``rule="missing_column"``
        when a column is missing, ``rule="unknown_ticker"`` for a ticker that is not there
        and ``rule="empty_source"`` when no row would come out.
    ConfigError
        If an argument is invalid.

    Warns
    -----
    UserWarning
        In lenient mode when rows were dropped: the summary of the report.
    TimestampWarning
        When timestamps stamped at midnight UTC were read by their UTC date.

    Examples
    --------
    >>> import polars as pl
    >>> raw = pl.DataFrame({"Symbol": ["B", "A"], "Date": ["2020-01-03", "2020-01-02"],
    ...     "Open": [1.0, 2.0], "High": [1.0, 2.0], "Low": [1.0, 2.0], "Close": [1.0, 2.0],
    ...     "Volume": [10, 20]})
    >>> validate_frame(raw)["ticker"].to_list()
    ['A', 'B']
    """
    if not isinstance(frame, pl.DataFrame | pl.LazyFrame):
        msg = f"`frame` must be a polars DataFrame or LazyFrame, got `frame={type(frame)!r}`"
        raise ConfigError(msg)
    if not isinstance(source, str) or not source:
        msg = f"`source` must be a non-empty string, got `source={source!r}`"
        raise ConfigError(msg)
    check_mode(validate)
    check_min_rows(min_rows)
    lo, hi = date_range(start, end)
    filters = Filters(lo, hi, as_tickers(tickers))

    lazy = frame.lazy()
    schema = lazy.collect_schema()
    columns = map_columns(schema)
    problem = column_problem(schema.names(), columns, named=False)
    if problem is not None:
        issue = ValidationIssue(problem[0], source, None, None, None, problem[1], in_file=False)
        raise DataValidationError(str(issue), rule=issue.rule, source=source, detail=issue.detail)

    provenance = validate != "off"
    raw = lazy.with_row_index(ROW_ID) if provenance else lazy
    raw = raw.select(
        raw_columns(
            columns,
            ticker=ticker_column(*columns[TICKER]),
            file_id=pl.lit(0, pl.UInt32),
            source=None,
            provenance=provenance,
        )
    )
    read = Read(source, validate, min_rows, MAX_GAP_DAYS, allow_empty=False, filters=filters)
    if not provenance:
        off = finish_off(
            filters.apply(raw, provenance=False, by_column=True),
            read,
            key=pl.col(TICKER),
            skipped=[],
            n_files=1,
        )
        return off.frame.collect()

    df = filters.apply(raw, provenance=True, by_column=True).collect()
    if filters.tickers is not None:
        found = set(df[TICKER].unique().drop_nulls().to_list())
        missing = [t for t in filters.tickers if t not in found]
        if missing:
            every = raw.select(pl.col(TICKER).unique()).collect()[TICKER].drop_nulls()
            in_frame = set(every.to_list())
            absent = [t for t in missing if t not in in_frame]
            if absent:
                raise unknown_error(source, absent, sorted(in_frame))
    info = FileInfo(source, None, ADJ_CLOSE in columns, False, time_zone(columns))
    data = finish(df, read, files=[info], row_base=lambda _: 0, skipped=[], n_files=1)
    warn_moved_dates(data.report)
    warn_dropped(data.report)
    return data.frame.collect()
