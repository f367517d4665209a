"""Validation shared by the frozen config dataclasses."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from dataclasses import fields
from enum import StrEnum
from types import ModuleType
from typing import Any, Final

import numpy as np

from m002.exceptions import ConfigError

__all__ = [
    "EXTRA_INSTALL",
    "VALIDATE_MODES",
    "check_choice",
    "check_field_types",
    "check_int",
    "check_mode",
    "import_extra",
    "set_choice",
]

VALIDATE_MODES: Final = ("strict", "lenient", "off")
"""How input prices are checked: stop at the first bad row, drop bad rows, or not at all."""


def check_field_types(config: Any) -> None:
    """Each field of dataclass ``config`` has its annotated kind: str fields a string, bool
    fields a bool, int fields an int (not a bool), float fields a finite number (not a
    bool); a field annotated ``X | None`` may also be None (a rule that is off). Fields of
    other annotations (enums: see `set_choice`) are left to their class. Raises
    `ConfigError` naming the field and the value received."""
    for f in fields(config):
        value = getattr(config, f.name)
        kind = str(f.type)
        if kind.endswith(" | None"):
            if value is None:
                continue
            kind = kind.removesuffix(" | None")
        if kind == "str":
            if not isinstance(value, str):
                msg = f"`{f.name}` must be a string, got `{f.name}={value!r}`"
                raise ConfigError(msg)
        elif kind == "bool":
            if not isinstance(value, bool):
                msg = f"`{f.name}` must be a bool, got `{f.name}={value!r}`"
                raise ConfigError(msg)
        elif kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                msg = f"`{f.name}` must be an int, got `{f.name}={value!r}`"
                raise ConfigError(msg)
        elif kind == "float":
            if not isinstance(value, int | float) or isinstance(value, bool):
                msg = f"`{f.name}` must be a number, got `{f.name}={value!r}`"
                raise ConfigError(msg)
            if not math.isfinite(value):
                msg = f"`{f.name}` must be finite, got `{f.name}={value!r}`"
                raise ConfigError(msg)


def check_choice(name: str, value: object, allowed: Iterable[str]) -> None:
    """`ConfigError` unless ``value`` is one of the strings ``allowed`` (a registry's keys,
    a tuple of names), naming the field and the choices."""
    choices = list(allowed)
    if not (isinstance(value, str) and value in choices):
        listed = ", ".join(map(repr, choices))
        msg = f"`{name}` must be one of {listed}, got `{name}={value!r}`"
        raise ConfigError(msg)


EXTRA_INSTALL: Final = "pip install 'm002[experiments]'"
"""How to get the packages of the spec's extension points (the ``experiments`` extra)."""


def import_extra(module: str, *, needed_by: str) -> ModuleType:
    """The module ``module`` of the ``experiments`` extra (imbalanced-learn, hmmlearn,
    xgboost), imported.

    Raises
    ------
    ConfigError
        If it cannot be imported, naming the setting that needs it (``needed_by``, e.g.
        ``"`model='xgboost'`"``) and `EXTRA_INSTALL`.
    """
    try:
        importlib.import_module(module.partition(".")[0])  # the package, then its module
        return importlib.import_module(module)
    except ImportError as error:
        msg = f"{needed_by} needs the `{module}` package, which is not installed: {EXTRA_INSTALL}"
        raise ConfigError(msg) from error


def set_choice(config: Any, name: str, kind: type[StrEnum]) -> None:
    """Replace the string in field ``name`` of frozen dataclass ``config`` by its member of
    the StrEnum ``kind`` (a TOML file gives strings, code may give members); anything else,
    a member of another enum with the same string included, is a `ConfigError` naming the
    field and the choices."""
    value = getattr(config, name)
    member = next((m for m in kind if m.value == value), None)
    # a member of another choice with the same string ("spec") is a mix-up, not a match
    if member is None or (isinstance(value, StrEnum) and not isinstance(value, kind)):
        choices = ", ".join(repr(m.value) for m in kind)
        msg = f"`{name}` must be one of {choices}, got `{name}={value!r}`"
        raise ConfigError(msg)
    object.__setattr__(config, name, member)


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
