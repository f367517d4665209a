"""Feature sets v1, v2, v3 and m002 (spec section 1), Qlib's Alpha158 (alpha158) and the union
m002+alpha158, as polars expressions."""

from __future__ import annotations

from m002.features._build import (
    FEATURE_COLUMNS,
    IS_WARMUP,
    add_features,
    add_m002_features,
    build_dataset,
)
from m002.features._engine import Feature, apply_features, ticker_chunks
from m002.features._sets import FEATURE_SETS, feature_names, feature_set, longest_warmup

__all__ = [
    "FEATURE_COLUMNS",
    "FEATURE_SETS",
    "IS_WARMUP",
    "Feature",
    "add_features",
    "add_m002_features",
    "apply_features",
    "build_dataset",
    "feature_names",
    "feature_set",
    "longest_warmup",
    "ticker_chunks",
]
