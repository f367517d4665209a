"""Baselines layer 1 must beat: the majority class and a logistic regression on the last day."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from m002.regime._metrics import classification_metrics
from m002.regime._sequences import SequenceSet

__all__ = ["last_day_logistic_baseline", "majority_baseline"]


def majority_baseline(
    train: SequenceSet, valid: SequenceSet, class_names: list[str]
) -> dict[str, Any]:
    """Predict the most frequent training class for every validation window."""
    majority = int(np.bincount(train.require_labels()).argmax())
    predicted = np.full(len(valid), majority)
    return classification_metrics(valid.require_labels(), predicted, class_names)


def last_day_logistic_baseline(
    train: SequenceSet, valid: SequenceSet, class_names: list[str], *, seed: int = 0
) -> dict[str, Any]:
    """Multinomial logistic regression on the features of each window's last day only
    (standardised on the training rows, classes balanced like the LSTM's batches)."""
    x_train, x_valid = train.features[train.ends], valid.features[valid.ends]
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    model.fit(scaler.transform(x_train), train.require_labels())
    predicted = model.predict(scaler.transform(x_valid))
    return classification_metrics(valid.require_labels(), predicted, class_names)
