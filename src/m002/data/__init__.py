"""Silver data layer: load, validate and synthesise daily OHLCV in the canonical schema."""

from __future__ import annotations

from m002.data._frame import validate_frame
from m002.data._loader import check_silver, load_silver, read_silver
from m002.data._reader import SilverData
from m002.data._synthetic import (
    REGIME_NAMES,
    REGIMES_FILE,
    SyntheticData,
    generate_synthetic,
    write_synthetic,
)
from m002.data._timestamps import TimestampWarning
from m002.data._validation import (
    LENIENT_HINT,
    RULES,
    WARNING_RULES,
    ValidationIssue,
    ValidationReport,
)

__all__ = [
    "LENIENT_HINT",
    "REGIMES_FILE",
    "REGIME_NAMES",
    "RULES",
    "WARNING_RULES",
    "SilverData",
    "SyntheticData",
    "TimestampWarning",
    "ValidationIssue",
    "ValidationReport",
    "check_silver",
    "generate_synthetic",
    "load_silver",
    "read_silver",
    "validate_frame",
    "write_synthetic",
]
