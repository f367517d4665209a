"""Labels: layer-1 regime states by priority, with the look-ahead they use (spec 2.1)."""

from __future__ import annotations

from m002.labels._regime import (
    CONDITION_COLUMNS,
    ID_TO_STATE,
    LABEL_COLUMNS,
    PRIORITY,
    REGIME_LABEL_LOOKAHEAD,
    REGIME_STATE,
    REGIME_STATE_ID,
    STATE_TO_ID,
    UNLABELLED,
    RegimeLabelConfig,
    RegimeState,
    assign_regime_labels,
    label_distribution,
    label_distribution_by_year,
    required_columns,
)
from m002.labels._targets import (
    FUTURE_DD_PCT,
    FUTURE_RET_PCT,
    LABEL_REBOUND_BIN,
    TARGET_COLUMNS,
    TARGET_HORIZON,
    TargetConfig,
    compute_future_returns,
)

__all__ = [
    "CONDITION_COLUMNS",
    "FUTURE_DD_PCT",
    "FUTURE_RET_PCT",
    "ID_TO_STATE",
    "LABEL_COLUMNS",
    "LABEL_REBOUND_BIN",
    "PRIORITY",
    "REGIME_LABEL_LOOKAHEAD",
    "REGIME_STATE",
    "REGIME_STATE_ID",
    "STATE_TO_ID",
    "TARGET_COLUMNS",
    "TARGET_HORIZON",
    "UNLABELLED",
    "RegimeLabelConfig",
    "RegimeState",
    "TargetConfig",
    "assign_regime_labels",
    "compute_future_returns",
    "label_distribution",
    "label_distribution_by_year",
    "required_columns",
]
