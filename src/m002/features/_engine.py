"""How a list of features is applied to a multi-ticker frame without leaking across tickers.

Every feature is an expression written as if the frame held one ticker, and every feature that
looks back (shift, rolling window, EWM) is evaluated per ticker, so a ticker's values never
depend on which other tickers are in the frame: bit for bit, not just up to rounding. (Evaluating
rolling windows over the whole column and nulling each ticker's first rows is not enough: the
sliding sums carry rounding from the previous ticker, and so from its future rows.)

Two engines give identical numbers:

``"fast"`` (default)
    look-back features run with ``.over`` a sorted integer ticker id, which polars groups
    without hashing (0.02-0.05 s per rolling op on 5M rows, about the cost of the same op over
    the whole column; ``.over`` the ticker string costs 3-8x more). Pointwise features, which
    only combine columns of the same row, run over the whole column at once.
``"over"``
    the plain reference: every feature ``.over("ticker")``.

In both engines a feature is null on the first ``warmup`` rows of each ticker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from m002._schema import TICKER
from m002.exceptions import ConfigError

__all__ = ["ROW_IN_TICKER", "TICKER_ID", "Engine", "Feature", "apply_features", "row_in_ticker"]

Engine = Literal["fast", "over"]

ROW_IN_TICKER = "_row_in_ticker"
TICKER_ID = "_ticker_id"


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
    units: str = ""
    formula: str = ""
    dtype: pl.DataType = field(default_factory=pl.Float64)

    @property
    def inputs(self) -> list[str]:
        """Columns the expression reads."""
        return self.expr.meta.root_names()


def _ticker_starts() -> pl.Expr:
    return (pl.col(TICKER) != pl.col(TICKER).shift(1)).fill_null(True)


def row_in_ticker() -> pl.Expr:
    """0-based row number inside each ticker, for a frame sorted by ticker.

    Computed without a window function: the global row index minus the index where the
    current ticker started.
    """
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    ticker_start = pl.when(_ticker_starts()).then(index).forward_fill()
    return (index - ticker_start).alias(ROW_IN_TICKER)


def ticker_id() -> pl.Expr:
    """A sorted integer id per ticker (0, 1, ...), for a frame sorted by ticker."""
    return (_ticker_starts().cum_sum() - 1).cast(pl.UInt32).set_sorted().alias(TICKER_ID)


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
        expr = expr.over(TICKER)
    elif not feature.pointwise:
        expr = expr.over(TICKER_ID)
    if feature.warmup > 0:
        expr = pl.when(pl.col(ROW_IN_TICKER) >= feature.warmup).then(expr)
    return expr.cast(feature.dtype).alias(feature.name)


def apply_features(
    frame: pl.LazyFrame, features: Sequence[Feature], *, engine: Engine = "fast"
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

    Returns
    -------
    pl.LazyFrame
        ``frame`` plus one column per public feature.
    """
    if engine not in ("fast", "over"):
        msg = f"`engine` must be 'fast' or 'over', got `engine={engine!r}`"
        raise ConfigError(msg)
    columns = frame.collect_schema().names()
    out = frame.with_columns(row_in_ticker(), ticker_id())
    for stage in _stages(features, [*columns, ROW_IN_TICKER]):
        out = out.with_columns(_masked(f, engine) for f in stage)
    helpers = [f.name for f in features if f.name.startswith("_")]
    return out.drop([*helpers, ROW_IN_TICKER, TICKER_ID])
