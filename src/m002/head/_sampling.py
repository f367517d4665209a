"""Synthetic rows for the rebound classifier: none, SMOTE or ADASYN (imbalanced-learn).

A sampler of `HEAD_SAMPLERS` takes the classifier's fitting rows (a float64 matrix with NaN for a
missing value, and the 0/1 labels) and returns only the synthetic rows it makes, which
`MultiTaskHead` appends to those rows for the classifier alone; the return and drawdown
regressors, the validation rows and every prediction see real rows only. The head calls it
on the rows of ``fit`` (or ``refit``) and never on a ``valid`` frame, so nothing the sampler
learns (the neighbours it interpolates between) comes from rows that choose the tree counts,
and the caller's purge between the two holds for it as well.

``smote`` (Chawla et al. 2002)
    Each synthetic row lies on the segment from a minority row to one of its
    `K_NEIGHBORS` nearest minority neighbours, at a uniform random point.
``adasyn`` (He et al. 2008)
    As SMOTE, but more rows are made next to the minority rows whose `K_NEIGHBORS` nearest
    neighbours hold more majority rows (the harder ones); its count is rounded per row, so
    its total may differ from the target by a few rows.

How many: as many as balance the classes of the fitting rows, ``n_majority - n_minority``
(the minority class being the less frequent label; none when the two are equal).

Missing values: nearest neighbours and interpolation need every feature, and a made-up
value would be learned as if it were real, so the synthetic rows are made from the complete
fitting rows only (no missing feature), and they are complete themselves; the rows with a
missing value stay in the classifier's fitting rows as they are. The count above is still
taken over all fitting rows.

Same rows, labels and seed give the same synthetic rows, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np

from m002._checks import import_extra
from m002.exceptions import SchemaError

__all__ = ["HEAD_SAMPLERS", "K_NEIGHBORS", "Sampler", "adasyn", "no_sampling", "smote"]

K_NEIGHBORS: Final = 5
"""Neighbours each synthetic row is drawn towards (SMOTE) or weighed by (ADASYN): both
methods' published and imbalanced-learn's default."""

Sampler = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""``(x, y, seed) -> (x_new, y_new)``: the synthetic rows only."""


def no_sampling(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """No synthetic rows."""
    return x[:0], y[:0]


def _synthesised(
    x: np.ndarray, y: np.ndarray, make: Callable[[dict[int, int]], Any], name: str
) -> tuple[np.ndarray, np.ndarray]:
    """The rows sampler ``make(strategy)`` adds to the complete rows of ``(x, y)`` so that the
    minority class of all of ``y`` reaches the majority's count."""
    classes, counts = np.unique(y, return_counts=True)
    if classes.size != 2 or counts[0] == counts[1]:
        return no_sampling(x, y, 0)
    minority = int(classes[np.argmin(counts)])
    wanted = int(counts.max() - counts.min())
    complete = ~np.isnan(x).any(axis=1)
    xc, yc = x[complete], y[complete]
    n_minority = int((yc == minority).sum())
    if n_minority <= K_NEIGHBORS or n_minority == yc.size:
        msg = (
            f"`sampling={name!r}` makes rows from the fitting rows without a missing feature, "
            f"which need more than {K_NEIGHBORS} rows of the minority class "
            f"(label_rebound_bin={minority}) and a row of the other; got {n_minority} of "
            f"{yc.size} complete rows"
        )
        raise SchemaError(msg)
    sampler = make({minority: n_minority + wanted})
    try:
        x_out, y_out = sampler.fit_resample(xc, yc)
    except (RuntimeError, ValueError) as error:  # ADASYN: no row to make, by its weights
        msg = f"`sampling={name!r}` could not make rows: {error}"
        raise SchemaError(msg) from error
    # imbalanced-learn returns the rows it was given, in order, then the new ones
    return np.asarray(x_out[yc.size :], dtype=x.dtype), np.asarray(y_out[yc.size :], y.dtype)


def smote(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SMOTE rows that balance ``y``, made from the complete rows of ``x``."""
    over = import_extra("imblearn.over_sampling", needed_by="`sampling='smote'`")
    return _synthesised(
        x,
        y,
        lambda strategy: over.SMOTE(
            sampling_strategy=strategy, k_neighbors=K_NEIGHBORS, random_state=seed
        ),
        "smote",
    )


def adasyn(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """ADASYN rows that (about) balance ``y``, made from the complete rows of ``x``."""
    over = import_extra("imblearn.over_sampling", needed_by="`sampling='adasyn'`")
    return _synthesised(
        x,
        y,
        lambda strategy: over.ADASYN(
            sampling_strategy=strategy, n_neighbors=K_NEIGHBORS, random_state=seed
        ),
        "adasyn",
    )


HEAD_SAMPLERS: Final[dict[str, Sampler]] = {"none": no_sampling, "smote": smote, "adasyn": adasyn}
"""Over-samplers of the rebound classifier's fitting rows, by the head's ``sampling``."""
