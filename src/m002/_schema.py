"""The canonical Silver schema every layer reads (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import polars as pl

from m002.exceptions import SchemaError

TICKER: Final = "ticker"
DATE: Final = "date"
PRICE_COLUMNS: Final = ("open", "high", "low", "close")
VOLUME: Final = "volume"
CANONICAL_COLUMNS: Final = (TICKER, DATE, *PRICE_COLUMNS, VOLUME)

CANONICAL_SCHEMA: Final[dict[str, pl.DataType]] = {
    TICKER: pl.String(),
    DATE: pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    VOLUME: pl.Float64(),
}


def require_columns(
    frame: pl.LazyFrame | pl.DataFrame, columns: Iterable[str], *, needed_by: str, hint: str
) -> None:
    """Raise one `SchemaError` naming every column of ``columns`` that ``frame`` lacks.

    The message reads "<needed_by> needs N column(s) the frame lacks: [...]; <hint>".
    """
    present = set(frame.collect_schema().names())
    missing = [c for c in columns if c not in present]
    if missing:
        msg = f"{needed_by} needs {len(missing)} column(s) the frame lacks: {missing}; {hint}"
        raise SchemaError(msg)


MAX_GAP_DAYS: Final = 10
"""Calendar days between two rows of one ticker beyond which its history is broken: a look-back
window (a feature, a layer-1 sequence) never spans such a gap. Long weekends and exchange
closures stay below it (the S&P sample's longest is 7 days, after 11 September 2001; a
Golden Week closure is 9); a trading halt of weeks or a ticker that left and came back is
above it."""
