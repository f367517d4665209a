"""Layer 1: sequences over the feature matrix and the LSTM regime classifier (spec section 2)."""

from __future__ import annotations

from m002.regime._baselines import last_day_logistic_baseline, majority_baseline
from m002.regime._classifier import (
    DEFAULT_SEQUENCE_FEATURES,
    STATE_PROB_PREFIX,
    RegimeClassifier,
    state_prob_columns,
    time_split,
)
from m002.regime._metrics import classification_metrics
from m002.regime._model import RegimeLSTM, RegimeSequenceDataset, balanced_collate_fn
from m002.regime._sequences import SequenceSet, build_sequences, window_indices

__all__ = [
    "DEFAULT_SEQUENCE_FEATURES",
    "STATE_PROB_PREFIX",
    "RegimeClassifier",
    "RegimeLSTM",
    "RegimeSequenceDataset",
    "SequenceSet",
    "balanced_collate_fn",
    "build_sequences",
    "classification_metrics",
    "last_day_logistic_baseline",
    "majority_baseline",
    "state_prob_columns",
    "time_split",
    "window_indices",
]
