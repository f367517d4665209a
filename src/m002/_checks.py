"""Validation shared by the frozen config dataclasses."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, Final

import numpy as np

from m002.exceptions import ConfigError

__all__ = ["VALIDATE_MODES", "check_field_types", "check_int", "check_mode"]

VALIDATE_MODES: Final = ("strict", "lenient", "off")
"""How input prices are checked: stop at the first bad row, drop bad rows, or not at all."""


def check_field_types(config: Any) -> None:
    """Each field of dataclass ``config`` has its annotated kind: str fields a string, bool
    fields a bool, int fields an int (not a bool), the rest a finite number (not a bool).
    Raises `ConfigError` naming the field and the value received."""
    for f in fields(config):
        value = getattr(config, f.name)
        if f.type == "str":
            if not isinstance(value, str):
                msg = f"`{f.name}` must be a string, got `{f.name}={value!r}`"
                raise ConfigError(msg)
        elif f.type == "bool":
            if not isinstance(value, bool):
                msg = f"`{f.name}` must be a bool, got `{f.name}={value!r}`"
                raise ConfigError(msg)
        elif f.type == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                msg = f"`{f.name}` must be an int, got `{f.name}={value!r}`"
                raise ConfigError(msg)
        elif not isinstance(value, int | float) or isinstance(value, bool):
            msg = f"`{f.name}` must be a number, got `{f.name}={value!r}`"
            raise ConfigError(msg)
        elif not math.isfinite(value):
            msg = f"`{f.name}` must be finite, got `{f.name}={value!r}`"
            raise ConfigError(msg)


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
    """``validate`` is one of `VALIDATE_MODES`."""
    if validate not in VALIDATE_MODES:
        modes = ", ".join(map(repr, VALIDATE_MODES))
        msg = f"`validate` must be one of {modes}, got `validate={validate!r}`"
        raise ConfigError(msg)
