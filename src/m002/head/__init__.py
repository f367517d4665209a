"""Layer 2: the multi-task head of gradient-boosted trees (spec section 3)."""

from __future__ import annotations

from m002.head._backends import HEAD_BACKENDS, HeadBackend
from m002.head._head import (
    HEAD_FEATURES,
    HEAD_TARGETS,
    PRED_COLUMNS,
    MultiTaskHead,
    RegressionLoss,
    ReturnStopping,
)
from m002.head._metrics import daily_ic, head_metrics, per_date_ic
from m002.head._normalize import FillMissing, Normalize
from m002.head._sampling import HEAD_SAMPLERS

__all__ = [
    "HEAD_BACKENDS",
    "HEAD_FEATURES",
    "HEAD_SAMPLERS",
    "HEAD_TARGETS",
    "PRED_COLUMNS",
    "FillMissing",
    "HeadBackend",
    "MultiTaskHead",
    "Normalize",
    "RegressionLoss",
    "ReturnStopping",
    "daily_ic",
    "head_metrics",
    "per_date_ic",
]
