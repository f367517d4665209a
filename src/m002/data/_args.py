"""Checks of the arguments the data layer's public functions take."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

import numpy as np

from m002._dates import parse_date
from m002.exceptions import ConfigError

__all__ = ["MODES", "as_tickers", "check_int", "check_min_rows", "check_mode", "date_range"]

MODES: Final = ("strict", "lenient", "off")


def check_int(name: str, value: object, minimum: int) -> None:
    """Raise a `ConfigError` unless ``value`` is an int (numpy ints too, not a bool) of at least
    ``minimum``: "`n_days` must be >= 60, got `n_days=10`"."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        msg = f"`{name}` must be an int >= {minimum}, got `{name}={value!r}`"
        raise ConfigError(msg)
    if value < minimum:
        msg = f"`{name}` must be >= {minimum}, got `{name}={value!r}`"
        raise ConfigError(msg)


def check_mode(validate: object) -> None:
    """``validate`` is one of :data:`MODES`."""
    if validate not in MODES:
        msg = (
            f"`validate` must be one of {', '.join(map(repr, MODES))}, got `validate={validate!r}`"
        )
        raise ConfigError(msg)


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
