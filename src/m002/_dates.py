"""The one date parser and the one trading-rows -> calendar-days conversion of m002."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Final

from m002.exceptions import ConfigError

__all__ = ["calendar_days", "parse_date", "parse_period"]

_PERIOD: Final = re.compile(r"^\s*(\d+)\s*([ymd])\s*$")


def parse_date(value: object, name: str) -> dt.date | None:
    """A date from a `datetime.date`, a `datetime.datetime` (its date) or ``'YYYY-MM-DD'``.

    None and the empty string give None (the option is unset). Anything else, including a
    well-formed string naming no real day (``'2012-13-01'``) or a word (``'yesterday'``), is a
    `ConfigError` naming the parameter: "`start` must be a date YYYY-MM-DD, got
    `start='2012-13-01'`".

    Examples
    --------
    >>> parse_date("2021-04-16", "asof")
    datetime.date(2021, 4, 16)
    >>> parse_date(None, "start") is None
    True
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text) if len(text) == 10 else _no_date(value, name)
        except ValueError:
            pass
    return _no_date(value, name)


def _no_date(value: object, name: str) -> dt.date:
    msg = f"`{name}` must be a date YYYY-MM-DD, got `{name}={value!r}`"
    raise ConfigError(msg)


def parse_period(value: object, name: str) -> tuple[int, str]:
    """``(n, unit)`` of a period such as ``'1y'``, ``'6m'`` or ``'126d'`` (years, months,
    trading dates; n >= 1): the one spelling of "how long a block is" (walk-forward test
    blocks, layer-1 cross-fit blocks). Anything else is a `ConfigError` naming the option.

    Examples
    --------
    >>> parse_period("6m", "retrain_every")
    (6, 'm')
    """
    match = _PERIOD.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        msg = (
            f"`{name}` must look like '1y', '6m' or '126d' (years, months, trading dates; "
            f"n >= 1), got `{name}={value!r}`"
        )
        raise ConfigError(msg)
    return int(match.group(1)), match.group(2)


def calendar_days(trading_rows: int) -> int:
    """Calendar days that surely hold ``trading_rows`` trading days.

    Five trading days a week, 25% more for holidays and exchange closures, and ten days
    more: every "read this much history before a date" in m002 goes through here.

    Examples
    --------
    >>> calendar_days(100)
    185
    """
    return math.ceil(trading_rows * 7 / 5 * 1.25) + 10
