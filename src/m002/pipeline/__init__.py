"""Orchestration: the whole M002 system, its config and its stage cache (spec sections 4-5)."""

from __future__ import annotations

from m002.pipeline._architecture import OUTPUT_COLUMNS, M002FullArchitecture, read_prices
from m002.pipeline._cache import StageCache, StageKey, default_cache_dir
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
from m002.pipeline._crossfit import crossfit_regime_probabilities, fold_plan

__all__ = [
    "OUTPUT_COLUMNS",
    "CrossFitConfig",
    "HeadParams",
    "M002Config",
    "M002FullArchitecture",
    "RegimeParams",
    "StageCache",
    "StageKey",
    "check_known_keys",
    "config_from_dict",
    "config_to_dict",
    "crossfit_regime_probabilities",
    "default_cache_dir",
    "fold_plan",
    "read_prices",
    "section_from_dict",
]
