"""How large and how old the cache may grow: the size bound and its setting, and the parsers
of the sizes (``5GB``) and durations (``30d``) that the environment and the CLI give."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from datetime import timedelta

from m002.exceptions import ConfigError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_BYTES_ENV",
    "default_max_bytes",
    "format_size",
    "parse_duration",
    "parse_size",
]

MAX_BYTES_ENV = "M002_CACHE_MAX_BYTES"
"""Environment variable that overrides `DEFAULT_MAX_BYTES`: a size such as ``20GB``."""

DEFAULT_MAX_BYTES = 5_000_000_000
"""The size (5 GB) a cache is pruned back to after each write, unless told otherwise."""

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_NUMBER_UNIT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)


def _amount(value: object, units: Mapping[str, int]) -> float | None:
    """A number times its unit's size from `units` (keys lower case), or None if `value` is
    not a non-negative number followed by one of them."""
    match = _NUMBER_UNIT.fullmatch(value) if isinstance(value, str) else None
    unit = units.get(match.group(2).lower()) if match else None
    return None if match is None or unit is None else float(match.group(1)) * unit


def parse_size(value: str | int, name: str) -> int:
    """Bytes from a size: ``5GB``, ``500MB``, ``1.5G``, ``2GiB`` or a plain number of bytes.

    K, M, G and T (with or without B) are powers of 1000; KiB, MiB, GiB and TiB powers of
    1024; case is ignored.

    Parameters
    ----------
    value : str | int
        The size.
    name : str
        How the caller names the setting, for the error (``--max-size``).

    Returns
    -------
    int
        The number of bytes, rounded down.

    Raises
    ------
    ConfigError
        If `value` is not such a size, naming `name` and what was received.

    Examples
    --------
    >>> parse_size("1.5G", "--max-size")
    1500000000
    >>> parse_size("2KiB", "--max-size")
    2048
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    amount = _amount(value, _SIZE_UNITS)
    if amount is None:
        msg = (
            f"`{name}` must be a size such as 5GB, 500MB, 1.5G, 2GiB or a number of bytes, "
            f"got `{name}={value!r}`"
        )
        raise ConfigError(msg)
    return math.floor(amount)


def parse_duration(value: str, name: str) -> timedelta:
    """A duration from a number and a unit: ``30d``, ``12h``, ``90m``, ``45s``, ``2w``.

    Parameters
    ----------
    value : str
        The duration.
    name : str
        How the caller names the setting, for the error (``--older-than``).

    Returns
    -------
    timedelta

    Raises
    ------
    ConfigError
        If `value` is not such a duration, naming `name` and what was received.

    Examples
    --------
    >>> parse_duration("1.5d", "--older-than")
    datetime.timedelta(days=1, seconds=43200)
    """
    seconds = _amount(value, _DURATION_UNITS)
    if seconds is None:
        msg = (
            f"`{name}` must be a number and a unit (s, m, h, d or w) such as 30d or 12h, "
            f"got `{name}={value!r}`"
        )
        raise ConfigError(msg)
    return timedelta(seconds=seconds)


def format_size(size: int) -> str:
    """A byte count for people: ``1.5 GB`` (powers of 1000, as `parse_size` reads them).

    Examples
    --------
    >>> format_size(1_500_000_000)
    '1.5 GB'
    >>> format_size(999)
    '999 B'
    """
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if round(abs(amount), 1) < 1000:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"


def default_max_bytes() -> int:
    """The size bound: ``$M002_CACHE_MAX_BYTES`` if set and non-empty, else 5 GB.

    The environment is read at call time.

    Raises
    ------
    ConfigError
        If the variable is set to something that is not a size.
    """
    value = os.environ.get(MAX_BYTES_ENV, "").strip()
    return parse_size(value, MAX_BYTES_ENV) if value else DEFAULT_MAX_BYTES
