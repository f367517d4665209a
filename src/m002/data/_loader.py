"""Read daily OHLCV from parquet/CSV files into the canonical Silver schema.

Three layouts are read: a folder of per-ticker files (``AAPL.parquet``, ``BF.B.csv``: the
ticker is the file name without its suffix), one multi-ticker parquet or CSV file with a
ticker column, and hive folders (``ticker=AAPL/part-0.parquet``). Names starting with ``_``
or ``.`` are ignored at every level (``_regimes.parquet``, ``_SUCCESS``, ``.DS_Store``), and
so are sub-folders of a plain folder that are not ``key=value`` partitions. A ticker column
inside a file wins over the file name; a hive ``ticker=`` partition wins over both.

Columns are recognised by name, case-insensitively and ignoring spaces, underscores, dashes
and dots (``Date``, ``timestamp``, ``Adj Close``, ``adjusted_close``, ``Name``, ``Symbol``,
``OPEN``, ``Vol``, ...); other columns are dropped. When an adjusted close is present, prices
are multiplied and the volume divided by ``adjusted_close / close``, so that a 4:1 split is
not a -75% day.

Files are scanned lazily: all files with the same layout of columns go through one
``scan_parquet`` / ``scan_csv`` call, the ticker and date filters are applied before anything
is collected, and with ``tickers=`` the files named after other tickers are never opened.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal
from urllib.parse import unquote

import polars as pl

from m002._schema import CANONICAL_SCHEMA, DATE, PRICE_COLUMNS, TICKER, VOLUME
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
    fail_on,
    sort_drops,
    ticker_key,
    validate_rows,
)
from m002.exceptions import ConfigError, DataValidationError

__all__ = ["SilverData", "load_silver", "read_silver"]

_PATH: Final = "__m002_path"
Fmt = Literal["parquet", "csv"]
_SUFFIXES: Final[dict[str, Fmt]] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_CSV_NULLS: Final = ["", "NA", "N/A", "#N/A", "null", "NULL", "None"]
_MODES: Final = ("strict", "lenient", "off")

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
_REQUIRED: Final = (DATE, *PRICE_COLUMNS, VOLUME)
_NORMALISE = re.compile(r"[\s_\-.\ufeff]")


@dataclass(frozen=True)
class _Filters:
    start: dt.date | None = None
    end: dt.date | None = None
    tickers: tuple[str, ...] | None = None


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
        Rows in and out, and why each dropped row went.
    """

    frame: pl.LazyFrame
    report: ValidationReport


def read_silver(
    path: str | os.PathLike[str],
    *,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    tickers: Sequence[str] | str | None = None,
    validate: Mode = "strict",
    min_rows: int | None = None,
) -> SilverData:
    """Read daily OHLCV into the canonical schema, validated, with a report.

    Parameters
    ----------
    path : str or os.PathLike
        A folder of per-ticker parquet/CSV files, one multi-ticker parquet/CSV file with a
        ticker column, or hive folders ``ticker=X/...parquet``.
    start, end : datetime.date or str, optional
        Inclusive date range (ISO strings accepted), pushed into the scan.
    tickers : sequence of str, optional
        Tickers to read; with per-ticker files only their files are opened.
    validate : {"strict", "lenient", "off"}, default "strict"
        ``"strict"`` raises on the first offence against a rule of
        :data:`~m002.data.RULES`; ``"lenient"`` drops offending rows and counts them in the
        report; ``"off"`` only renames, casts and adjusts, stays lazy and checks nothing.
    min_rows : int, optional
        Smallest number of rows a ticker must have (the longest feature window); fewer is
        the rule ``too_few_rows``.

    Returns
    -------
    SilverData
        ``frame`` (lazy, canonical schema) and ``report``.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    DataValidationError
        In strict mode on the first offence (``.rule``, ``.source``, ``.ticker`` and
        ``.detail`` say what and where); in every mode with ``rule="unknown_ticker"`` for a
        ticker that is not there and ``rule="empty_source"`` when no row would come out.
    ConfigError
        If an argument is invalid (``validate``, ``min_rows``, ``start`` after ``end``).

    Notes
    -----
    Rules run in the order of :data:`~m002.data.RULES`; a row breaking several is counted
    once, under the first. Duplicates keep their first occurrence in file order. The
    report's ``rows_in`` counts the rows read inside the requested tickers and dates (rows
    without a readable date are always read, to be reported), plus the rows of skipped
    files that could be read as tables; ``rows_in == rows_out + rows_dropped``.

    With ``validate="off"`` nothing is collected: duplicates stay, unparseable dates and
    numbers become null, a file that breaks at scan time raises when the frame is
    collected, and ``tickers`` are checked against file names only.

    Examples
    --------
    >>> import tempfile
    >>> from m002.data import read_silver, write_synthetic
    >>> folder = write_synthetic(tempfile.mkdtemp(), n_tickers=2, n_days=60, seed=0)
    >>> data = read_silver(folder, start="2010-02-01", tickers=["SYN0001"])
    >>> data.frame.collect().columns
    ['ticker', 'date', 'open', 'high', 'low', 'close', 'volume']
    >>> data.report.ok
    True
    """
    return _read(
        path,
        start=start,
        end=end,
        tickers=tickers,
        validate=validate,
        min_rows=min_rows,
        allow_empty=False,
    )


def load_silver(
    path: str | os.PathLike[str],
    *,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    tickers: Sequence[str] | str | None = None,
    validate: Mode = "strict",
    min_rows: int | None = None,
) -> pl.LazyFrame:
    """Read daily OHLCV into the canonical schema: :func:`read_silver` without the report.

    When rows were dropped or files skipped (lenient mode, or unreadable files with
    ``validate="off"``), a ``UserWarning`` carries the report's summary, so that nothing
    goes silently.

    Parameters
    ----------
    path : str or os.PathLike
        See :func:`read_silver`.
    start, end : datetime.date or str, optional
        See :func:`read_silver`.
    tickers : sequence of str, optional
        See :func:`read_silver`.
    validate : {"strict", "lenient", "off"}, default "strict"
        See :func:`read_silver`.
    min_rows : int, optional
        See :func:`read_silver`.

    Returns
    -------
    pl.LazyFrame
        ``ticker``, ``date``, ``open``, ``high``, ``low``, ``close``, ``volume``, sorted by
        (ticker, date).

    Raises
    ------
    FileNotFoundError, DataValidationError, ConfigError
        As :func:`read_silver`.
    """
    data = read_silver(
        path, start=start, end=end, tickers=tickers, validate=validate, min_rows=min_rows
    )
    if data.report.rows_dropped or data.report.skipped_files:
        warnings.warn(data.report.summary(), UserWarning, stacklevel=2)
    return data.frame


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _as_date(name: str, value: dt.date | str | None) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    msg = f"`{name}` must be a date or an ISO date string like '2020-01-02', got {name}={value!r}"
    raise ConfigError(msg)


def _as_tickers(tickers: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if tickers is None:
        return None
    items = (tickers,) if isinstance(tickers, str) else tuple(tickers)
    if not items or not all(isinstance(t, str) and t for t in items):
        msg = f"`tickers` must be a non-empty list of ticker strings, got tickers={tickers!r}"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(items))


def _check_args(validate: str, min_rows: int | None) -> None:
    if validate not in _MODES:
        msg = f"`validate` must be one of {', '.join(map(repr, _MODES))}, got validate={validate!r}"
        raise ConfigError(msg)
    if min_rows is not None and (
        isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1
    ):
        msg = f"`min_rows` must be a positive int or None, got min_rows={min_rows!r}"
        raise ConfigError(msg)


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """A file that may hold prices, before it is opened."""

    path: str
    fmt: Fmt
    name_ticker: str | None  # from the file name or a hive partition
    partition: bool  # name_ticker came from a hive partition (it then wins over a column)


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def _norm(name: str) -> str:
    return _NORMALISE.sub("", name.lower())


def _walk(folder: str, partition: str | None, *, top: bool) -> list[_Candidate]:
    """Price files under ``folder``. A file at the top level is named after its ticker; deeper
    down, in hive folders, the ticker is the ``ticker=`` partition value (or unknown)."""
    found: list[_Candidate] = []
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            key, sep, value = entry.name.partition("=")
            if sep:
                sub = unquote(value) if _norm(key) in _ALIASES[TICKER] else partition
                found.extend(_walk(entry.path, sub, top=False))
        elif entry.is_file():
            suffix = Path(entry.name).suffix
            fmt = _SUFFIXES.get(suffix.lower())
            if fmt is None:
                continue
            if top:
                found.append(_Candidate(entry.path, fmt, entry.name[: -len(suffix)], False))
            else:
                found.append(_Candidate(entry.path, fmt, partition, partition is not None))
    return found


def _discover(root: Path) -> list[_Candidate]:
    """All candidate files under `root`, sorted by ticker then path."""
    if root.is_file():
        # One file: CSV unless its suffix says parquet (the content is sniffed later).
        single: Fmt = _SUFFIXES.get(root.suffix.lower(), "csv")
        return [_Candidate(str(root), single, root.stem, partition=False)]
    found = _walk(str(root), None, top=True)
    found.sort(key=lambda c: (c.name_ticker or "", c.path))
    return found


# --------------------------------------------------------------------------------------------
# Opening the files: what columns they have, or why they are not price tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A readable file and how its columns map onto the canonical ones."""

    path: str
    fmt: Fmt
    columns: dict[str, tuple[str, pl.DataType]]  # role -> (column name, dtype)
    ticker: str | None  # ticker for every row when the file has no usable ticker column
    header: tuple[str, ...]  # all column names, in file order

    def key(self) -> tuple[object, ...]:
        """Files with the same key are scanned together."""
        cols = tuple(sorted((r, n, str(t)) for r, (n, t) in self.columns.items()))
        # A multi-file CSV scan takes the columns of the first file by position.
        header = self.header if self.fmt == "csv" else ()
        return (self.fmt, cols, header, self.ticker is None)


def _sniff(path: str) -> tuple[Fmt, str | None]:
    """The real format of a would-be CSV file, and why it is no text table (or None)."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if head.startswith(b"PAR1"):
        return "parquet", None
    if not head.strip():
        return "csv", "empty file"
    text = head.decode("utf-8", errors="replace")
    if "\x00" in text or text.count("\ufffd") > max(2, len(text) // 100):
        return "csv", "binary content, not a text table"
    first = text.lstrip("\ufeff \t\r\n")[:1]
    if first in ("{", "["):
        body = " ".join(text.split())
        body = body if len(body) <= 120 else body[:117] + "..."
        return "csv", f"JSON content, not a price table: {body}"
    if first == "<":
        return "csv", "HTML/XML content, not a price table"
    return "csv", None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _count_rows(path: str, fmt: Fmt) -> int:
    """Data rows of a file that will be skipped, 0 when it cannot be read as a table."""
    try:
        lf = (
            pl.scan_parquet(path, glob=False)
            if fmt == "parquet"
            else pl.scan_csv(path, glob=False, infer_schema=False, encoding="utf8-lossy")
        )
        return int(lf.select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError):
        return 0


def _inspect(cand: _Candidate) -> _Table | SkippedFile:
    """Open one file's header/metadata and map its columns, or say why it is skipped."""
    fmt = cand.fmt
    ticker = cand.name_ticker

    def skip(rule: str, detail: str, rows: int = 0) -> SkippedFile:
        return SkippedFile(cand.path, rule, detail, rows, ticker)

    try:
        if fmt == "csv":
            fmt, why = _sniff(cand.path)
            if why == "empty file":
                return skip("empty_source", why)
            if why is not None:
                return skip("not_a_price_table", why)
        if fmt == "parquet":
            schema = dict(pl.scan_parquet(cand.path, glob=False).collect_schema())
        else:
            schema = dict(
                pl.scan_csv(
                    cand.path, glob=False, infer_schema=False, encoding="utf8-lossy"
                ).collect_schema()
            )
    except (pl.exceptions.PolarsError, OSError) as exc:
        kind = "parquet" if fmt == "parquet" else "CSV"
        return skip("not_a_price_table", f"not a readable {kind} file: {_first_line(exc)}")

    by_norm: dict[str, str] = {}
    for name in schema:
        by_norm.setdefault(_norm(name), name)
    columns: dict[str, tuple[str, pl.DataType]] = {}
    for role, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in by_norm:
                name = by_norm[alias]
                columns[role] = (name, schema[name])
                break
    if cand.partition:
        columns.pop(TICKER, None)
    elif TICKER in columns:
        ticker = None
    have = [r for r in _REQUIRED if r in columns]
    listed = ", ".join(schema) if len(schema) <= 12 else ", ".join(list(schema)[:12]) + ", ..."
    if len(have) < 2:
        detail = f"no date/price columns; it has: {listed}"
        return skip("not_a_price_table", detail, _count_rows(cand.path, fmt))
    if ticker is None and TICKER not in columns:
        detail = f"no ticker column (ticker, symbol, name); it has: {listed}"
        return skip("missing_column", detail, _count_rows(cand.path, fmt))
    missing = [r for r in _REQUIRED if r not in columns]
    if missing:
        detail = f"no {', '.join(missing)} column; it has: {listed}"
        return skip("missing_column", detail, _count_rows(cand.path, fmt))
    return _Table(cand.path, fmt, columns, ticker, tuple(schema))


# --------------------------------------------------------------------------------------------
# Building the scans
# --------------------------------------------------------------------------------------------


def _date_expr(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr | None]:
    """The calendar date, and (for text) the raw value where it does not parse."""
    col = pl.col(name)
    if dtype == pl.Date:
        return col, None
    if isinstance(dtype, pl.Datetime):
        # Local calendar date in the column's own time zone.
        return col.dt.date(), None
    text = col.cast(pl.String).str.strip_chars()
    head = text.str.slice(0, 10)
    parsed = pl.coalesce(
        head.str.to_date("%Y-%m-%d", strict=False),
        head.str.to_date("%Y/%m/%d", strict=False),
        text.str.to_date("%Y%m%d", strict=False),
    )
    bad = pl.when(text.is_not_null() & (text != "") & parsed.is_null()).then(text)
    return parsed, bad


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


@dataclass
class _Group:
    """Files scanned together, and the file ids (index into the file list) they carry."""

    tables: list[_Table]
    ids: list[int]
    _counts: list[int] | None = field(default=None, repr=False)

    def scan(self, *, provenance: bool) -> pl.LazyFrame:
        paths = [t.path for t in self.tables]
        src = paths[0] if len(paths) == 1 else paths
        multi = len(paths) > 1
        row_index = ROW_ID if provenance else None
        file_paths = _PATH if multi else None
        if self.tables[0].fmt == "parquet":
            return pl.scan_parquet(
                src,
                glob=False,
                hive_partitioning=False,
                row_index_name=row_index,
                include_file_paths=file_paths,
                missing_columns="insert",
                extra_columns="ignore",
            )
        return pl.scan_csv(
            src,
            glob=False,
            infer_schema=False,
            null_values=_CSV_NULLS,
            encoding="utf8-lossy",
            row_index_name=row_index,
            include_file_paths=file_paths,
        )

    def frame(
        self,
        *,
        provenance: bool,
        filters: _Filters,
    ) -> pl.LazyFrame:
        """Canonical columns (raw prices plus the adjusted close), filtered, still lazy."""
        first = self.tables[0]
        cols = first.columns
        multi = len(self.tables) > 1
        index = pl.col(_PATH).cast(pl.Enum([t.path for t in self.tables])).to_physical()
        exprs: list[pl.Expr] = []
        if first.ticker is None:
            name, dtype = cols[TICKER]
            tick = pl.col(name).cast(pl.String)
            exprs.append((tick.str.strip_chars() if dtype == pl.String else tick).alias(TICKER))
        elif multi:
            names = pl.Series([t.ticker for t in self.tables], dtype=pl.String)
            exprs.append(pl.lit(names).gather(index).alias(TICKER))
        else:
            exprs.append(pl.lit(first.ticker, pl.String).alias(TICKER))
        date, date_bad = _date_expr(*cols[DATE])
        exprs.append(date.alias(DATE))
        bad_numbers: list[pl.Expr] = []
        for role in (*PRICE_COLUMNS, VOLUME, ADJ_CLOSE):
            # Without an adjusted close the factor is close / close = 1.
            value, bad = _number_expr(role, *cols.get(role, cols["close"]))
            exprs.append(value.alias(role))
            if bad is not None and role in cols:
                bad_numbers.append(bad)
        if multi:
            ids = pl.Series(self.ids, dtype=pl.UInt32)
            exprs.append(pl.lit(ids).gather(index).alias(FILE_ID))
        else:
            exprs.append(pl.lit(self.ids[0], pl.UInt32).alias(FILE_ID))
        if provenance:
            exprs.append(pl.col(ROW_ID).cast(pl.UInt32))
            if date_bad is not None:
                exprs.append(date_bad.alias(DATE_RAW))
            if bad_numbers:
                exprs.append(pl.coalesce(bad_numbers).alias(NUMBER_RAW))
        lf = self.scan(provenance=provenance).select(exprs)
        if filters.tickers is not None and first.ticker is None:
            lf = lf.filter(pl.col(TICKER).is_in(filters.tickers))
        if filters.start is not None or filters.end is not None:
            in_range = pl.lit(True)
            if filters.start is not None:
                in_range = in_range & (pl.col(DATE) >= filters.start)
            if filters.end is not None:
                in_range = in_range & (pl.col(DATE) <= filters.end)
            # Rows without a date are kept for the validator to report.
            lf = lf.filter(in_range | pl.col(DATE).is_null() if provenance else in_range)
        return lf

    def row_base(self, file_id: int) -> int:
        """Value of the scan's row index at the first row of `file_id`."""
        if len(self.tables) == 1:
            return 0
        if self._counts is None:
            counts = dict(self.scan(provenance=False).group_by(_PATH).len().collect().iter_rows())
            self._counts = [int(counts.get(t.path, 0)) for t in self.tables]
        pos = self.ids.index(file_id)
        return sum(self._counts[:pos])


def _groups(tables: Sequence[_Table]) -> list[_Group]:
    by_key: dict[tuple[object, ...], _Group] = {}
    for i, table in enumerate(tables):
        group = by_key.setdefault(table.key(), _Group([], []))
        group.tables.append(table)
        group.ids.append(i)
    return list(by_key.values())


def _adjusted() -> list[pl.Expr]:
    """The canonical columns, split-adjusted through the adjusted close."""
    factor = pl.col(ADJ_CLOSE) / pl.col("close")
    out = [pl.col(TICKER), pl.col(DATE)]
    out.extend((pl.col(c) * factor).alias(c) for c in PRICE_COLUMNS)
    out.append((pl.col(VOLUME) / factor).alias(VOLUME))
    return out


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------


def _empty_error(root: Path, detail: str) -> DataValidationError:
    msg = f"no price rows in {root}: {detail} [rule empty_source]"
    return DataValidationError(msg, rule="empty_source", source=str(root), detail=detail)


def _unknown_error(
    root: Path, missing: Sequence[str], available: Sequence[str]
) -> DataValidationError:
    hints = []
    for t in missing:
        close = difflib.get_close_matches(t, available, n=1) or [
            a for a in available if a.lower() == t.lower()
        ]
        if close:
            hints.append(f"{t!r} -> {close[0]!r}?")
    shown = ", ".join(sorted(available)[:10]) + (", ..." if len(available) > 10 else "")
    msg = (
        f"tickers not found in {root}: {', '.join(map(repr, missing))}; "
        f"{len(available)} tickers available: {shown}"
        + (f" (did you mean {'; '.join(hints)})" if hints else "")
        + " [rule unknown_ticker]"
    )
    return DataValidationError(
        msg, rule="unknown_ticker", source=str(root), detail=", ".join(missing)
    )


def _collect(
    group: _Group, filters: _Filters
) -> tuple[list[tuple[_Group, pl.DataFrame]], list[tuple[int, str]]]:
    """Collect a group; if that fails, collect its files one by one to find the bad ones."""
    try:
        return [(group, group.frame(provenance=True, filters=filters).collect())], []
    except (pl.exceptions.PolarsError, OSError) as exc:
        if len(group.tables) == 1:
            return [], [(group.ids[0], _first_line(exc))]
    done: list[tuple[_Group, pl.DataFrame]] = []
    failed: list[tuple[int, str]] = []
    for table, fid in zip(group.tables, group.ids, strict=True):
        ok, bad = _collect(_Group([table], [fid]), filters)
        done.extend(ok)
        failed.extend(bad)
    return done, failed


def _read(
    path: str | os.PathLike[str],
    *,
    start: dt.date | str | None,
    end: dt.date | str | None,
    tickers: Sequence[str] | str | None,
    validate: Mode,
    min_rows: int | None,
    allow_empty: bool,
) -> SilverData:
    _check_args(validate, min_rows)
    lo, hi = _as_date("start", start), _as_date("end", end)
    if lo is not None and hi is not None and lo > hi:
        msg = f"`start` must not be after `end`, got start={lo}, end={hi}"
        raise ConfigError(msg)
    wanted = _as_tickers(tickers)
    root = Path(path)
    if not root.exists():
        msg = f"Silver data path does not exist: {str(root)!r}"
        raise FileNotFoundError(msg)

    candidates = _discover(root)
    if not candidates:
        raise _empty_error(
            root,
            "no .parquet or .csv files (names starting with '_' or '.' are ignored)",
        )
    named = sorted({c.name_ticker for c in candidates if c.name_ticker is not None})
    if wanted is not None:
        hits = [c for c in candidates if c.name_ticker in wanted or c.name_ticker is None]
        # When no file is named after a wanted ticker, the files may be multi-ticker ones.
        if any(c.name_ticker in wanted for c in candidates):
            candidates = hits

    inspected = [_inspect(c) for c in candidates]
    tables = [t for t in inspected if isinstance(t, _Table)]
    skipped = [s for s in inspected if isinstance(s, SkippedFile)]
    by_name = all(t.ticker is not None for t in tables)
    if wanted is not None and (by_name or not tables):
        missing = [t for t in wanted if t not in named]
        if missing:
            raise _unknown_error(root, missing, named)
    if validate == "strict" and skipped:
        # Before anything is scanned: the file rules come first.
        first = min(skipped, key=lambda s: FILE_RULES.index(s.rule))
        raise fail_on(first.issue(), hint=" (validate='lenient' skips such files)")

    groups = _groups(tables)
    filters = _Filters(lo, hi, wanted)
    if validate == "off":
        return _read_off(root, groups, tables, skipped, len(candidates), filters, allow_empty)

    df, group_of = _collect_groups(groups, tables, filters, skipped)
    if lo is None and hi is None:
        # A file without rows can only be told from a filtered-out one without a date filter.
        skipped.extend(_empty_files(df, tables, group_of, wanted))
    if validate == "strict" and skipped:
        first = min(skipped, key=lambda s: FILE_RULES.index(s.rule))
        raise fail_on(first.issue(), hint=" (validate='lenient' skips such files)")
    if wanted is not None and not by_name:
        found = set(df[TICKER].unique().drop_nulls().to_list())
        found |= {t.ticker for t in tables if t.ticker is not None}
        found |= {s.ticker for s in skipped if s.ticker is not None}
        if any(t not in found for t in wanted):
            available = _all_tickers(groups, named)
            missing = [t for t in wanted if t not in found and t not in available]
            if missing:
                raise _unknown_error(root, missing, sorted(available))

    files = [FileInfo(t.path, t.ticker, ADJ_CLOSE in t.columns) for t in tables]
    clean, drops, issues = validate_rows(
        df,
        files=files,
        row_base=lambda fid: group_of[fid].row_base(fid),
        mode=validate,
        min_rows=min_rows,
    )
    out = clean.select(_adjusted())
    report = _report(root, validate, df.height, out, drops, issues, skipped, len(candidates))
    if out.height == 0 and not allow_empty:
        raise _empty_error(root, _why_empty(report, lo, hi))
    return SilverData(out.lazy(), report)


def _collect_groups(
    groups: Sequence[_Group],
    tables: Sequence[_Table],
    filters: _Filters,
    skipped: list[SkippedFile],
) -> tuple[pl.DataFrame, dict[int, _Group]]:
    """Collect every group; files that fail at scan time are appended to `skipped`."""
    parts: list[tuple[_Group, pl.DataFrame]] = []
    for group in groups:
        done, failed = _collect(group, filters)
        parts.extend(done)
        for fid, why in failed:
            table = tables[fid]
            rows = _count_rows(table.path, table.fmt)
            detail = f"not a readable {table.fmt} file: {why}"
            skipped.append(SkippedFile(table.path, "not_a_price_table", detail, rows, table.ticker))
    frames = [df for _, df in parts]
    if not frames:
        df = _empty_raw()
    else:
        df = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    return df, {fid: g for g, _ in parts for fid in g.ids}


def _empty_files(
    df: pl.DataFrame,
    tables: Sequence[_Table],
    group_of: dict[int, _Group],
    wanted: tuple[str, ...] | None,
) -> list[SkippedFile]:
    """Files read without error that gave no row (not counting filtered multi-ticker ones)."""
    present = set(df[FILE_ID].unique().to_list()) if df.height else set()
    return [
        SkippedFile(tables[fid].path, "empty_source", "no data rows", 0, tables[fid].ticker)
        for fid in sorted(group_of)
        if fid not in present and (tables[fid].ticker is not None or wanted is None)
    ]


def _report(
    root: Path,
    mode: Mode,
    rows_read: int,
    out: pl.DataFrame,
    drops: dict[tuple[str, str | None], int],
    issues: Sequence[ValidationIssue],
    skipped: list[SkippedFile],
    n_files: int,
) -> ValidationReport:
    """The account: rows of skipped tables count as read, and as dropped under their rule."""
    skipped.sort(key=lambda s: (FILE_RULES.index(s.rule), s.file))
    for s in skipped:
        if s.rows:
            drops[(s.rule, s.ticker)] = drops.get((s.rule, s.ticker), 0) + s.rows
    file_issues: list[ValidationIssue] = []
    for rule in FILE_RULES:
        file_issues.extend([s.issue() for s in skipped if s.rule == rule][:ISSUES_PER_RULE])
    return ValidationReport(
        source=str(root),
        mode=mode,
        rows_in=rows_read + sum(s.rows for s in skipped),
        rows_out=out.height,
        drops=sort_drops(drops),
        issues=(*file_issues, *issues),
        skipped_files=tuple(skipped),
        n_files=n_files,
        n_tickers=out[TICKER].n_unique() if out.height else 0,
    )


def _why_empty(report: ValidationReport, lo: dt.date | None, hi: dt.date | None) -> str:
    if report.rows_in == 0 and report.skipped_files and not report.rows_dropped:
        first = report.skipped_files[0].detail
        return f"none of the {report.n_files} files could be read ({first})"
    if report.rows_in == 0 and (lo is not None or hi is not None):
        return f"no rows between {lo or 'the start'} and {hi or 'the end'}"
    if report.rows_in == 0:
        return "the files hold no data rows"
    return f"all {report.rows_in:,} rows were dropped.\n{report.summary()}"


def _all_tickers(groups: Sequence[_Group], named: Sequence[str]) -> set[str]:
    """Every ticker in the data, for the unknown-ticker message (error path only)."""
    found = set(named)
    for group in groups:
        if group.tables[0].ticker is None:
            lf = group.frame(provenance=False, filters=_Filters())
            found |= set(lf.select(pl.col(TICKER).unique()).collect()[TICKER].drop_nulls())
    return found


def _empty_raw() -> pl.DataFrame:
    schema: dict[str, pl.DataType] = dict(CANONICAL_SCHEMA)
    schema |= {ADJ_CLOSE: pl.Float64(), FILE_ID: pl.UInt32(), ROW_ID: pl.UInt32()}
    return pl.DataFrame(schema=schema)


def _read_off(
    root: Path,
    groups: Sequence[_Group],
    tables: Sequence[_Table],
    skipped: Sequence[SkippedFile],
    n_files: int,
    filters: _Filters,
    allow_empty: bool,
) -> SilverData:
    """validate="off": one lazy plan, nothing collected."""
    if not groups:
        if allow_empty:
            frame = pl.LazyFrame(schema=CANONICAL_SCHEMA)
        else:
            detail = f"none of the {n_files} files could be read ({skipped[0].detail})"
            raise _empty_error(root, detail)
    else:
        lfs = [g.frame(provenance=False, filters=filters) for g in groups]
        lf = pl.concat(lfs, how="vertical_relaxed") if len(lfs) > 1 else lfs[0]
        key = ticker_key([t.ticker for t in tables])
        frame = lf.sort(key, pl.col(DATE)).select(_adjusted())
    report = ValidationReport(
        source=str(root),
        mode="off",
        rows_in=None,
        rows_out=None,
        drops=(),
        issues=tuple(s.issue() for s in skipped[:ISSUES_PER_RULE]),
        skipped_files=tuple(skipped),
        n_files=n_files,
    )
    return SilverData(frame, report)
