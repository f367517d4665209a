"""The frame as a dense (dates x tickers) grid: where each row sits, and columns read into it.

Dates are the sorted distinct dates of the frame, tickers its sorted distinct tickers: the
grid of a shorter history is a block of the full one's, and ties between names always break
the same way (by ticker).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from m002._polars import finite_or_null
from m002._schema import DATE, TICKER
from m002.exceptions import SchemaError

__all__ = ["Panel", "quantile_expr", "read_panel"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Panel:
    """Where each input row lies on the grid (``row_date``, ``row_ticker``: its indices)."""

    row_date: Ints
    row_ticker: Ints
    n_dates: int
    n_tickers: int

    def grid(self, values: Floats, fill: float = np.nan) -> Floats:
        """The rows' ``values`` on the grid, ``fill`` where a ticker has no row on a date."""
        out = np.full((self.n_dates, self.n_tickers), fill)
        out[self.row_date, self.row_ticker] = values
        return out

    def present(self) -> npt.NDArray[np.bool_]:
        """True where a ticker has a row on a date."""
        out = np.zeros((self.n_dates, self.n_tickers), dtype=bool)
        out[self.row_date, self.row_ticker] = True
        return out

    def rows(self, grid: Floats) -> Floats:
        """The grid's values at the input rows, in the input's order."""
        return grid[self.row_date, self.row_ticker]


def read_panel(frame: pl.DataFrame) -> Panel:
    """Index the rows of ``frame`` on its (dates x tickers) grid.

    Raises
    ------
    SchemaError
        If a ticker or date is null, or a (ticker, date) pair occurs twice.
    """
    for name in (TICKER, DATE):
        nulls = frame[name].null_count()
        if nulls:
            msg = f"the portfolio layer needs a {name} on every row, got {nulls} null {name}(s)"
            raise SchemaError(msg)
    keys = frame.select(
        (pl.col(DATE).rank("dense") - 1).cast(pl.Int64).alias("d"),
        (pl.col(TICKER).rank("dense") - 1).cast(pl.Int64).alias("t"),
    )
    row_date = keys["d"].to_numpy().astype(np.int64)
    row_ticker = keys["t"].to_numpy().astype(np.int64)
    n_dates = int(row_date.max()) + 1 if frame.height else 0
    n_tickers = int(row_ticker.max()) + 1 if frame.height else 0
    cell = row_date * n_tickers + row_ticker
    count = np.bincount(cell, minlength=n_dates * n_tickers)
    repeated = count[cell] > 1
    if repeated.any():
        first = frame.row(int(np.argmax(repeated)), named=True)
        msg = (
            f"the portfolio layer needs one row per (ticker, date), got {int(repeated.sum())} "
            f"rows on repeated pairs (first: {first[TICKER]} {first[DATE]})"
        )
        raise SchemaError(msg)
    return Panel(row_date, row_ticker, n_dates, n_tickers)


def quantile_expr(score: str) -> pl.Expr:
    """Cross-sectional rank quantile of ``score`` per date, in [0, 1].

    ``(rank - 1) / (n - 1)`` with ``rank`` the average rank (ties share it) among the ``n``
    rows of the date whose score is finite; null where the score is not finite or ``n < 2``
    (one name has no rank to speak of). Ranks and their halves are exact in float, so the
    quantile of a row does not depend on anything but its date's scores.
    """
    finite = finite_or_null(score)
    n = finite.count().over(DATE)
    rank = finite.rank("average").over(DATE)
    return pl.when(n >= 2).then((rank - 1.0) / (n - 1).cast(pl.Float64))
