"""Which training windows layer 1 may learn from in each epoch, by name: `CURRICULA`.

``"none"`` (the default): every training window, every epoch. ``"loss"``: curriculum
learning (Bengio et al., 2009), easy windows first. A short first fit (`RegimeClassifier`'s
``curriculum_epochs``, on the training windows alone, no validation and no early stopping)
scores each training window by its loss under that fit: the difficulty. The main fit then
starts again from fresh weights and, in epoch ``e`` (from 1), may use the easiest
`pacing_share` of each outcome's windows: half of them in the first epoch, a share growing
linearly to all of them at epoch ``1 + max(1, max_epochs // 2)``, then all. The share is
taken within each outcome, so that no outcome drops out of the early epochs because its
windows are harder on the whole; the sampler (``sampling``) then draws its batches from the
allowed windows as it would from all of them.
"""

from __future__ import annotations

import math
from typing import ClassVar, Final

import numpy as np

__all__ = ["CURRICULA", "AllWindows", "LossCurriculum", "pacing_share"]


def pacing_share(epoch: int, max_epochs: int) -> float:
    """Share of each outcome's windows, easiest first, that epoch ``epoch`` (from 1) may use.

    Examples
    --------
    >>> [pacing_share(e, 8) for e in range(1, 7)]
    [0.5, 0.625, 0.75, 0.875, 1.0, 1.0]
    """
    ramp = max(1, max_epochs // 2)
    return min(1.0, 0.5 + 0.5 * (epoch - 1) / ramp)


class AllWindows:
    """``"none"``: every training window in every epoch.

    Parameters
    ----------
    labels : np.ndarray
        Outcome of each training window.
    max_epochs : int
    difficulty : np.ndarray, optional
        Unused (this curriculum scores nothing).
    """

    scored: ClassVar[bool] = False

    def __init__(
        self, labels: np.ndarray, max_epochs: int, difficulty: np.ndarray | None = None
    ) -> None:
        self._all = np.arange(labels.size, dtype=np.int64)

    def windows(self, epoch: int) -> np.ndarray:
        """Sorted positions of the training windows epoch ``epoch`` may use."""
        return self._all


class LossCurriculum(AllWindows):
    """``"loss"``: each outcome's easiest `pacing_share` of windows by ``difficulty`` (a loss
    per training window; ties go to the earlier window).

    Examples
    --------
    >>> labels = np.array([0, 0, 0, 0, 1, 1])
    >>> curriculum = LossCurriculum(labels, 2, np.array([4.0, 1.0, 3.0, 2.0, 0.5, 0.1]))
    >>> curriculum.windows(1).tolist(), curriculum.windows(2).tolist()
    ([1, 3, 5], [0, 1, 2, 3, 4, 5])
    """

    scored = True

    def __init__(
        self, labels: np.ndarray, max_epochs: int, difficulty: np.ndarray | None = None
    ) -> None:
        super().__init__(labels, max_epochs)
        if difficulty is None or difficulty.shape != labels.shape:
            msg = "the loss curriculum needs one difficulty per training window"
            raise ValueError(msg)
        self.max_epochs = max_epochs
        self._ranked = [
            members[np.argsort(difficulty[members], kind="stable")]
            for members in (np.flatnonzero(labels == c) for c in np.unique(labels))
        ]

    def windows(self, epoch: int) -> np.ndarray:
        share = pacing_share(epoch, self.max_epochs)
        if share >= 1.0:
            return self._all
        picks = [ranked[: math.ceil(share * ranked.size)] for ranked in self._ranked]
        return np.sort(np.concatenate(picks))


CURRICULA: Final[dict[str, type[AllWindows]]] = {"none": AllWindows, "loss": LossCurriculum}
"""Layer 1's curricula by the name `RegimeClassifier`'s ``curriculum`` takes."""
