"""Checks of the arguments the data layer's public functions take."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from m002._checks import check_int
from m002._dates import parse_date
from m002.exceptions import ConfigError

__all__ = ["as_tickers", "check_min_rows", "date_range"]


def check_min_rows(min_rows: object) -> None:
    """``min_rows`` is None or an int >= 1."""
    if min_rows is not None:
        check_int("min_rows", min_rows, 1)


def date_range(start: object, end: object) -> tuple[dt.date | None, dt.date | None]:
    """``start`` and ``end`` as dates (either may be unset), ``start`` not after ``end``."""
    lo, hi = parse_date(start, "start"), parse_date(end, "end")
    if lo is not None and hi is not None and lo > hi:
        msg = f"`start` must not be after `end`, got `start={lo}`, `end={hi}`"
        raise ConfigError(msg)
    return lo, hi


def as_tickers(tickers: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """The tickers asked for, each once, in the order given; None for all."""
    if tickers is None:
        return None
    items = (tickers,) if isinstance(tickers, str) else tuple(tickers)
    if not items or not all(isinstance(t, str) and t for t in items):
        msg = f"`tickers` must be a non-empty list of ticker strings, got `tickers={tickers!r}`"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(items))
