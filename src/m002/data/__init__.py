"""Silver data layer: load, validate and synthesise daily OHLCV in the canonical schema."""

from __future__ import annotations

from m002.data._loader import SilverData, load_silver, read_silver
from m002.data._synthetic import REGIME_NAMES, SyntheticData, generate_synthetic, write_synthetic
from m002.data._validation import RULES, ValidationIssue, ValidationReport, check_silver

__all__ = [
    "REGIME_NAMES",
    "RULES",
    "SilverData",
    "SyntheticData",
    "ValidationIssue",
    "ValidationReport",
    "check_silver",
    "generate_synthetic",
    "load_silver",
    "read_silver",
    "write_synthetic",
]
