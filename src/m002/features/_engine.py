"""How a list of features is applied to a multi-ticker frame without leaking across tickers.

Every feature is an expression written as if the frame held one ticker, and every feature that
looks back (shift, rolling window, EWM) is evaluated per ticker, so a ticker's values never
depend on which other tickers are in the frame: bit for bit, not just up to rounding. (Evaluating
rolling windows over the whole column and nulling each ticker's first rows is not enough: the
sliding sums carry rounding from the previous ticker, and so from its future rows.)

A ticker's history breaks where two of its rows are more than ``max_gap_days`` calendar days
apart (:data:`m002._schema.MAX_GAP_DAYS`, 10, by default: more than a long weekend or an
exchange closure, as much as a halt of weeks or a ticker that left and came back). The rows
after such a gap are a segment of their own and are treated as a new ticker that starts there:
no look-back window reaches across the gap, and every feature goes through its warm-up again.
Below, "ticker" means such a segment.

Two engines give identical numbers:

``"fast"`` (default)
    look-back features run with ``.over`` a sorted integer segment id, which polars groups
    without hashing (0.02-0.05 s per rolling op on 5M rows, about the cost of the same op over
    the whole column; ``.over`` the ticker string costs 3-8x more). Pointwise features, which
    only combine columns of the same row, run over the whole column at once, and so do
    exact-window features (``exact_window``): those whose value is an exact function of the
    rows of their window in a fixed order (shifts and sums of shifts, rolling max, min and
    quantile), so that where the window lies inside one ticker the whole column gives the
    same bits as the ticker alone, and where it reaches the ticker before, the warm-up
    nulls the row. A sliding float sum (``rolling_sum``, ``rolling_mean``, ``rolling_std``)
    is not one: it carries the rounding of the rows that left its window.
``"over"``
    the plain reference: every feature ``.over("ticker", <segment number in the ticker>)``.

In both engines a feature is null on the first ``warmup`` rows of each ticker and of each
segment after a gap.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import polars as pl

from m002._checks import check_int
from m002._polars import collect
from m002._schema import DATE, MAX_GAP_DAYS, TICKER
from m002.exceptions import ConfigError

__all__ = [
    "CHUNK_ROWS",
    "ROW_IN_TICKER",
    "SEGMENT_ID",
    "Engine",
    "Feature",
    "apply_features",
    "row_in_ticker",
    "ticker_chunks",
]

Engine = Literal["fast", "over"]

ROW_IN_TICKER = "_row_in_ticker"
"""Helper column: 0-based row inside the ticker, counted from the start of its segment."""
SEGMENT_ID = "_segment_id"
"""Helper column: a sorted integer per (ticker, segment), for the fast engine."""
_SEGMENT_IN_TICKER = "_segment_in_ticker"
"""Helper column of the reference engine: 0 for a ticker's first segment, 1 after its first
long gap, ..."""


@dataclass(frozen=True)
class Feature:
    """One named feature column.

    Parameters
    ----------
    name : str
        Output column. Names starting with ``_`` are helpers, dropped from the result.
    expr : pl.Expr
        Expression over one ticker's rows in date order; may read earlier features by name.
    warmup : int
        Rows at the start of each ticker where the value is null (the longest look-back,
        including that of the features it reads).
    pointwise : bool
        True when the expression only combines columns of the same row (no shift, rolling
        window or EWM); it then runs over the whole column at once. A wrong True would leak
        across tickers, which the test suite checks by computing each ticker alone.
    exact_window : bool
        True when the expression reads at most ``warmup`` rows back and its value is an
        exact function of those rows (see the module docstring); it then runs over the
        whole column too, its warm-up nulling every row whose window reaches the ticker
        before. Checked like ``pointwise``.
    units : str
        Unit of the value, for the docs.
    formula : str
        Definition in words or symbols, for the docs.
    dtype : pl.DataType
        Output type (events are ``Int8`` 0/1).
    """

    name: str
    expr: pl.Expr
    warmup: int
    pointwise: bool = False
    exact_window: bool = False
    units: str = ""
    formula: str = ""
    dtype: pl.DataType = field(default_factory=pl.Float64)

    def __post_init__(self) -> None:
        if self.exact_window and self.warmup < 1:
            msg = (
                f"feature `{self.name}`: an exact-window feature reads earlier rows, so its "
                f"warm-up must be at least 1, got {self.warmup}"
            )
            raise ConfigError(msg)

    @property
    def inputs(self) -> list[str]:
        """Columns the expression reads."""
        return self.expr.meta.root_names()


def _long_gap(max_gap_days: int) -> pl.Expr:
    """True on a row more than ``max_gap_days`` calendar days after the row before it."""
    return (pl.col(DATE).diff().dt.total_days() > max_gap_days).fill_null(False)


def _segment_starts(max_gap_days: int) -> pl.Expr:
    """True on the first row of each ticker and on the first row after each long gap."""
    new_ticker = (pl.col(TICKER) != pl.col(TICKER).shift(1)).fill_null(True)
    return new_ticker | _long_gap(max_gap_days)


def row_in_ticker(max_gap_days: int = MAX_GAP_DAYS) -> pl.Expr:
    """0-based row number inside each ticker, counted again from 0 after a gap of more than
    ``max_gap_days`` calendar days, for a frame sorted by (ticker, date).

    Computed without a window function: the global row index minus the index where the
    current segment started.
    """
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    segment_start = pl.when(_segment_starts(max_gap_days)).then(index).forward_fill()
    return (index - segment_start).alias(ROW_IN_TICKER)


def segment_id(max_gap_days: int = MAX_GAP_DAYS) -> pl.Expr:
    """A sorted integer id (0, 1, ...) per ticker and segment between long gaps, for a frame
    sorted by (ticker, date)."""
    starts = _segment_starts(max_gap_days)
    return (starts.cum_sum() - 1).cast(pl.UInt32).set_sorted().alias(SEGMENT_ID)


def _reference_segments(frame: pl.LazyFrame, max_gap_days: int) -> pl.LazyFrame:
    """``frame`` with the segment number inside each ticker and the row in the segment,
    computed the plain way (windows over the ticker), for the reference engine."""
    days = pl.col(DATE).diff().over(TICKER).dt.total_days()
    segment = (days > max_gap_days).fill_null(False).cum_sum().over(TICKER)
    row = pl.int_range(pl.len(), dtype=pl.Int64).over(TICKER, _SEGMENT_IN_TICKER)
    return frame.with_columns(segment.alias(_SEGMENT_IN_TICKER)).with_columns(
        row.alias(ROW_IN_TICKER)
    )


def _stages(features: Sequence[Feature], available: Iterable[str]) -> list[list[Feature]]:
    """Group features into the fewest ``with_columns`` steps that respect their inputs."""
    stage_of: dict[str, int] = {name: -1 for name in available}
    stages: list[list[Feature]] = []
    for feature in features:
        missing = [c for c in feature.inputs if c not in stage_of]
        if missing:
            msg = (
                f"feature `{feature.name}` reads {missing}, which is neither an input column "
                f"nor a feature listed before it"
            )
            raise ConfigError(msg)
        stage = max((stage_of[c] for c in feature.inputs), default=-1) + 1
        if stage == len(stages):
            stages.append([])
        stages[stage].append(feature)
        stage_of[feature.name] = stage
    return stages


def _masked(feature: Feature, engine: Engine) -> pl.Expr:
    expr = feature.expr
    if engine == "over":
        expr = expr.over(TICKER, _SEGMENT_IN_TICKER)
    elif not (feature.pointwise or feature.exact_window):
        expr = expr.over(SEGMENT_ID)
    if feature.warmup > 0:
        expr = pl.when(pl.col(ROW_IN_TICKER) >= feature.warmup).then(expr)
    return expr.cast(feature.dtype).alias(feature.name)


CHUNK_ROWS: Final = 200_000
"""Rows of the pieces the fast engine cuts a large frame into (whole tickers each)."""


def ticker_chunks(frame: pl.DataFrame, rows: int) -> list[pl.DataFrame]:
    """``frame`` (sorted by ticker) as consecutive slices of about ``rows`` rows, each cut at
    the start of a ticker (a ticker longer than ``rows`` is a slice of its own); the frame
    itself where it has at most ``rows`` rows. Slices share the frame's memory."""
    if frame.height <= rows:
        return [frame]
    tickers = frame[TICKER]
    new_ticker = tickers.ne_missing(tickers.shift(1)).fill_null(True).to_numpy()
    starts = np.flatnonzero(new_ticker)
    wanted = np.arange(rows, frame.height, rows)
    cuts = starts[np.minimum(np.searchsorted(starts, wanted), starts.size - 1)]
    edges = np.unique(np.concatenate([[0], cuts, [frame.height]]))
    return [frame.slice(int(a), int(b - a)) for a, b in itertools.pairwise(edges)]


def apply_features(
    frame: pl.LazyFrame,
    features: Sequence[Feature],
    *,
    engine: Engine = "fast",
    max_gap_days: int = MAX_GAP_DAYS,
    chunk_rows: int = CHUNK_ROWS,
) -> pl.LazyFrame:
    """Add ``features`` to ``frame`` (sorted by ticker, date), dropping helper columns.

    Parameters
    ----------
    frame : pl.LazyFrame
        Canonical rows, sorted by (ticker, date).
    features : sequence of Feature
        In dependency order: a feature may read any feature listed before it.
    engine : {"fast", "over"}
        See the module docstring; both give the same values.
    max_gap_days : int, default :data:`m002._schema.MAX_GAP_DAYS` (10)
        A gap of more calendar days between two rows of a ticker breaks its history: the
        features after it restart their warm-up. At least 1.
    chunk_rows : int, default `CHUNK_ROWS`
        The fast engine computes ``frame`` in slices of whole tickers of about this many
        rows, side by side (`ticker_chunks`), which keeps more of each step's columns in the
        processor's caches; the values are those of one pass, since no ticker's features
        read another's. At least 1.

    Returns
    -------
    pl.LazyFrame
        ``frame`` plus one column per public feature, in ``frame``'s row order. The fast
        engine has computed it already (with polars' in-memory engine, whichever engine
        collects the result); the reference engine returns the plan.

    Raises
    ------
    ConfigError
        If ``engine`` or ``max_gap_days`` is invalid, or a feature reads a column that is
        neither an input nor a feature listed before it.
    """
    if engine not in ("fast", "over"):
        msg = f"`engine` must be 'fast' or 'over', got `engine={engine!r}`"
        raise ConfigError(msg)
    check_int("max_gap_days", max_gap_days, 1)
    check_int("chunk_rows", chunk_rows, 1)
    stages = _stages(features, [*frame.collect_schema().names(), ROW_IN_TICKER])
    dropped = [f.name for f in features if f.name.startswith("_")]

    def staged(out: pl.LazyFrame, helpers: tuple[str, str]) -> pl.LazyFrame:
        for stage in stages:
            out = out.with_columns(_masked(f, engine) for f in stage)
        return out.drop(*helpers, *dropped)

    if engine == "over":
        return staged(_reference_segments(frame, max_gap_days), (ROW_IN_TICKER, _SEGMENT_IN_TICKER))
    segments = (row_in_ticker(max_gap_days), segment_id(max_gap_days))
    pieces = [
        staged(chunk.lazy().with_columns(*segments), (ROW_IN_TICKER, SEGMENT_ID))
        for chunk in ticker_chunks(collect(frame), chunk_rows)
    ]
    # computed here, with polars' in-memory engine: its streaming engine takes 4-5x longer on
    # the whole-column shifts of these plans
    return collect(pieces[0] if len(pieces) == 1 else pl.concat(pieces, rechunk=False)).lazy()
