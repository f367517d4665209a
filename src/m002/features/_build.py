"""`build_dataset` and `add_m002_features`: canonical OHLCV in, feature frame out."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import polars as pl

from m002._schema import CANONICAL_COLUMNS, DATE, TICKER, require_columns
from m002.exceptions import SchemaError
from m002.features._engine import Engine, apply_features
from m002.features._sets import feature_names, feature_set, longest_warmup

__all__ = ["IS_WARMUP", "Warmup", "add_features", "add_m002_features", "build_dataset"]

Warmup = Literal["keep", "drop", "flag"]
IS_WARMUP = "is_warmup"

Source = str | Path | pl.LazyFrame | pl.DataFrame


def _check_canonical(frame: pl.LazyFrame) -> None:
    require_columns(
        frame,
        CANONICAL_COLUMNS,
        needed_by="the feature pipeline",
        hint=f"expected {list(CANONICAL_COLUMNS)} (load files with `m002.data.load_silver`, "
        "which renames common spellings)",
    )


def _with_warmup(frame: pl.LazyFrame, set_name: str, warmup: Warmup) -> pl.LazyFrame:
    if warmup == "keep":
        return frame
    if warmup not in ("drop", "flag"):
        msg = f"`warmup` must be 'keep', 'drop' or 'flag', got `warmup={warmup!r}`"
        raise SchemaError(msg)
    in_warmup = pl.int_range(pl.len()).over(TICKER) < longest_warmup(set_name)
    if warmup == "flag":
        return frame.with_columns(in_warmup.alias(IS_WARMUP))
    return frame.filter(~in_warmup)


def add_features(
    frame: pl.LazyFrame | pl.DataFrame,
    feature_set_name: str = "m002",
    *,
    warmup: Warmup = "keep",
    engine: Engine = "fast",
    assume_sorted: bool = False,
) -> pl.LazyFrame:
    """Add the columns of a feature set to canonical OHLCV rows.

    Parameters
    ----------
    frame : pl.LazyFrame or pl.DataFrame
        Canonical columns (ticker, date, open, high, low, close, volume), one row per
        (ticker, date); other columns are kept.
    feature_set_name : {"v1", "v2", "v3", "m002"}
        Which set; each contains the previous one.
    warmup : {"keep", "drop", "flag"}
        What to do with the first ``longest_warmup(set)`` rows of each ticker, where some
        features are null: keep them (null), drop them, or keep them with a boolean
        ``is_warmup`` column.
    engine : {"fast", "over"}
        ``"over"`` is the per-ticker reference; both give the same values.
    assume_sorted : bool
        Skip the sort when the caller guarantees (ticker, date) order.

    Returns
    -------
    pl.LazyFrame
    """
    lazy = frame.lazy()
    _check_canonical(lazy)
    features = feature_set(feature_set_name)
    if not assume_sorted:
        lazy = lazy.sort(TICKER, DATE)
    return _with_warmup(apply_features(lazy, features, engine=engine), feature_set_name, warmup)


def add_m002_features(
    frame: pl.LazyFrame | pl.DataFrame, *, warmup: Warmup = "keep", engine: Engine = "fast"
) -> pl.LazyFrame:
    """Add the full m002 set (v3 + curvature, events, combination tags, context)."""
    return add_features(frame, "m002", warmup=warmup, engine=engine)


def _history_start(start: date, set_name: str) -> date:
    """A start date early enough that ``start`` itself is past every feature's warm-up."""
    rows = longest_warmup(set_name)
    # trading rows -> calendar days, with room for holidays and short exchange closures
    return start - timedelta(days=math.ceil(rows * 7 / 5 * 1.25) + 10)


def _as_date(value: date | str | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        msg = f"`{name}` must be a date or an ISO string like '2020-01-31', got `{name}={value!r}`"
        raise SchemaError(msg) from None


def build_dataset(
    source: Source,
    feature_set: str = "m002",
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    tickers: list[str] | None = None,
    validate: Literal["strict", "lenient", "off"] = "strict",
    warmup: Warmup = "keep",
    engine: Engine = "fast",
) -> pl.LazyFrame:
    """Load Silver OHLCV and add a feature set: the input of every model.

    Parameters
    ----------
    source : path or frame
        A path that `m002.data.load_silver` reads (folder of per-ticker files, one
        multi-ticker file, hive folders), or a frame already in the canonical schema.
    feature_set : {"v1", "v2", "v3", "m002"}
    start, end : date or ISO string, optional
        Inclusive date range of the returned rows. History before ``start`` is read as well
        (enough for the longest warm-up), so features on ``start`` are already defined.
    tickers : list of str, optional
        Only these tickers.
    validate : {"strict", "lenient", "off"}
        Passed to `load_silver`. Tickers shorter than the longest warm-up are flagged by the
        ``too_few_rows`` rule.
    warmup, engine
        See `add_features`.

    Returns
    -------
    pl.LazyFrame
        Canonical columns plus the set's features, sorted by (ticker, date). Collect it with
        ``.collect(engine="in-memory")``: on these plans polars' in-memory engine is about 20%
        faster and needs about 25% less peak memory than its default engine.

    Examples
    --------
    >>> from m002.data import generate_synthetic
    >>> prices = generate_synthetic(n_tickers=2, n_days=120, seed=1).prices
    >>> frame = build_dataset(prices, "v1").collect()
    >>> frame.height, "rsi_14" in frame.columns
    (240, True)
    """
    start_date, end_date = _as_date(start, "start"), _as_date(end, "end")
    load_from = None if start_date is None else _history_start(start_date, feature_set)
    if isinstance(source, pl.LazyFrame | pl.DataFrame):
        lazy = source.lazy()
        _check_canonical(lazy)
        if tickers is not None:
            lazy = lazy.filter(pl.col(TICKER).is_in(tickers))
        if load_from is not None:
            lazy = lazy.filter(pl.col(DATE) >= load_from)
        if end_date is not None:
            lazy = lazy.filter(pl.col(DATE) <= end_date)
        sorted_input = False
    else:
        from m002.data import load_silver

        lazy = load_silver(
            source,
            start=load_from,
            end=end_date,
            tickers=tickers,
            validate=validate,
            min_rows=longest_warmup(feature_set) + 1 if validate != "off" else None,
        )
        sorted_input = True
    out = add_features(lazy, feature_set, warmup=warmup, engine=engine, assume_sorted=sorted_input)
    if start_date is not None:
        out = out.filter(pl.col(DATE) >= start_date)
    return out


# the public column list of each set, for callers that select features by name
FEATURE_COLUMNS = {name: feature_names(name) for name in ("v1", "v2", "v3", "m002")}
