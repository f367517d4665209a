"""`build_dataset` and `add_m002_features`: canonical OHLCV in, feature frame out."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import polars as pl

from m002._dates import calendar_days, parse_date
from m002._schema import CANONICAL_COLUMNS, DATE, MAX_GAP_DAYS, TICKER, require_columns
from m002.exceptions import SchemaError
from m002.features._engine import Engine, apply_features, row_in_ticker
from m002.features._sets import FEATURE_SETS, feature_names, feature_set, longest_warmup

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


def _with_warmup(
    frame: pl.LazyFrame, set_name: str, warmup: Warmup, max_gap_days: int
) -> pl.LazyFrame:
    if warmup == "keep":
        return frame
    if warmup not in ("drop", "flag"):
        msg = f"`warmup` must be 'keep', 'drop' or 'flag', got `warmup={warmup!r}`"
        raise SchemaError(msg)
    # counted from the start of each ticker and again after each long gap
    in_warmup = row_in_ticker(max_gap_days) < longest_warmup(set_name)
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
    max_gap_days: int = MAX_GAP_DAYS,
) -> pl.LazyFrame:
    """Add the columns of a feature set to canonical OHLCV rows.

    Parameters
    ----------
    frame : pl.LazyFrame or pl.DataFrame
        Canonical columns (ticker, date, open, high, low, close, volume), one row per
        (ticker, date); other columns are kept.
    feature_set_name : {"v1", "v2", "v3", "m002", "alpha158", "m002+alpha158"}
        Which set; each contains the previous one.
    warmup : {"keep", "drop", "flag"}
        What to do with the first ``longest_warmup(set)`` rows of each ticker (and of each
        stretch after a long gap), where some features are null: keep them (null), drop
        them, or keep them with a boolean ``is_warmup`` column.
    engine : {"fast", "over"}
        ``"over"`` is the per-ticker reference; both give the same values.
    assume_sorted : bool
        Skip the sort when the caller guarantees (ticker, date) order.
    max_gap_days : int, default :data:`m002._schema.MAX_GAP_DAYS` (10)
        Where two rows of a ticker are more calendar days apart, its history breaks: the
        rows after the gap get the features they would get as a new ticker starting there
        (null through the warm-up, then computed from the rows after the gap only). At
        least 1.

    Returns
    -------
    pl.LazyFrame
        With the fast engine the features are already computed (`apply_features`); the
        ``warmup`` rule is applied when it is collected.

    Raises
    ------
    SchemaError
        If a canonical column is missing or ``warmup`` is invalid.
    ConfigError
        If ``feature_set_name``, ``engine`` or ``max_gap_days`` is invalid.
    """
    lazy = frame.lazy()
    _check_canonical(lazy)
    features = feature_set(feature_set_name)
    if not assume_sorted:
        lazy = lazy.sort(TICKER, DATE)
    out = apply_features(lazy, features, engine=engine, max_gap_days=max_gap_days)
    return _with_warmup(out, feature_set_name, warmup, max_gap_days)


def add_m002_features(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    warmup: Warmup = "keep",
    engine: Engine = "fast",
    max_gap_days: int = MAX_GAP_DAYS,
) -> pl.LazyFrame:
    """Add the full m002 set (v3 + curvature, events, combination tags, context).

    See :func:`add_features` for the arguments.
    """
    return add_features(frame, "m002", warmup=warmup, engine=engine, max_gap_days=max_gap_days)


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
    max_gap_days: int = MAX_GAP_DAYS,
) -> pl.LazyFrame:
    """Load Silver OHLCV and add a feature set: the input of every model.

    Parameters
    ----------
    source : path or frame
        A path that `m002.data.load_silver` reads (folder of per-ticker files, one
        multi-ticker file, hive folders), or a frame that `m002.data.validate_frame` reads
        (canonical, or with the column spellings files may use). Either way the same rules
        apply and only the canonical columns go on.
    feature_set : {"v1", "v2", "v3", "m002", "alpha158", "m002+alpha158"}
    start, end : date or ISO string, optional
        Inclusive date range of the returned rows. History before ``start`` is read as well
        (enough for the longest warm-up), so features on ``start`` are already defined
        (unless a long gap falls in that history).
    tickers : list of str, optional
        Only these tickers.
    validate : {"strict", "lenient", "off"}
        Passed to `load_silver` or `validate_frame`. Tickers shorter than the longest
        warm-up are flagged by the ``too_few_rows`` rule.
    warmup, engine, max_gap_days
        See `add_features`.

    Returns
    -------
    pl.LazyFrame
        Canonical columns plus the set's features, sorted by (ticker, date); the features
        are already computed (`m002.features.apply_features`), what is left to collect is
        the date filter.

    Examples
    --------
    >>> from m002.data import generate_synthetic
    >>> prices = generate_synthetic(n_tickers=2, n_days=120, seed=1).prices
    >>> frame = build_dataset(prices, "v1").collect()
    >>> frame.height, "rsi_14" in frame.columns
    (240, True)
    """
    from m002.data import load_silver, validate_frame

    start_date, end_date = parse_date(start, "start"), parse_date(end, "end")
    load_from = None
    if start_date is not None:
        load_from = start_date - timedelta(days=calendar_days(longest_warmup(feature_set)))
    min_rows = longest_warmup(feature_set) + 1 if validate != "off" else None
    read = validate_frame if isinstance(source, pl.LazyFrame | pl.DataFrame) else load_silver
    lazy = read(
        source,  # type: ignore[arg-type]
        start=load_from,
        end=end_date,
        tickers=tickers,
        validate=validate,
        min_rows=min_rows,
    ).lazy()
    out = add_features(
        lazy,
        feature_set,
        warmup=warmup,
        engine=engine,
        assume_sorted=True,
        max_gap_days=max_gap_days,
    )
    if start_date is not None:
        out = out.filter(pl.col(DATE) >= start_date)
    return out


# the public column list of each set, for callers that select features by name
FEATURE_COLUMNS = {name: feature_names(name) for name in FEATURE_SETS}
