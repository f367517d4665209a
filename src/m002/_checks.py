"""Validation shared by the frozen config dataclasses."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from m002.exceptions import ConfigError

__all__ = ["check_field_types"]


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
