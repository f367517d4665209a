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

Dates: a timestamp with a time zone gives its calendar date in that zone (a 16:00 New York
close keeps its date), a naive one its date part; a file of daily bars stamped at midnight UTC
and stored in another zone gives its UTC dates instead, with a `TimestampWarning` (the rule is
in :mod:`m002.data._timestamps` and :func:`read_silver`).

Files are scanned lazily: all files with the same layout of columns go through one
``scan_parquet`` / ``scan_csv`` call, the ticker and date filters are applied before anything
is collected, and with ``tickers=`` the files named after other tickers are never opened.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal
from urllib.parse import unquote

import polars as pl

from m002._checks import check_int, check_mode
from m002._schema import MAX_GAP_DAYS, TICKER
from m002.data._args import as_tickers, check_min_rows, date_range
from m002.data._reader import (
    Columns,
    Filters,
    Read,
    SilverData,
    column_problem,
    empty_error,
    empty_raw,
    finish,
    finish_off,
    is_ticker_name,
    map_columns,
    raw_columns,
    ticker_column,
    time_zone,
    unknown_error,
    warn_dropped,
    warn_moved_dates,
)
from m002.data._validation import (
    ADJ_CLOSE,
    FILE_ID,
    FILE_RULES,
    ROW_ID,
    FileInfo,
    Mode,
    SkippedFile,
    ValidationReport,
    fail_on,
    ticker_key,
)

__all__ = ["check_silver", "load_silver", "read_silver"]

_PATH: Final = "__m002_path"
Fmt = Literal["parquet", "csv"]
_SUFFIXES: Final[dict[str, Fmt]] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_CSV_NULLS: Final = ["", "NA", "N/A", "#N/A", "null", "NULL", "None"]


def read_silver(
    path: str | os.PathLike[str],
    *,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    tickers: Sequence[str] | str | None = None,
    validate: Mode = "strict",
    min_rows: int | None = None,
    max_gap_days: int = MAX_GAP_DAYS,
) -> SilverData:
    """Read daily OHLCV into the canonical schema, validated, with a report.

    Parameters
    ----------
    path : str or os.PathLike
        A folder of per-ticker parquet/CSV files, one multi-ticker parquet/CSV file with a
        ticker column, or hive folders ``ticker=X/...parquet``.
    start, end : datetime.date or str, optional
        Inclusive date range (ISO strings ``'YYYY-MM-DD'`` accepted), pushed into the scan.
    tickers : sequence of str, optional
        Tickers to read; with per-ticker files only their files are opened.
    validate : {"strict", "lenient", "off"}, default "strict"
        ``"strict"`` raises on the first offence against a rule of
        :data:`~m002.data.RULES`; ``"lenient"`` drops offending rows and counts them in the
        report; ``"off"`` only renames, casts and adjusts, stays lazy and checks nothing.
    min_rows : int, optional
        Smallest number of rows a ticker must have (the longest feature window); fewer is
        the rule ``too_few_rows``.
    max_gap_days : int, default :data:`m002._schema.MAX_GAP_DAYS` (10)
        Gaps of more calendar days between two rows of a ticker are listed in the report
        under ``long_gap`` (a warning: no row is dropped).

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
        If an argument is invalid (``validate``, ``min_rows``, ``max_gap_days``, ``start``
        after ``end``).

    Warns
    -----
    TimestampWarning
        When timestamps stamped at midnight UTC were read by their UTC date (see Notes).

    Notes
    -----
    Rules run in the order of :data:`~m002.data.RULES`; a row breaking several is counted
    once, under the first. Duplicates keep their first occurrence in file order. The
    report's ``rows_in`` counts the rows read inside the requested tickers and dates (rows
    without a readable date are always read, to be reported), plus the rows of skipped
    files that could be read as tables; ``rows_in == rows_out + rows_dropped``.

    Dates: a date column is taken as it is, a text column as ``YYYY-MM-DD``,
    ``YYYY/MM/DD``, ``YYYYMMDD`` or the date part of an ISO datetime (as written, whatever
    its offset), a naive datetime by its date part, and a datetime with a time zone by its
    calendar date in that zone (a 16:00 close stamped in ``America/New_York`` keeps its
    date). One exception: a file whose timestamps are daily bars stamped at midnight UTC
    and stored in another zone (every timestamp is 00:00:00 in UTC, or the zone's dates
    put at least a tenth of the rows on a weekend and at least twice as many as the UTC
    dates do) gives the UTC date of each timestamp, with a `TimestampWarning` naming the
    file and how many rows moved, and the rule ``utc_midnight_timestamps`` in the report.

    With ``validate="off"`` nothing is collected: duplicates stay, unparseable dates and
    numbers become null, a file that breaks at scan time raises when the frame is
    collected, ``tickers`` are checked against file names only, and the timestamp rule is
    applied without a warning.

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
    data = _read(
        path,
        start=start,
        end=end,
        tickers=tickers,
        validate=validate,
        min_rows=min_rows,
        max_gap_days=max_gap_days,
        allow_empty=False,
    )
    warn_moved_dates(data.report)
    return data


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
    goes silently; a `TimestampWarning` says when dates were read in UTC.

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
    warn_dropped(data.report)
    return data.frame


def check_silver(
    path: str | os.PathLike[str],
    *,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    tickers: Sequence[str] | str | None = None,
    min_rows: int | None = None,
    max_gap_days: int = MAX_GAP_DAYS,
) -> ValidationReport:
    """Run every rule over a Silver source and return the report, dropping nothing silently.

    Parameters
    ----------
    path : str or os.PathLike
        Folder of per-ticker files, one multi-ticker file, or hive folders ``ticker=X/``.
    start, end : datetime.date or str, optional
        Inclusive date range to check (ISO strings accepted).
    tickers : sequence of str, optional
        Tickers to check; all when None.
    min_rows : int, optional
        Tickers with fewer clean rows are reported under ``too_few_rows``.
    max_gap_days : int, default :data:`m002._schema.MAX_GAP_DAYS` (10)
        Longer gaps (calendar days between two rows of a ticker) are reported under
        ``long_gap``.

    Returns
    -------
    ValidationReport
        The rows in and out and the drops per rule and ticker; ``report.ok`` is True for
        data where nothing would be dropped. Warnings (``long_gap`` with the ticker, the
        dates and the length of each gap; ``utc_midnight_timestamps``) are in
        ``report.warnings`` and leave ``report.ok`` True; no Python warning is raised.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    DataValidationError
        With ``rule="empty_source"`` if `path` holds no parquet or CSV file, and with
        ``rule="unknown_ticker"`` if a ticker asked for is not there. Data rules never raise.
    ConfigError
        If an argument is invalid.
    """
    return _read(
        path,
        start=start,
        end=end,
        tickers=tickers,
        validate="lenient",
        min_rows=min_rows,
        max_gap_days=max_gap_days,
        allow_empty=True,
    ).report


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
                sub = unquote(value) if is_ticker_name(key) else partition
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
    columns: Columns  # role -> (column name, dtype)
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
    """`_inspect_file`, kept per file for as long as its inode, size and modification time
    (in ns) stay the same: `predict(asof="latest")` reads every file twice (the latest date,
    then its history), and a process that predicts every day reads the same files again."""
    try:
        stat = os.stat(cand.path)
    except OSError:
        return _inspect_file(cand)  # says why the file cannot be read
    return _inspect_unchanged(cand, (stat.st_ino, stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=65_536)
def _inspect_unchanged(cand: _Candidate, stamp: tuple[int, int, int]) -> _Table | SkippedFile:
    """`_inspect_file` of ``cand`` as it is at ``stamp`` (inode, size, mtime in ns)."""
    return _inspect_file(cand)


def _inspect_file(cand: _Candidate) -> _Table | SkippedFile:
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

    columns = map_columns(schema)
    if cand.partition:
        columns.pop(TICKER, None)
    elif TICKER in columns:
        ticker = None
    problem = column_problem(list(schema), columns, named=ticker is not None)
    if problem is not None:
        return skip(*problem, _count_rows(cand.path, fmt))
    return _Table(cand.path, fmt, columns, ticker, tuple(schema))


# --------------------------------------------------------------------------------------------
# Building the scans
# --------------------------------------------------------------------------------------------


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

    def frame(self, *, provenance: bool, filters: Filters) -> pl.LazyFrame:
        """Raw canonical columns (see `raw_columns`), filtered, still lazy."""
        first = self.tables[0]
        multi = len(self.tables) > 1
        index = pl.col(_PATH).cast(pl.Enum([t.path for t in self.tables])).to_physical()
        if first.ticker is None:
            ticker = ticker_column(*first.columns[TICKER])
        elif multi:
            ticker = pl.lit(pl.Series([t.ticker for t in self.tables], dtype=pl.String)).gather(
                index
            )
        else:
            ticker = pl.lit(first.ticker, pl.String)
        if multi:
            file_id = pl.lit(pl.Series(self.ids, dtype=pl.UInt32)).gather(index)
        else:
            file_id = pl.lit(self.ids[0], pl.UInt32)
        exprs = raw_columns(
            first.columns,
            ticker=ticker,
            file_id=file_id,
            source=pl.col(_PATH) if multi else None,
            provenance=provenance,
        )
        lf = self.scan(provenance=provenance).select(exprs)
        return filters.apply(lf, provenance=provenance, by_column=first.ticker is None)

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


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------


def _collect(
    group: _Group, filters: Filters
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
    max_gap_days: int,
    allow_empty: bool,
) -> SilverData:
    check_mode(validate)
    check_min_rows(min_rows)
    check_int("max_gap_days", max_gap_days, 1)
    lo, hi = date_range(start, end)
    wanted = as_tickers(tickers)
    root = Path(path)
    if not root.exists():
        msg = f"Silver data path does not exist: {str(root)!r}"
        raise FileNotFoundError(msg)
    source = str(root)

    candidates = _discover(root)
    if not candidates:
        raise empty_error(
            source, "no .parquet or .csv files (names starting with '_' or '.' are ignored)"
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
            raise unknown_error(source, missing, named)
    if validate == "strict" and skipped:
        # Before anything is scanned: the file rules come first.
        raise fail_on(min(skipped, key=lambda s: FILE_RULES.index(s.rule)).issue())

    groups = _groups(tables)
    filters = Filters(lo, hi, wanted)
    read = Read(source, validate, min_rows, max_gap_days, allow_empty, filters)
    if validate == "off":
        lf = None
        if groups:
            lfs = [g.frame(provenance=False, filters=filters) for g in groups]
            lf = pl.concat(lfs, how="vertical_relaxed") if len(lfs) > 1 else lfs[0]
        key = ticker_key([t.ticker for t in tables])
        return finish_off(lf, read, key=key, skipped=skipped, n_files=len(candidates))

    df, group_of = _collect_groups(groups, tables, filters, skipped)
    if lo is None and hi is None:
        # A file without rows can only be told from a filtered-out one without a date filter.
        skipped.extend(_empty_files(df, tables, group_of, wanted))
    if validate == "strict" and skipped:
        raise fail_on(min(skipped, key=lambda s: FILE_RULES.index(s.rule)).issue())
    if wanted is not None and not by_name:
        found = set(df[TICKER].unique().drop_nulls().to_list())
        found |= {t.ticker for t in tables if t.ticker is not None}
        found |= {s.ticker for s in skipped if s.ticker is not None}
        if any(t not in found for t in wanted):
            available = _all_tickers(groups, named)
            missing = [t for t in wanted if t not in found and t not in available]
            if missing:
                raise unknown_error(source, missing, sorted(available))

    files = [
        FileInfo(t.path, t.ticker, ADJ_CLOSE in t.columns, time_zone=time_zone(t.columns))
        for t in tables
    ]
    return finish(
        df,
        read,
        files=files,
        row_base=lambda fid: group_of[fid].row_base(fid),
        skipped=skipped,
        n_files=len(candidates),
    )


def _collect_groups(
    groups: Sequence[_Group],
    tables: Sequence[_Table],
    filters: Filters,
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
        df = empty_raw()
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


def _all_tickers(groups: Sequence[_Group], named: Sequence[str]) -> set[str]:
    """Every ticker in the data, for the unknown-ticker message (error path only)."""
    found = set(named)
    for group in groups:
        if group.tables[0].ticker is None:
            lf = group.frame(provenance=False, filters=Filters())
            found |= set(lf.select(pl.col(TICKER).unique()).collect()[TICKER].drop_nulls())
    return found
