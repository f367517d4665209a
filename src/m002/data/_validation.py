"""Validation rules of the Silver data layer and the report that accounts for every row.

Every row read is either kept or dropped under exactly one rule, so that
``rows_in == rows_out + rows_dropped`` always holds. A row that breaks several rules is
counted once, under the first of them in the order of :data:`RULES`:

1. file rules, decided before any row is looked at: ``not_a_price_table``,
   ``missing_column``, ``empty_source``;
2. row rules, vectorised over all rows at once: ``unparseable_date``, ``unparseable_number``,
   ``null_value``, ``non_finite_price``, ``non_positive_price``, ``negative_volume``,
   ``high_below_low``, ``open_outside_range``, ``close_outside_range``;
3. rules over the rows that pass the row rules: ``duplicate_row`` (the first occurrence of a
   (ticker, date) in file order is kept), then ``too_few_rows`` (per ticker, after
   duplicates are gone).

``unknown_ticker`` is not a data rule: a ticker that was asked for and is not in the data is
an error in every mode.

Two rules flag rows without dropping them; they are warnings, listed in the report's
``warnings`` and ``warned`` and not in its drops, and they leave ``report.ok`` True (so
``m002 data check`` prints them and still exits 0 when nothing would be dropped):

- ``utc_midnight_timestamps``: a source's timestamps are daily bars stamped at midnight UTC
  and stored in another time zone; the UTC date was taken (see :mod:`m002.data._timestamps`);
- ``long_gap``: a ticker has no row for more than ``max_gap_days`` calendar days
  (:data:`m002._schema.MAX_GAP_DAYS`, 10, by default); the features restart their warm-up
  after it, as if a new ticker started there.

Rows of a skipped file count towards ``rows_in`` (and as dropped under the file's rule) when
the file could be read as a table; a file that is no table at all (a JSON error body, binary
garbage, a corrupt parquet file) contributes no rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Literal

import polars as pl

from m002._schema import DATE, PRICE_COLUMNS, TICKER, VOLUME
from m002.exceptions import DataValidationError

__all__ = [
    "LENIENT_HINT",
    "RULES",
    "WARNING_RULES",
    "SkippedFile",
    "ValidationIssue",
    "ValidationReport",
]

RULES: Final[dict[str, str]] = {
    "not_a_price_table": (
        "a file is not a price table at all (a JSON or HTML error body, binary garbage, a "
        "corrupt parquet file, or no recognisable date/price columns); the file is skipped"
    ),
    "missing_column": (
        "a file lacks a required column (date, open, high, low, close, volume, and ticker "
        "where the file name does not give it); the file is skipped"
    ),
    "empty_source": "a file (or the whole input) holds no data rows",
    "unparseable_date": (
        "a date that does not parse (YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD, ISO datetime)"
    ),
    "unparseable_number": "a price or volume that is text and not a number",
    "null_value": "a required value (ticker, date, price, adjusted close, volume) is missing",
    "non_finite_price": "a price, the adjusted close or the volume is NaN or infinite",
    "non_positive_price": "a price or the adjusted close is zero or negative",
    "negative_volume": "the volume is negative (zero volume is allowed)",
    "high_below_low": "high is below low",
    "open_outside_range": "open is outside [low, high]",
    "close_outside_range": "close is outside [low, high]",
    "duplicate_row": "a second row for the same (ticker, date); the first one is kept",
    "too_few_rows": "a ticker has fewer rows than min_rows (the longest window of the features)",
    "utc_midnight_timestamps": (
        "timestamps are daily bars stamped at midnight UTC and stored in another time zone, "
        "where they would fall on the day before; their UTC date is taken (a warning, rows kept)"
    ),
    "long_gap": (
        "a ticker has no row for more than max_gap_days calendar days; the features restart "
        "their warm-up after it (a warning, rows kept)"
    ),
    "unknown_ticker": "a ticker asked for is not in the data (an error in every mode)",
}
"""Rule name -> one-line description, in the order rules are applied."""

FILE_RULES: Final = ("not_a_price_table", "missing_column", "empty_source")
ROW_RULES: Final = (
    "unparseable_date",
    "unparseable_number",
    "null_value",
    "non_finite_price",
    "non_positive_price",
    "negative_volume",
    "high_below_low",
    "open_outside_range",
    "close_outside_range",
)
WARNING_RULES: Final = ("utc_midnight_timestamps", "long_gap")
"""Rules that flag rows without dropping them."""
_RULE_ORDER: Final = {name: i for i, name in enumerate(RULES)}

LENIENT_HINT: Final = (
    "read it with validate='lenient' to drop such rows and files (check_silver() lists them all)"
)
"""The advice that ends every strict-mode `DataValidationError` of a data rule, worded for
Python callers. A caller that words it otherwise (the CLI, with its options) replaces this
text in ``str(error)``."""

ISSUES_PER_RULE: Final = 20
"""How many example issues a report keeps per rule."""

RANGE_TOLERANCE: Final = 1e-9
"""Relative tolerance of the range rules, so that float rounding is never an offence."""

Mode = Literal["strict", "lenient", "off"]

# Internal columns the loader adds for provenance and for the text of the errors.
FILE_ID: Final = "__m002_file"
ROW_ID: Final = "__m002_row"
ADJ_CLOSE: Final = "__m002_adj_close"
DATE_RAW: Final = "__m002_date_raw"
NUMBER_RAW: Final = "__m002_number_raw"
_RULE: Final = "__m002_rule"


@dataclass(frozen=True)
class ValidationIssue:
    """One offending row (or file), with where to find it.

    Attributes
    ----------
    rule : str
        Name of the broken rule (a key of :data:`RULES`).
    source : str | None
        File the row came from, as the path was given plus the file's path inside it (or
        what a frame was called, see ``in_file``).
    ticker : str | None
        Ticker of the row, where known.
    row : int | None
        1-based data row in its file (the header is not counted), or None for file rules.
    date : datetime.date | None
        Date of the row, where it could be read.
    detail : str
        The offending values, e.g. ``"high 10.2 < low 10.5"``.
    in_file : bool
        True when ``source`` is a file; False for a frame, whose ``row`` is then its 1-based
        row in the frame as given.
    """

    rule: str
    source: str | None
    ticker: str | None
    row: int | None
    date: dt.date | None
    detail: str
    in_file: bool = True

    def location(self) -> str:
        """Where the issue is, e.g. ``"file AAPL.csv row 1203 (ticker AAPL, date 2020-03-02)"``."""
        if self.source is None:
            where = "input"
        else:
            where = f"file {self.source}" if self.in_file else self.source
        if self.row is not None:
            where += f" row {self.row}"
        what = []
        if self.ticker is not None:
            what.append(f"ticker {self.ticker}")
        if self.date is not None:
            what.append(f"date {self.date.isoformat()}")
        return f"{where} ({', '.join(what)})" if what else where

    def __str__(self) -> str:
        return f"{self.location()}: {self.detail} [rule {self.rule}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "rule": self.rule,
            "source": self.source,
            "ticker": self.ticker,
            "row": self.row,
            "date": None if self.date is None else self.date.isoformat(),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SkippedFile:
    """A file left out as a whole.

    Attributes
    ----------
    file : str
        The file, as the path was given plus the file's path inside it.
    rule : str
        ``not_a_price_table``, ``missing_column`` or ``empty_source``.
    detail : str
        What was wrong, e.g. the start of a JSON error body.
    rows : int
        Data rows the file held (counted in ``rows_in`` and as dropped); 0 when it could not
        be read as a table.
    ticker : str | None
        Ticker the file name gives, where it gives one.
    """

    file: str
    rule: str
    detail: str
    rows: int = 0
    ticker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "file": self.file,
            "rule": self.rule,
            "detail": self.detail,
            "rows": self.rows,
            "ticker": self.ticker,
        }

    def issue(self) -> ValidationIssue:
        """The same fact as a :class:`ValidationIssue`."""
        return ValidationIssue(self.rule, self.file, self.ticker, None, None, self.detail)


@dataclass(frozen=True)
class ValidationReport:
    """What reading a Silver source found: rows in, rows out, and why each dropped row went.

    Attributes
    ----------
    source : str
        The path that was read.
    mode : {"strict", "lenient", "off"}
        Validation mode. With ``"off"`` nothing is counted (``rows_in`` and ``rows_out`` are
        None) and only files that could not be read at all are listed.
    rows_in : int | None
        Data rows read inside the requested tickers and date range, skipped files included.
    rows_out : int | None
        Rows returned.
    drops : tuple[tuple[str, str | None, int], ...]
        ``(rule, ticker, rows)`` for every rule and ticker that dropped rows, in rule order.
    issues : tuple[ValidationIssue, ...]
        The first examples of every rule (at most :data:`ISSUES_PER_RULE` each).
    skipped_files : tuple[SkippedFile, ...]
        Files left out as a whole.
    n_files : int
        Files read (skipped ones included).
    n_tickers : int
        Tickers in the returned rows (0 with ``mode="off"``).
    warned : tuple[tuple[str, str | None, int], ...]
        ``(rule, ticker, count)`` for every rule of :data:`WARNING_RULES` that flagged kept
        rows: rows whose date was moved (``utc_midnight_timestamps``), gaps
        (``long_gap``).
    warnings : tuple[ValidationIssue, ...]
        The first examples of every warning rule (at most :data:`ISSUES_PER_RULE` each).
    """

    source: str
    mode: Mode
    rows_in: int | None
    rows_out: int | None
    drops: tuple[tuple[str, str | None, int], ...] = ()
    issues: tuple[ValidationIssue, ...] = ()
    skipped_files: tuple[SkippedFile, ...] = ()
    n_files: int = 0
    n_tickers: int = 0
    warned: tuple[tuple[str, str | None, int], ...] = ()
    warnings: tuple[ValidationIssue, ...] = ()

    @property
    def dropped(self) -> dict[tuple[str, str | None], int]:
        """Rows dropped per ``(rule, ticker)``."""
        return {(rule, ticker): rows for rule, ticker, rows in self.drops}

    @property
    def rows_dropped(self) -> int:
        """Total rows dropped (``rows_in - rows_out``)."""
        return sum(rows for _, _, rows in self.drops)

    @property
    def ok(self) -> bool:
        """True when nothing was dropped or skipped and some rows came out; warnings (rules
        of :data:`WARNING_RULES`) leave it True."""
        return not self.drops and not self.skipped_files and self.rows_out != 0

    def counts(self) -> pl.DataFrame:
        """Dropped rows per rule and ticker.

        Returns
        -------
        pl.DataFrame
            Columns ``rule`` (str), ``ticker`` (str, null where unknown), ``rows`` (i64), in
            rule order then ticker order.
        """
        return pl.DataFrame(
            [list(d) for d in self.drops],
            schema={"rule": pl.String, "ticker": pl.String, "rows": pl.Int64},
            orient="row",
        )

    def rule_counts(self) -> dict[str, int]:
        """Dropped rows per rule, in rule order."""
        return _per_rule(self.drops)

    def warning_counts(self) -> dict[str, int]:
        """Per warning rule, in rule order: rows whose date was moved, or gaps."""
        return _per_rule(self.warned)

    def summary(self) -> str:
        """Human-readable account: a first paragraph, then the drops, skipped files, examples."""
        if self.rows_in is None:
            head = (
                f"Silver data from {self.source}: {self.n_files} files scanned without validation "
                f"(validate='off')"
            )
            head += f", {len(self.skipped_files)} skipped." if self.skipped_files else "."
        else:
            head = (
                f"Silver data from {self.source}: read {self.rows_in:,} rows from "
                f"{_plural(self.n_files, 'file')}, kept {self.rows_out:,} rows of "
                f"{_plural(self.n_tickers, 'ticker')}, "
                f"dropped {self.rows_dropped:,}"
            )
            rules = self.rule_counts()
            if rules:
                head += " (" + ", ".join(f"{r} {n:,}" for r, n in rules.items()) + ")"
            head += "."
            if self.skipped_files:
                head += f" {len(self.skipped_files)} files were skipped."
            warned = self.warning_counts()
            if warned:
                head += " Warnings, rows kept: " + ", ".join(
                    f"{r} {n:,}" for r, n in warned.items()
                )
                head += "."
        lines = [head]
        lines += _by_rule("Dropped rows by rule:", self.drops)
        lines += _by_rule("Warnings, rows kept (gaps, or rows whose date moved):", self.warned)
        if self.skipped_files:
            lines.append("Skipped files:")
            lines.extend(
                f"  {s.file}: {s.detail} [rule {s.rule}, {s.rows:,} rows]"
                for s in self.skipped_files
            )
        examples = [i for i in self.issues if i.row is not None or i.rule not in FILE_RULES]
        examples += self.warnings
        if examples:
            lines.append("First examples:")
            seen: dict[str, int] = {}
            for issue in examples:
                seen[issue.rule] = seen.get(issue.rule, 0) + 1
                if seen[issue.rule] <= 3:
                    lines.append(f"  {issue}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form of the whole report."""
        return {
            "source": self.source,
            "mode": self.mode,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_dropped": self.rows_dropped,
            "ok": self.ok,
            "n_files": self.n_files,
            "n_tickers": self.n_tickers,
            "dropped": [{"rule": r, "ticker": t, "rows": n} for r, t, n in self.drops],
            "skipped_files": [s.to_dict() for s in self.skipped_files],
            "issues": [i.to_dict() for i in self.issues],
            "warned": [{"rule": r, "ticker": t, "count": n} for r, t, n in self.warned],
            "warnings": [i.to_dict() for i in self.warnings],
        }


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _per_rule(counts: Sequence[tuple[str, str | None, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rule, _, n in counts:
        out[rule] = out.get(rule, 0) + n
    return out


def _by_rule(title: str, counts: Sequence[tuple[str, str | None, int]]) -> list[str]:
    """Lines of the summary: per rule, the total and the five largest tickers."""
    per_rule: dict[str, list[tuple[str | None, int]]] = {}
    for rule, ticker, n in counts:
        per_rule.setdefault(rule, []).append((ticker, n))
    lines = [title] if per_rule else []
    for rule, items in per_rule.items():
        items = sorted(items, key=lambda x: (-x[1], x[0] or ""))
        shown = ", ".join(f"{t or '?'} {n:,}" for t, n in items[:5])
        more = f", +{len(items) - 5} more tickers" if len(items) > 5 else ""
        total = sum(n for _, n in items)
        lines.append(f"  {rule}: {total:,} ({shown}{more})")
    return lines


# --------------------------------------------------------------------------------------------
# The engine: vectorised rules over the collected rows.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    """What the validator needs to know about one input file (or frame).

    Attributes
    ----------
    path : str
        The file, or what the frame is called.
    ticker : str | None
        Ticker for all its rows, where its name gives one.
    has_adj : bool
        Whether it has an adjusted close.
    in_file : bool
        False for a frame.
    time_zone : str | None
        Time zone of its timestamp column, where it has one.
    """

    path: str
    ticker: str | None
    has_adj: bool
    in_file: bool = True
    time_zone: str | None = None


def _num(x: float | None) -> str:
    if x is None:
        return "null"
    if math.isnan(x):
        return "NaN"
    return f"{x:.10g}"


def _row_conditions(columns: Sequence[str]) -> list[pl.Expr]:
    """One boolean expression per row rule, in :data:`ROW_RULES` order."""
    prices = [pl.col(c) for c in (*PRICE_COLUMNS, ADJ_CLOSE)]
    numbers = [*prices, pl.col(VOLUME)]
    required = [pl.col(TICKER), pl.col(DATE), *numbers]
    lo, hi = pl.col("low"), pl.col("high")
    lo_tol = lo - RANGE_TOLERANCE * lo.abs()
    hi_tol = hi + RANGE_TOLERANCE * hi.abs()
    false = pl.lit(False)
    return [
        pl.col(DATE_RAW).is_not_null() if DATE_RAW in columns else false,
        pl.col(NUMBER_RAW).is_not_null() if NUMBER_RAW in columns else false,
        pl.any_horizontal([c.is_null() for c in required]),
        ~pl.all_horizontal([c.is_finite() for c in numbers]),
        pl.any_horizontal([c <= 0 for c in prices]),
        pl.col(VOLUME) < 0,
        hi < lo_tol,
        (pl.col("open") < lo_tol) | (pl.col("open") > hi_tol),
        (pl.col("close") < lo_tol) | (pl.col("close") > hi_tol),
    ]


def _rule_code(columns: Sequence[str]) -> pl.Expr:
    """Index (in ROW_RULES) of the first row rule a row breaks, null for a clean row."""
    conds = _row_conditions(columns)
    chain: Any = pl.when(conds[0]).then(pl.lit(0, pl.UInt8))
    for i, cond in enumerate(conds[1:], start=1):
        chain = chain.when(cond).then(pl.lit(i, pl.UInt8))
    out: pl.Expr = chain.otherwise(pl.lit(None, pl.UInt8)).alias(_RULE)
    return out


def _detail(rule: str, r: Mapping[str, Any], has_adj: bool) -> str:
    """The offending values of one row, e.g. ``"high 10.2 < low 10.5"``."""
    adj_name = "adjusted close"
    if rule == "unparseable_date":
        return (
            f"date {r[DATE_RAW]!r} is not a date "
            "(expected YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or an ISO datetime)"
        )
    if rule == "unparseable_number":
        return f"{r[NUMBER_RAW]} is not a number"
    names = {c: c for c in (*PRICE_COLUMNS, VOLUME)} | {ADJ_CLOSE: adj_name}
    priced = [*PRICE_COLUMNS, *([ADJ_CLOSE] if has_adj else [])]
    if rule == "null_value":
        cols = [TICKER, DATE, *priced, VOLUME]
        missing = [names.get(c, c) for c in cols if r[c] is None]
        return "missing value in " + ", ".join(missing)
    if rule == "non_finite_price":
        bad = [c for c in (*priced, VOLUME) if not math.isfinite(r[c])]
        return ", ".join(f"{names[c]} {_num(r[c])}" for c in bad) + " (not finite)"
    if rule == "non_positive_price":
        bad = [c for c in priced if r[c] <= 0]
        return ", ".join(f"{names[c]} {_num(r[c])}" for c in bad) + " <= 0"
    if rule == "negative_volume":
        return f"volume {_num(r[VOLUME])} < 0"
    if rule == "high_below_low":
        return f"high {_num(r['high'])} < low {_num(r['low'])}"
    if rule in ("open_outside_range", "close_outside_range"):
        col = rule.split("_", 1)[0]
        return f"{col} {_num(r[col])} outside [low {_num(r['low'])}, high {_num(r['high'])}]"
    msg = f"no detail for rule {rule!r}"  # pragma: no cover - internal
    raise KeyError(msg)  # pragma: no cover


@dataclass
class _Engine:
    """Applies the rules to collected rows and keeps the account."""

    files: Sequence[FileInfo]
    row_base: Callable[[int], int]
    mode: Mode
    min_rows: int | None
    drops: dict[tuple[str, str | None], int] = field(default_factory=dict)
    issues: dict[str, list[ValidationIssue]] = field(default_factory=dict)

    def _issue(self, rule: str, r: Mapping[str, Any], detail: str) -> ValidationIssue:
        return _row_issue(rule, r, detail, self.files, self.row_base)

    def _fail(self, issue: ValidationIssue, n: int) -> DataValidationError:
        more = f"; {n:,} rows in all break this rule" if n > 1 else ""
        return fail_on(issue, more=more)

    def _account(self, rule: str, bad: pl.DataFrame) -> None:
        counts = bad.group_by(TICKER).len().sort(TICKER, nulls_last=True)
        for ticker, n in counts.iter_rows():
            self.drops[(rule, ticker)] = self.drops.get((rule, ticker), 0) + n

    def _examples(
        self, rule: str, bad: pl.DataFrame, detail: Callable[[dict[str, Any]], str]
    ) -> None:
        first = bad.sort(FILE_ID, ROW_ID).head(ISSUES_PER_RULE)
        self.issues[rule] = [self._issue(rule, r, detail(r)) for r in first.iter_rows(named=True)]

    def _row_detail(self, rule: str, r: Mapping[str, Any]) -> str:
        return _detail(rule, r, self.files[r[FILE_ID]].has_adj)

    def row_rules(self, df: pl.DataFrame) -> pl.DataFrame:
        """Drop the rows that break a row rule; return the rest."""
        code = df.select(_rule_code(df.columns)).to_series()
        if code.null_count() == len(code):
            return df
        flagged = df.with_columns(code)
        bad = flagged.filter(pl.col(_RULE).is_not_null())
        present = sorted(bad[_RULE].unique().to_list())
        for idx in present:
            rule = ROW_RULES[idx]
            part = bad.filter(pl.col(_RULE) == idx)
            if self.mode == "strict":
                r = part.sort(FILE_ID, ROW_ID).row(0, named=True)
                raise self._fail(self._issue(rule, r, self._row_detail(rule, r)), part.height)
            self._account(rule, part)
            self._examples(rule, part, partial(self._row_detail, rule))
        return flagged.filter(pl.col(_RULE).is_null()).drop(_RULE)

    def _ticker_key(self) -> pl.Expr:
        return ticker_key([f.ticker for f in self.files])

    def duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        """Sort by (ticker, date, file, row) and drop every repeat of a (ticker, date)."""
        tick = self._ticker_key()
        if not _is_sorted(df, tick):
            df = df.sort([tick, pl.col(DATE), pl.col(FILE_ID), pl.col(ROW_ID)])
        dup = (tick == tick.shift(1)) & (pl.col(DATE) == pl.col(DATE).shift(1))
        flag = df.select(dup.fill_null(False)).to_series()
        if not flag.any():
            return df
        rule = "duplicate_row"
        first_at = (
            pl.when(~flag).then(pl.struct(FILE_ID, ROW_ID)).forward_fill().alias("__m002_first")
        )
        bad = df.with_columns(first_at).filter(flag)

        def detail(r: dict[str, Any]) -> str:
            f, row = r["__m002_first"][FILE_ID], r["__m002_first"][ROW_ID]
            info = self.files[f]
            where = f"file {info.path}" if info.in_file else info.path
            return (
                f"second row for ({r[TICKER]}, {r[DATE]}); "
                f"the first is {where} row {row - self.row_base(f) + 1}"
            )

        if self.mode == "strict":
            r = bad.sort(FILE_ID, ROW_ID).row(0, named=True)
            raise self._fail(self._issue(rule, r, detail(r)), bad.height)
        self._account(rule, bad)
        self._examples(rule, bad, detail)
        return df.filter(~flag)

    def too_few_rows(self, df: pl.DataFrame) -> pl.DataFrame:
        """Drop every ticker with fewer than ``min_rows`` rows."""
        if self.min_rows is None:
            return df
        rule = "too_few_rows"
        sizes = df.group_by(TICKER).agg(
            pl.len().alias("n"), pl.col(FILE_ID).first(), pl.col(DATE).min().alias("first")
        )
        small = sizes.filter(pl.col("n") < self.min_rows).sort(TICKER)
        if small.height == 0:
            return df
        issues = [
            ValidationIssue(
                rule,
                self.files[r[FILE_ID]].path if self.files[r[FILE_ID]].ticker else None,
                r[TICKER],
                None,
                None,
                f"ticker {r[TICKER]} has {r['n']:,} rows < min_rows {self.min_rows:,} "
                f"(from {r['first']})",
                self.files[r[FILE_ID]].in_file,
            )
            for r in small.head(ISSUES_PER_RULE).iter_rows(named=True)
        ]
        if self.mode == "strict":
            raise self._fail(issues[0], 1)
        for ticker, n in small.select(TICKER, "n").iter_rows():
            self.drops[(rule, ticker)] = n
        self.issues[rule] = issues
        return df.filter(~pl.col(TICKER).is_in(small[TICKER].implode()))

    def all_issues(self) -> Iterator[ValidationIssue]:
        for rule in sorted(self.issues, key=_RULE_ORDER.__getitem__):
            yield from self.issues[rule]


def ticker_key(file_tickers: Sequence[str | None]) -> pl.Expr:
    """Sort key for the ticker: its rank (cheap integers) when every file names its ticker."""
    if not file_tickers or any(t is None for t in file_tickers):
        return pl.col(TICKER)
    names = [t for t in file_tickers if t is not None]
    rank = {t: i for i, t in enumerate(sorted(set(names)))}
    ranks = pl.Series([rank[t] for t in names], dtype=pl.UInt32)
    return pl.lit(ranks).gather(pl.col(FILE_ID))


def _is_sorted(df: pl.DataFrame, t: pl.Expr) -> bool:
    """Whether rows are already in (ticker, date, file, row) order: checking beats sorting."""
    if df.height < 2:
        return True
    d, f, r = (pl.col(c) for c in (DATE, FILE_ID, ROW_ID))
    tp, dp, fp, rp = (c.shift(1) for c in (t, d, f, r))
    in_order = (t > tp) | (
        (t == tp) & ((d > dp) | ((d == dp) & ((f > fp) | ((f == fp) & (r > rp)))))
    )
    return bool(df.select(in_order.slice(1).all()).item())


def validate_rows(
    df: pl.DataFrame,
    *,
    files: Sequence[FileInfo],
    row_base: Callable[[int], int],
    mode: Mode,
    min_rows: int | None,
) -> tuple[pl.DataFrame, dict[tuple[str, str | None], int], list[ValidationIssue]]:
    """Apply the row rules, duplicates and ``too_few_rows`` to collected rows.

    Parameters
    ----------
    df : pl.DataFrame
        Rows with ``ticker``, ``date``, the raw prices and volume (Float64) and the internal
        provenance columns the loader adds.
    files : sequence of FileInfo
        Per file id: path, ticker from the name, whether an adjusted close was present.
    row_base : callable
        File id -> value of the internal row index at the file's first data row.
    mode : {"strict", "lenient"}
        Strict raises on the first offence; lenient drops and counts.
    min_rows : int or None
        Smallest number of rows a ticker must keep.

    Returns
    -------
    tuple
        The clean rows sorted by (ticker, date), drops per (rule, ticker), example issues.

    Raises
    ------
    DataValidationError
        In strict mode, for the first offence in rule order.
    """
    engine = _Engine(files=files, row_base=row_base, mode=mode, min_rows=min_rows)
    df = engine.row_rules(df)
    df = engine.duplicates(df)
    df = engine.too_few_rows(df)
    return df, engine.drops, list(engine.all_issues())


def sort_drops(
    drops: Mapping[tuple[str, str | None], int],
) -> tuple[tuple[str, str | None, int], ...]:
    """Drops as ``(rule, ticker, rows)`` in rule order, then ticker order."""
    items = [(rule, ticker, n) for (rule, ticker), n in drops.items() if n > 0]
    items.sort(key=lambda x: (_RULE_ORDER[x[0]], x[1] is None, x[1] or ""))
    return tuple(items)


def fail_on(issue: ValidationIssue, *, more: str = "") -> DataValidationError:
    """The strict-mode error for an issue: where, what, and :data:`LENIENT_HINT`."""
    msg = f"{issue}{more}. Fix the data, or {LENIENT_HINT}."
    return DataValidationError(
        msg, rule=issue.rule, source=issue.source, ticker=issue.ticker, detail=issue.detail
    )


def _row_issue(
    rule: str,
    r: Mapping[str, Any],
    detail: str,
    files: Sequence[FileInfo],
    row_base: Callable[[int], int],
) -> ValidationIssue:
    """An issue located at the row ``r`` (with the provenance columns) came from."""
    info = files[r[FILE_ID]]
    row = r[ROW_ID] - row_base(r[FILE_ID]) + 1
    return ValidationIssue(rule, info.path, r[TICKER], row, r[DATE], detail, info.in_file)


Counts = dict[tuple[str, str | None], int]


def long_gaps(
    df: pl.DataFrame,
    *,
    files: Sequence[FileInfo],
    row_base: Callable[[int], int],
    max_gap_days: int,
) -> tuple[Counts, list[ValidationIssue]]:
    """Gaps of more than ``max_gap_days`` calendar days inside one ticker's rows.

    Parameters
    ----------
    df : pl.DataFrame
        Clean rows sorted by (ticker, date), with the provenance columns.
    files, row_base
        As in :func:`validate_rows`.
    max_gap_days : int
        Longest gap (days between two consecutive rows) that is not reported.

    Returns
    -------
    tuple
        Gaps per ``("long_gap", ticker)``, and the first :data:`ISSUES_PER_RULE` of them,
        located at the first row after the gap.
    """
    rule = "long_gap"
    days = pl.col(DATE).diff().dt.total_days()
    is_gap = (pl.col(TICKER) == pl.col(TICKER).shift(1)) & (days > max_gap_days)
    mask = df.select(is_gap.fill_null(False)).to_series()
    if not mask.any():
        return {}, []
    gaps = df.with_columns(days.alias("__m002_days"), pl.col(DATE).shift(1).alias("__m002_prev"))
    gaps = gaps.filter(mask)
    counts = {(rule, t): n for t, n in gaps.group_by(TICKER).len().iter_rows()}
    issues = [
        _row_issue(
            rule,
            r,
            f"no row for {r['__m002_days']:,} calendar days, from {r['__m002_prev']} to "
            f"{r[DATE]} (more than max_gap_days={max_gap_days}); look-back features restart "
            "their warm-up here",
            files,
            row_base,
        )
        for r in gaps.head(ISSUES_PER_RULE).iter_rows(named=True)
    ]
    return counts, issues


def moved_dates(
    df: pl.DataFrame, *, files: Sequence[FileInfo], moved: str
) -> tuple[Counts, list[ValidationIssue]]:
    """The rows whose UTC date was taken (column ``moved`` is True), per ticker and file.

    Returns
    -------
    tuple
        Rows per ``("utc_midnight_timestamps", ticker)``, and one issue per file (at most
        :data:`ISSUES_PER_RULE`) saying how many of its rows moved.
    """
    rule = "utc_midnight_timestamps"
    if moved not in df.columns or not df[moved].any():
        return {}, []
    flagged = df.filter(pl.col(moved))
    counts = {(rule, t): n for t, n in flagged.group_by(TICKER).len().iter_rows()}
    per_file = (
        df.group_by(FILE_ID)
        .agg(pl.len().alias("n"), pl.col(moved).sum().alias("moved"))
        .filter(pl.col("moved") > 0)
        .sort(FILE_ID)
    )
    issues = []
    for fid, n, n_moved in per_file.head(ISSUES_PER_RULE).iter_rows():
        info = files[fid]
        detail = (
            f"{n_moved:,} of {n:,} timestamps are daily bars stamped at 00:00 UTC and stored "
            f"as {info.time_zone} time, where they would fall on the day before; their UTC "
            "date was taken"
        )
        issues.append(
            ValidationIssue(rule, info.path, info.ticker, None, None, detail, info.in_file)
        )
    return counts, issues
