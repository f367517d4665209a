"""How layer 1's learning rate moves over a fit, by name: `LR_SCHEDULES`.

Each schedule maps the share of the fit done so far (0 at the first step, towards 1 at the
last; epochs count as equal shares, each step an equal part of its epoch) to a factor of
`RegimeClassifier`'s ``lr``. ``"constant"``: ``lr`` throughout. ``"cosine"``: half a cosine
from ``lr`` down to 0 over ``max_epochs`` epochs (Loshchilov and Hutter, 2017, without
restarts): large steps early, small ones late, so that a fit reaches a low validation loss
in fewer epochs. Early stopping still keeps the best epoch's weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

__all__ = ["LR_SCHEDULES", "lr_factor"]


def _constant(done: float) -> float:
    return 1.0


def _cosine(done: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * done))


LR_SCHEDULES: Final[dict[str, Callable[[float], float]]] = {
    "constant": _constant,
    "cosine": _cosine,
}


def lr_factor(schedule: str, epoch: int, step: int, steps: int, epochs: int) -> float:
    """The factor of ``lr`` at step ``step`` (from 0) of ``steps`` in epoch ``epoch`` (from 1)
    of ``epochs``.

    Examples
    --------
    >>> [round(lr_factor("cosine", e, 0, 2, 2), 3) for e in (1, 2)]
    [1.0, 0.5]
    >>> lr_factor("constant", 2, 1, 2, 2)
    1.0
    """
    done = (epoch - 1 + step / max(steps, 1)) / epochs
    return LR_SCHEDULES[schedule](done)
