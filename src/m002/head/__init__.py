"""Layer 2: the LightGBM multi-task head (spec section 3)."""

from __future__ import annotations

from m002.head._head import (
    HEAD_FEATURES,
    HEAD_TARGETS,
    PRED_COLUMNS,
    MultiTaskHead,
    RegressionLoss,
)
from m002.head._metrics import daily_ic, head_metrics
from m002.head._normalize import FillMissing, Normalize

__all__ = [
    "HEAD_FEATURES",
    "HEAD_TARGETS",
    "PRED_COLUMNS",
    "FillMissing",
    "MultiTaskHead",
    "Normalize",
    "RegressionLoss",
    "daily_ic",
    "head_metrics",
]
