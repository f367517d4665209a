"""Time-ordered cross-fitting of layer-1 probabilities for layer-2 training (DESIGN rule 4).

The calendar is cut into ``n_folds`` equal blocks of dates. For every block k >= 1 a regime
model is fitted on the rows dated before block k less a purge gap of ``seq_len + lookahead``
dates (so neither a training label's hindsight nor a training window reaches into block k),
and predicts the probabilities of block k. Every ``state_prob_*`` the head trains on therefore
comes from a model that never saw that row; block 0 only ever trains.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import polars as pl

from m002._schema import DATE, MAX_GAP_DAYS
from m002.exceptions import SchemaError
from m002.labels import RegimeLabelConfig
from m002.pipeline._config import RegimeParams
from m002.regime import DEFAULT_SEQUENCE_FEATURES, RegimeClassifier, longest_usable_run

__all__ = ["CROSSFIT_FOLD", "crossfit_regime_probabilities", "fold_plan"]

CROSSFIT_FOLD = "crossfit_fold"


def fold_plan(calendar: pl.Series, *, n_folds: int, gap: int, history: int) -> list[dict[str, Any]]:
    """Date bounds of each fold: what its model fits on and what it predicts.

    Parameters
    ----------
    calendar : pl.Series
        Sorted unique dates.
    n_folds : int
    gap : int
        Dates left out between the last fitted date and the first predicted one.
    history : int
        Dates before a block read as window history when predicting it (inputs only).

    Returns
    -------
    list of dict
        One per predicted block (k = 1 .. n_folds-1): ``fold``, ``fit_end``,
        ``predict_start``, ``predict_end``, ``history_start`` (dates).
    """
    n = calendar.len()
    bounds = [round(i * n / n_folds) for i in range(n_folds + 1)]
    plan = []
    for k in range(1, n_folds):
        start, end = bounds[k], bounds[k + 1] - 1
        fit_end = start - 1 - gap
        if fit_end < 0 or end < start:
            continue
        plan.append(
            {
                "fold": k,
                "fit_end": calendar[fit_end],
                "predict_start": calendar[start],
                "predict_end": calendar[end],
                "history_start": calendar[max(0, start - history)],
            }
        )
    return plan


def crossfit_regime_probabilities(
    labelled: pl.DataFrame,
    params: RegimeParams,
    labels: RegimeLabelConfig,
    *,
    n_folds: int,
    max_gap_days: int = MAX_GAP_DAYS,
    verbose: bool = True,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Out-of-sample ``state_prob_*`` for blocks 1 .. n_folds-1 of ``labelled``.

    Parameters
    ----------
    labelled : pl.DataFrame
        m002 features with regime labels (`m002.labels.assign_regime_labels`).

    Returns
    -------
    (probabilities, folds)
        ticker, date, ``state_prob_*`` and ``crossfit_fold`` for every row of the predicted
        blocks; and per fold its date bounds plus the fitted model's validation metrics.
    """
    calendar = labelled[DATE].unique().sort()
    plan = fold_plan(
        calendar,
        n_folds=n_folds,
        gap=params.seq_len + labels.lookahead,
        history=2 * params.seq_len,
    )
    if not plan:
        longest = longest_usable_run(labelled, DEFAULT_SEQUENCE_FEATURES, max_gap_days=max_gap_days)
        msg = (
            f"too little history to cross-fit layer 1 with `seq_len={params.seq_len}`: "
            f"{calendar.len()} dates make {n_folds} blocks of about "
            f"{calendar.len() // n_folds} dates, and the model of a block must stop seq_len + "
            f"lookahead = {params.seq_len + labels.lookahead} dates before it; the longest "
            f"usable run of one ticker's rows is {longest}; lower `seq_len` or `n_folds`, or "
            "give more history"
        )
        raise SchemaError(msg)
    parts, folds = [], []
    for fold in plan:
        model = RegimeClassifier(
            **dataclasses.asdict(params),
            max_gap_days=max_gap_days,
            label_config=labels,
            verbose=verbose,
        ).fit(labelled.filter(pl.col(DATE) <= fold["fit_end"]))
        window = labelled.filter(
            pl.col(DATE).is_between(fold["history_start"], fold["predict_end"])
        )
        probs = model.predict_probabilities(window).filter(pl.col(DATE) >= fold["predict_start"])
        parts.append(probs.with_columns(pl.lit(fold["fold"], dtype=pl.Int8).alias(CROSSFIT_FOLD)))
        folds.append(
            {
                **{k: str(v) for k, v in fold.items()},
                "regime_valid_macro_f1": model.metrics_["macro_f1"],
                "regime_valid_all_rows_macro_f1": model.metrics_["all_rows"]["macro_f1"],
                "epochs": len(model.history_),
            }
        )
    return pl.concat(parts), folds
