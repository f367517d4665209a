"""Domain exceptions of m002.

Every error a user can trigger with bad input is one of these: they subclass `ValueError`
so that generic handlers keep working, and carry enough context (file, ticker, row, rule)
to fix the input without reading the code.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DamagedFileError",
    "DataValidationError",
    "DecisionWarning",
    "M002Error",
    "NotFittedError",
    "OutputExistsError",
    "SchemaError",
]


class M002Error(ValueError):
    """Base class of every error m002 raises on purpose."""


class SchemaError(M002Error):
    """A table lacks a required column, or a column cannot be read as its canonical type."""


class DataValidationError(M002Error):
    """Input data breaks a validation rule (strict mode).

    Attributes
    ----------
    rule : str
        Name of the broken rule, e.g. ``"high_below_low"``.
    source : str | None
        File (or other source) where the offending row came from.
    ticker : str | None
        Ticker of the offending row.
    detail : str | None
        Row number and/or date and the offending values.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str,
        source: str | None = None,
        ticker: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.source = source
        self.ticker = ticker
        self.detail = detail


class ConfigError(M002Error):
    """A configuration value or option is invalid."""


class NotFittedError(M002Error, AttributeError):
    """A model was used for prediction before `fit` was called."""


class DamagedFileError(M002Error):
    """A file m002 wrote earlier (a model, a run, a manifest) is missing, truncated, altered or
    not the format it should be. The message names the file and what is wrong with it."""


class OutputExistsError(M002Error):
    """An output path holds something m002 may not replace (it did not write it)."""


class DecisionWarning(UserWarning):
    """Decisions were asked for that cannot all be given: a ticker left out (stale data, too
    little history) or a date moved to the last trading day. The warning says which and why."""
