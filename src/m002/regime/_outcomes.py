"""What layer 1 predicts: one of the five states, or none of them.

A row whose hindsight is complete has a known outcome (``regime_label_known``): the state its
label names, or "no state" when no condition held. Layer 1 learns all six outcomes; its output
columns are the five ``state_prob_<state>``, and the probability of no state is what they leave
of 1. Rows whose outcome is unknown (feature warm-up, the last ``lookahead`` rows of a ticker)
are scored by the model but take part in no training and no metric.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from m002.labels import ID_TO_STATE, REGIME_STATE_ID
from m002.labels._regime import REGIME_LABEL_KNOWN

__all__ = [
    "CLASS_NAMES",
    "NO_STATE",
    "NO_STATE_ID",
    "OUTCOME_NAMES",
    "STATE_PROB_PREFIX",
    "regime_outcome",
    "state_prob_columns",
]

STATE_PROB_PREFIX: Final = "state_prob_"
CLASS_NAMES: Final = [ID_TO_STATE[i] for i in sorted(ID_TO_STATE)]
"""The five states, in class-id order."""
NO_STATE: Final = "none"
"""The sixth outcome: the row's hindsight confirmed none of the five states."""
NO_STATE_ID: Final = len(CLASS_NAMES)
OUTCOME_NAMES: Final = [*CLASS_NAMES, NO_STATE]
"""The six outcomes, in outcome-id order (the five state ids, then `NO_STATE_ID`)."""


def state_prob_columns() -> list[str]:
    """``state_prob_<state>`` for each state, in class-id order."""
    return [f"{STATE_PROB_PREFIX}{name}" for name in CLASS_NAMES]


def regime_outcome() -> pl.Expr:
    """Outcome id of each labelled row (Int64): the state id, `NO_STATE_ID` where the outcome
    is known and no state holds, null where the outcome is unknown.

    Reads ``regime_state_id`` and ``regime_label_known`` (`m002.labels.assign_regime_labels`).

    Examples
    --------
    >>> frame = pl.DataFrame(
    ...     {"regime_state_id": [0, None, None], "regime_label_known": [True, True, False]},
    ...     schema_overrides={"regime_state_id": pl.Int8},
    ... )
    >>> frame.select(regime_outcome())["regime_state_id"].to_list()
    [0, 5, None]
    """
    state = pl.col(REGIME_STATE_ID).cast(pl.Int64)
    return (
        pl.when(pl.col(REGIME_LABEL_KNOWN))
        .then(state.fill_null(NO_STATE_ID))
        .alias(REGIME_STATE_ID)
    )
