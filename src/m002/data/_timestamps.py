"""Calendar dates from timestamp columns: the one rule of the data layer.

- A date column is taken as it is, and a naive datetime gives its date part.
- A datetime with a time zone gives its calendar date in that zone, so that an exchange-local
  stamp (the 16:00 close in ``America/New_York``) keeps its trading date.
- Except for the habit of some vendors of stamping daily bars at midnight UTC and storing them
  in the exchange's zone: 2020-01-06 00:00 UTC is 2020-01-05 19:00 in New York, a Sunday. A
  source (one file, or one frame) is read as UTC-stamped when every one of its timestamps is
  00:00:00 in UTC, or when its dates in its own zone put at least a tenth of its rows on a
  Saturday or Sunday and at least twice as many as its UTC dates do. A UTC-stamped source gives
  the UTC calendar date of each timestamp, and the reader warns with
  :class:`TimestampWarning`, naming the file or ticker and how many rows moved.

The decision is made per source, over all of its rows, before any date filter, so that reading
a part of a file gives the same dates as reading all of it.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import polars as pl

__all__ = ["UTC_MOVED", "TimestampWarning", "timestamp_date"]

UTC_MOVED: Final = "__m002_utc_moved"
"""Internal column: True on rows whose date is the UTC date and not the local one."""

_WEEKEND_SHARE: Final = 10
"""A source whose own-zone dates put at least 1/10 of its rows on a weekend..."""
_WEEKEND_RATIO: Final = 2
"""...and at least twice as many as its UTC dates do, is UTC-stamped."""


class TimestampWarning(UserWarning):
    """Timestamps were read by their UTC date, not their date in the column's own time zone,
    because they are daily bars stamped at midnight UTC (see :mod:`m002.data` for the rule)."""


def _utc_stamped(in_utc: pl.Expr, local: pl.Expr, utc: pl.Expr) -> pl.Expr:
    """One boolean for the whole source: are these daily bars stamped at midnight UTC?"""
    n = in_utc.count()
    all_midnight = (in_utc.dt.time() == pl.lit(dt.time(0))).sum() == n
    weekend_local = (local.dt.weekday() >= 6).sum()
    weekend_utc = (utc.dt.weekday() >= 6).sum()
    weekends = (weekend_local * _WEEKEND_SHARE >= n) & (
        weekend_utc * _WEEKEND_RATIO <= weekend_local
    )
    return (n > 0) & (all_midnight | weekends)


def timestamp_date(
    name: str, dtype: pl.Datetime, *, source: pl.Expr | None
) -> tuple[pl.Expr, pl.Expr | None]:
    """The calendar date of datetime column ``name`` by the rule of this module.

    Parameters
    ----------
    name : str
        The column.
    dtype : pl.Datetime
        Its type (with or without a time zone).
    source : pl.Expr or None
        What tells the sources apart when several files are scanned together (the decision
        is made per source); None when the rows are one source.

    Returns
    -------
    tuple
        The date expression, and an expression that is True where the UTC date was taken and
        differs from the local one (None when the column cannot be UTC-stamped: naive or UTC).
    """
    col = pl.col(name)
    if dtype.time_zone is None or dtype.time_zone == "UTC":
        return col.dt.date(), None
    local = col.dt.date()
    in_utc = col.dt.convert_time_zone("UTC")
    utc = in_utc.dt.date()
    stamped = _utc_stamped(in_utc, local, utc)
    if source is not None:
        stamped = stamped.over(source)
    date = pl.when(stamped).then(utc).otherwise(local)
    return date, (stamped & (utc != local)).fill_null(False)
