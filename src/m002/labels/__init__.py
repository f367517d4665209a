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

__all__ = [
    "CONDITION_COLUMNS",
    "ID_TO_STATE",
    "LABEL_COLUMNS",
    "PRIORITY",
    "REGIME_LABEL_LOOKAHEAD",
    "REGIME_STATE",
    "REGIME_STATE_ID",
    "STATE_TO_ID",
    "UNLABELLED",
    "RegimeLabelConfig",
    "RegimeState",
    "assign_regime_labels",
    "label_distribution",
    "label_distribution_by_year",
    "required_columns",
]
