"""Layer 1: sequences over the feature matrix and the regime classifier (spec section 2).

Its parts are chosen by name (spec section 6): the network (`SEQUENCE_MODELS`: the LSTM, a
transformer), the loss (`LOSSES`), how each epoch's windows are drawn (`SAMPLERS`), the
curriculum (`CURRICULA`), the learning rate's schedule (`LR_SCHEDULES`) and, optionally,
pseudo-labels of no-state windows.

The classifier's ``state_prob_<state>`` are probabilities at the states' real frequencies: the
five sum to at most 1, and what they leave is the probability of no state (the outcome of rows
that meet no state's condition). Its quality is reported on every row it scores whose outcome
is known (`regime_quality`), next to the figures on the labelled rows alone.
"""

from __future__ import annotations

from m002.regime._baselines import last_day_logistic_baseline, majority_baseline
from m002.regime._calibration import OutcomeCalibration
from m002.regime._classifier import DEFAULT_SEQUENCE_FEATURES, RegimeClassifier, time_split
from m002.regime._curriculum import CURRICULA, pacing_share
from m002.regime._losses import LOSSES, FocalLoss
from m002.regime._metrics import (
    classification_metrics,
    outcome_metrics,
    outcome_probabilities,
    reliability_table,
)
from m002.regime._model import (
    Batch,
    RegimeLSTM,
    RegimeSequenceDataset,
    SequenceNetwork,
    balanced_batches,
    balanced_collate_fn,
    balanced_order,
)
from m002.regime._networks import SEQUENCE_MODELS, RegimeTransformer
from m002.regime._outcomes import (
    CLASS_NAMES,
    NO_STATE,
    NO_STATE_ID,
    OUTCOME_NAMES,
    STATE_PROB_PREFIX,
    regime_outcome,
    state_prob_columns,
)
from m002.regime._pseudo_labels import pseudo_labels
from m002.regime._quality import regime_quality
from m002.regime._sampling import SAMPLERS
from m002.regime._schedules import LR_SCHEDULES, lr_factor
from m002.regime._sequences import (
    SequenceSet,
    build_sequences,
    longest_usable_run,
    window_indices,
)

__all__ = [
    "CLASS_NAMES",
    "CURRICULA",
    "DEFAULT_SEQUENCE_FEATURES",
    "LOSSES",
    "LR_SCHEDULES",
    "NO_STATE",
    "NO_STATE_ID",
    "OUTCOME_NAMES",
    "SAMPLERS",
    "SEQUENCE_MODELS",
    "STATE_PROB_PREFIX",
    "Batch",
    "FocalLoss",
    "OutcomeCalibration",
    "RegimeClassifier",
    "RegimeLSTM",
    "RegimeSequenceDataset",
    "RegimeTransformer",
    "SequenceNetwork",
    "SequenceSet",
    "balanced_batches",
    "balanced_collate_fn",
    "balanced_order",
    "build_sequences",
    "classification_metrics",
    "last_day_logistic_baseline",
    "longest_usable_run",
    "lr_factor",
    "majority_baseline",
    "outcome_metrics",
    "outcome_probabilities",
    "pacing_share",
    "pseudo_labels",
    "regime_outcome",
    "regime_quality",
    "reliability_table",
    "state_prob_columns",
    "time_split",
    "window_indices",
]
