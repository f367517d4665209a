"""Metrics of layer 1 on numpy arrays: classification figures shared with the baselines, and
the figures of the six-outcome probabilities (proper scores, calibration in the large and the
reliability table)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from m002.exceptions import ConfigError

__all__ = [
    "classification_metrics",
    "outcome_metrics",
    "outcome_probabilities",
    "reliability_table",
]

# a probability of exactly 0 for the outcome that happened would make the log loss infinite
_MIN_PROB = 1e-15


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # a short test block may lack a state the model predicts: the mean recall over the states
    # present is still the right figure, so sklearn's warning about it is noise here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1, per-class precision/recall/F1/support and the
    confusion matrix (rows: true class, columns: predicted), as plain JSON-able values."""
    labels = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n": int(y_true.size),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def outcome_probabilities(state_probs: np.ndarray) -> np.ndarray:
    """The five state probabilities ``(n, 5)`` and the probability of no state, what they leave
    of 1 (never below 0): ``(n, 6)`` float64.

    Examples
    --------
    >>> outcome_probabilities(np.array([[0.1, 0.2, 0.0, 0.05, 0.05]])).round(2).tolist()
    [[0.1, 0.2, 0.0, 0.05, 0.05, 0.6]]
    """
    probs = np.asarray(state_probs, dtype=np.float64)
    rest = np.clip(1.0 - probs.sum(axis=1, keepdims=True), 0.0, 1.0)
    return np.hstack([probs, rest])


def outcome_metrics(
    y_true: np.ndarray, probs: np.ndarray, outcome_names: list[str]
) -> dict[str, Any]:
    """Figures of outcome probabilities against the outcomes that happened.

    Parameters
    ----------
    y_true : np.ndarray
        ``(n,)`` int outcome ids (index into ``outcome_names``).
    probs : np.ndarray
        ``(n, k)`` probabilities of the ``k`` outcomes (rows sum to 1).
    outcome_names : list of str

    Returns
    -------
    dict
        `classification_metrics` of the most likely outcome (accuracy, balanced accuracy,
        macro F1 over all ``k`` outcomes, per outcome, confusion matrix); ``log_loss`` (mean
        negative log-likelihood) and ``brier`` (mean squared distance to the one-hot outcome,
        summed over outcomes); ``frequency`` and ``mean_probability`` per outcome (a
        calibrated model has them close); ``outcomes``. Only ``n`` when there are no rows.
    """
    n = int(y_true.size)
    if n == 0:
        return {"n": 0}
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    k = len(outcome_names)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0
    picked = np.clip(probs[np.arange(n), y], _MIN_PROB, 1.0)
    frequency = np.bincount(y, minlength=k) / n
    return {
        **classification_metrics(y, probs.argmax(axis=1), outcome_names),
        "outcomes": list(outcome_names),
        "log_loss": float(-np.log(picked).mean()),
        "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()),
        "frequency": dict(zip(outcome_names, frequency.tolist(), strict=True)),
        "mean_probability": dict(zip(outcome_names, probs.mean(axis=0).tolist(), strict=True)),
    }


def reliability_table(
    y_true: np.ndarray, probs: np.ndarray, outcome_names: list[str], *, n_bins: int = 10
) -> dict[str, Any]:
    """Per outcome: rows binned by predicted probability -> mean predicted, observed frequency
    and count of each bin (equal-width bins on [0, 1], empty bins left out).

    Parameters
    ----------
    y_true : np.ndarray
        ``(n,)`` int outcome ids.
    probs : np.ndarray
        ``(n, k)`` outcome probabilities.
    outcome_names : list of str
    n_bins : int
        Bins of width ``1 / n_bins``; a probability of exactly 1 falls in the last.

    Returns
    -------
    dict
        ``n_bins``, ``n`` and ``outcomes``: per outcome name, ``mean_probability`` and
        ``frequency`` over all rows and ``bins``, a list of ``{"p_mean", "observed", "n"}``
        from the lowest bin up. On the diagonal ``p_mean == observed`` the probabilities mean
        what they say.

    Examples
    --------
    >>> table = reliability_table(
    ...     np.array([0, 1, 1, 1]), np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]]),
    ...     ["a", "b"], n_bins=2,
    ... )
    >>> [(round(b["p_mean"], 2), b["observed"], b["n"]) for b in table["outcomes"]["a"]["bins"]]
    [(0.15, 0.0, 2), (0.85, 0.5, 2)]
    """
    if n_bins < 1:
        msg = f"`n_bins` must be >= 1, got `n_bins={n_bins}`"
        raise ConfigError(msg)
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    n = int(y.size)
    outcomes: dict[str, Any] = {}
    for k, name in enumerate(outcome_names):
        p = probs[:, k]
        hit = (y == k).astype(np.float64)
        bins = np.clip(np.floor(p * n_bins), 0, n_bins - 1).astype(np.int64)
        count = np.bincount(bins, minlength=n_bins)
        p_sum = np.bincount(bins, weights=p, minlength=n_bins)
        hit_sum = np.bincount(bins, weights=hit, minlength=n_bins)
        outcomes[name] = {
            "mean_probability": float(p.mean()) if n else None,
            "frequency": float(hit.mean()) if n else None,
            "bins": [
                {"p_mean": float(p_sum[b] / count[b]), "observed": float(hit_sum[b] / count[b]),
                 "n": int(count[b])}
                for b in np.flatnonzero(count).tolist()
            ],
        }  # fmt: skip
    return {"n_bins": n_bins, "n": n, "outcomes": outcomes}
