"""The canonical Silver schema every layer reads (DESIGN.md)."""

from __future__ import annotations

from typing import Final

import polars as pl

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
