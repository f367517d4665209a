"""Orchestration: the whole M002 system, its config and its stage cache (spec sections 4-5)."""

from __future__ import annotations

from m002.pipeline._architecture import OUTPUT_COLUMNS, M002FullArchitecture, read_prices
from m002.pipeline._cache import (
    CACHE_DIR_ENV,
    DEFAULT_CACHE_DIR,
    DEFAULT_MAX_BYTES,
    MAX_BYTES_ENV,
    PruneResult,
    StageCache,
    StageKey,
    code_fingerprint,
    config_fingerprint,
    default_cache_dir,
    files_fingerprint,
    format_size,
    frame_fingerprint,
    parse_duration,
    parse_size,
)
from m002.pipeline._config import (
    CrossFitConfig,
    HeadParams,
    M002Config,
    RegimeParams,
    check_known_keys,
    config_from_dict,
    config_to_dict,
    section_from_dict,
)
from m002.pipeline._crossfit import RegimeFits, block_plan, regime_block_plan, regime_gap

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_MAX_BYTES",
    "MAX_BYTES_ENV",
    "OUTPUT_COLUMNS",
    "CrossFitConfig",
    "HeadParams",
    "M002Config",
    "M002FullArchitecture",
    "PruneResult",
    "RegimeFits",
    "RegimeParams",
    "StageCache",
    "StageKey",
    "block_plan",
    "check_known_keys",
    "code_fingerprint",
    "config_fingerprint",
    "config_from_dict",
    "config_to_dict",
    "default_cache_dir",
    "files_fingerprint",
    "format_size",
    "frame_fingerprint",
    "parse_duration",
    "parse_size",
    "read_prices",
    "regime_block_plan",
    "regime_gap",
    "section_from_dict",
]
