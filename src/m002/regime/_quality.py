"""How good layer 1's probabilities are on a labelled frame: on every row it scores.

Two sets of figures, side by side:

- on the labelled rows (a state label): the most likely of the five states against the label,
  the figures m002 reported before layer 1 learnt the "no state" outcome;
- on all rows with a known outcome (``regime_label_known``): six outcomes, the five states and
  "no state" (probability: what the five leave of 1), scored by the most likely outcome and by
  proper scores of the probabilities (log loss, Brier), with the reliability table.

Rows the model scores but whose outcome is unknown (the last ``lookahead`` rows of a ticker)
are counted, not scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from m002._schema import DATE, TICKER, require_columns
from m002.labels import REGIME_STATE_ID
from m002.labels._regime import REGIME_LABEL_KNOWN
from m002.regime._metrics import (
    classification_metrics,
    outcome_metrics,
    outcome_probabilities,
    reliability_table,
)
from m002.regime._outcomes import CLASS_NAMES, OUTCOME_NAMES, regime_outcome, state_prob_columns

__all__ = ["LABELLED_KEYS", "regime_quality"]

LABELLED_KEYS: tuple[str, ...] = ("macro_f1", "balanced_accuracy", "accuracy", "n")
"""The labelled-rows figures `regime_quality` returns at its top level."""


def regime_quality(
    labelled: pl.DataFrame,
    probs: pl.DataFrame | None = None,
    *,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Layer 1's quality on the rows of ``labelled`` that ``probs`` scores.

    Parameters
    ----------
    labelled : pl.DataFrame
        ticker, date, ``regime_state_id`` and ``regime_label_known``
        (`m002.labels.assign_regime_labels`); may also hold the ``state_prob_*`` columns.
    probs : pl.DataFrame, optional
        ticker, date and ``state_prob_*`` (`RegimeClassifier.predict_probabilities`, or the
        cross-fitted probabilities); joined to ``labelled`` on (ticker, date). When omitted,
        ``labelled`` must hold the ``state_prob_*`` columns itself.
    n_bins : int
        Bins of the reliability table.

    Returns
    -------
    dict
        ``macro_f1``, ``balanced_accuracy``, ``accuracy`` and ``n``: on the scored rows with a
        state label, the most likely of the five states against it (only ``n`` when there
        are none). ``all_rows``: on the scored rows with a known outcome, six outcomes
        (`m002.regime.outcome_metrics`: ``n``, ``macro_f1``, ``accuracy``, ``log_loss``,
        ``brier``, ``frequency``, ``mean_probability``, ...), plus ``n_unknown``, the scored
        rows left out because their outcome is unknown. ``reliability``: the
        `reliability_table` of those rows. ``all_rows`` and ``reliability`` are None when
        ``labelled`` has no ``regime_label_known`` (labels of an older m002).

    Raises
    ------
    SchemaError
        A needed column is missing.
    """
    columns = state_prob_columns()
    frame = labelled if probs is None else _joined(labelled, probs)
    require_columns(
        frame,
        [REGIME_STATE_ID, *columns],
        needed_by="regime_quality",
        hint="label with `m002.labels.assign_regime_labels` and pass layer 1's probabilities",
    )
    scored = frame.drop_nulls(columns)
    state_probs = scored.select(columns).to_numpy().astype(np.float64)
    has_label = scored[REGIME_STATE_ID].is_not_null().to_numpy()
    out: dict[str, Any] = {"n": int(has_label.sum())}
    if has_label.any():
        y_state = scored[REGIME_STATE_ID].to_numpy()[has_label].astype(np.int64)
        predicted = state_probs[has_label].argmax(axis=1)
        metrics = classification_metrics(y_state, predicted, list(CLASS_NAMES))
        out |= {key: metrics[key] for key in LABELLED_KEYS}
    if REGIME_LABEL_KNOWN not in frame.columns:
        return {**out, "all_rows": None, "reliability": None}
    outcome = scored.select(regime_outcome()).to_series()
    known = outcome.is_not_null().to_numpy()
    y = outcome.to_numpy()[known].astype(np.int64) if known.any() else np.zeros(0, np.int64)
    six = outcome_probabilities(state_probs[known])
    return {
        **out,
        "all_rows": {
            **outcome_metrics(y, six, list(OUTCOME_NAMES)),
            "n_unknown": int((~known).sum()),
        },
        "reliability": reliability_table(y, six, list(OUTCOME_NAMES), n_bins=n_bins),
    }


def _joined(labelled: pl.DataFrame, probs: pl.DataFrame) -> pl.DataFrame:
    keep = [c for c in (REGIME_STATE_ID, REGIME_LABEL_KNOWN) if c in labelled.columns]
    require_columns(
        probs,
        [TICKER, DATE, *state_prob_columns()],
        needed_by="regime_quality's `probs`",
        hint="pass the output of `RegimeClassifier.predict_probabilities`",
    )
    return labelled.select(TICKER, DATE, *keep).join(
        probs.select(TICKER, DATE, *state_prob_columns()), on=[TICKER, DATE]
    )
