"""Pseudo-labels for layer 1 (self-training): no-state training windows that a first fit
places, with enough confidence, in one state are taught as that state in a second fit.

A no-state window is one whose outcome is known and met no state's condition
(`m002.regime.NO_STATE_ID`), often because it missed a threshold by a little; the first fit's
calibrated probabilities say which of them look like a state. Windows whose outcome is
unknown are never training windows, so they are never relabelled; nor is a state window,
nor any validation window.
"""

from __future__ import annotations

import numpy as np

from m002.regime._outcomes import NO_STATE_ID

__all__ = ["pseudo_labels"]


def pseudo_labels(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Training outcomes with each no-state window whose most likely state has probability
    at least ``threshold`` relabelled to that state.

    Parameters
    ----------
    labels : np.ndarray
        ``(n,)`` outcome ids of the training windows.
    probabilities : np.ndarray
        ``(n, 6)`` calibrated outcome probabilities of the same windows (states first,
        no state last).
    threshold : float

    Returns
    -------
    (relabelled, per_state) : the new ``(n,)`` outcomes (a copy) and the ``(5,)`` count of
    windows relabelled to each state.

    Examples
    --------
    >>> labels = np.array([5, 5, 5, 0])
    >>> probs = np.array([
    ...     [0.1, 0.7, 0.0, 0.0, 0.0, 0.2],
    ...     [0.2, 0.2, 0.0, 0.0, 0.0, 0.6],
    ...     [0.0, 0.0, 0.0, 0.0, 0.9, 0.1],
    ...     [0.0, 0.9, 0.0, 0.0, 0.0, 0.1],
    ... ])
    >>> new, counts = pseudo_labels(labels, probs, 0.7)
    >>> new.tolist(), counts.tolist()
    ([1, 5, 4, 0], [0, 1, 0, 0, 1])
    """
    best = probabilities[:, :NO_STATE_ID].argmax(axis=1)
    confident = probabilities[np.arange(labels.size), best] >= threshold
    chosen = (labels == NO_STATE_ID) & confident
    relabelled = labels.copy()
    relabelled[chosen] = best[chosen]
    return relabelled, np.bincount(best[chosen], minlength=NO_STATE_ID)
