"""How good the out-of-sample predictions are, per fold and overall, and what the report
draws from them (confusion matrix, calibration, layer 1's reliability, feature distributions by
regime).

Layer 1 is scored twice, side by side: on the labelled test rows (a state label; the most
likely of the five states against it, as m002 always reported) and on every test row it scores
whose outcome is known (``regime_label_known``): six outcomes, the five states and "no state",
whose probability is what the five ``state_prob_*`` leave of 1. The test rows whose outcome is
unknown (each ticker's last ``lookahead`` rows) are left out of both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import polars as pl

from m002._polars import finite_or_null
from m002._schema import DATE, TICKER
from m002.evaluation._signals import ABLATION_COLUMNS
from m002.head import daily_ic, head_metrics
from m002.labels import FUTURE_RET_NEXT_PCT, FUTURE_RET_PCT, REGIME_STATE_ID
from m002.labels._regime import REGIME_LABEL_KNOWN
from m002.regime import (
    OUTCOME_NAMES,
    STATE_PROB_PREFIX,
    outcome_probabilities,
    regime_outcome,
    regime_quality,
    state_prob_columns,
)

__all__ = [
    "calibration_bins",
    "feature_stats_by_regime",
    "fold_prediction_metrics",
    "regime_confusion",
    "regime_reliability",
]

STATE_NAMES: Final = [c.removeprefix(STATE_PROB_PREFIX) for c in state_prob_columns()]
EXPECTED_RET: Final = "pred_expected_ret_pct"
_QUANTILES: Final = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _labelled_states(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    rows = frame.drop_nulls([REGIME_STATE_ID, *state_prob_columns()])
    predicted = rows.select(state_prob_columns()).to_numpy().argmax(axis=1)
    return rows[REGIME_STATE_ID].to_numpy(), predicted


def _known_outcomes(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Outcome ids and the six outcome probabilities of the scored rows whose outcome is
    known."""
    rows = frame.drop_nulls(state_prob_columns()).with_columns(regime_outcome())
    rows = rows.drop_nulls(REGIME_STATE_ID)
    six = outcome_probabilities(rows.select(state_prob_columns()).to_numpy())
    return rows[REGIME_STATE_ID].to_numpy().astype(np.int64), six


def _regime_figures(frame: pl.DataFrame) -> dict[str, Any]:
    if REGIME_STATE_ID not in frame.columns:
        return {"regime_macro_f1": None, "n_regime_rows": 0}
    quality = regime_quality(frame)
    every = quality["all_rows"] or {}
    return {
        "regime_macro_f1": _finite(quality.get("macro_f1")),
        "n_regime_rows": quality["n"],
        "regime_all_rows_macro_f1": _finite(every.get("macro_f1")),
        "regime_all_rows_log_loss": _finite(every.get("log_loss")),
        "n_regime_all_rows": every.get("n"),
    }


def _rank_ics(rows: pl.DataFrame) -> dict[str, float | None]:
    """Mean daily rank IC of the expected return, with and without layer 1's probabilities
    (the ablation's head), against the return from t and from the next row's close, where
    those columns are present."""
    out: dict[str, float | None] = {}
    predictions = {"": EXPECTED_RET, "_no_state_probs": ABLATION_COLUMNS[EXPECTED_RET]}
    targets = {"": FUTURE_RET_PCT, "_next": FUTURE_RET_NEXT_PCT}
    for p_suffix, prediction in predictions.items():
        for t_suffix, target in targets.items():
            if p_suffix == t_suffix == "" or not {prediction, target} <= set(rows.columns):
                continue  # the plain figure is the head's own
            ic = daily_ic(rows, prediction, target)
            out[f"rank_ic{t_suffix}{p_suffix}_mean"] = _finite(ic["rank_ic_mean"])
    return out


def _metrics(frame: pl.DataFrame) -> dict[str, Any]:
    rows = frame.drop_nulls(["pred_rebound_prob"])
    head = head_metrics(rows)
    ic = head["ic"]
    return {
        "n_rows": head["n_rows"],
        "ap": _finite(head["average_precision"]),
        "base_rate": _finite(head["base_rate"]),
        "roc_auc": _finite(head["roc_auc"]),
        "ic_mean": _finite(ic.get("ic_mean")),
        "ic_ir": _finite(ic.get("ic_ir")),
        "rank_ic_mean": _finite(ic.get("rank_ic_mean")),
        "rank_ic_ir": _finite(ic.get("rank_ic_ir")),
        "n_ic_dates": ic.get("n_dates"),
        **_rank_ics(rows),
        **_regime_figures(frame),
    }


def fold_prediction_metrics(predictions: pl.DataFrame) -> dict[str, Any]:
    """AP with the base rate, ROC AUC, daily IC and rank IC (mean and ICIR) of the expected
    return, and layer 1's figures: per ``fold`` and over all folds.

    ``predictions`` holds the out-of-sample ``pred_*`` and ``state_prob_*`` with the
    realised targets (``label_rebound_bin``, ``future_ret_pct``, ``future_dd_pct``),
    ``regime_state_id`` and ``regime_label_known``.

    Rank IC beside the head's own (``rank_ic_mean``, against ``future_ret_pct``, from t):
    ``rank_ic_next_mean`` against ``future_ret_next_pct`` (bought at the next row's close,
    Qlib's label), and ``rank_ic_no_state_probs_mean`` / ``rank_ic_next_no_state_probs_mean``
    of the ablation's head (without ``state_prob_*``), each where its columns are present.

    Layer 1's keys: ``regime_macro_f1`` and ``n_regime_rows`` on the labelled rows (the most
    likely of the five states); ``regime_all_rows_macro_f1``, ``regime_all_rows_log_loss``
    and ``n_regime_all_rows`` on every scored row with a known outcome, six outcomes (these
    three are null where ``regime_label_known`` is absent).
    """
    folds = []
    for (fold,), rows in predictions.sort("fold", TICKER, DATE).group_by(
        "fold", maintain_order=True
    ):
        folds.append(
            {
                "fold": int(fold),
                "test_start": str(rows[DATE].min()),
                "test_end": str(rows[DATE].max()),
                **_metrics(rows),
            }
        )
    return {"folds": folds, "overall": _metrics(predictions)}


def regime_confusion(predictions: pl.DataFrame) -> dict[str, Any]:
    """Counts of (outcome, most likely outcome); rows true, columns predicted.

    Over every scored row with a known outcome, six outcomes ("none" last), where
    ``regime_label_known`` is there; else over the labelled rows and the five states. ``rows``
    says which.
    """
    if REGIME_LABEL_KNOWN in predictions.columns:
        y_true, six = _known_outcomes(predictions)
        y_pred, names = six.argmax(axis=1), list(OUTCOME_NAMES)
        rows = "every test row with a known outcome"
    else:
        y_true, y_pred = _labelled_states(predictions)
        names, rows = list(STATE_NAMES), "the labelled test rows"
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return {"labels": names, "counts": counts.tolist(), "rows": rows}


def regime_reliability(predictions: pl.DataFrame, *, n_bins: int = 10) -> dict[str, Any] | None:
    """Layer 1's reliability table over the out-of-sample rows with a known outcome: per
    outcome (the five states and "none"), bins of predicted probability with the mean
    predicted, the observed frequency and the count (`m002.regime.reliability_table`).

    None where ``predictions`` lacks ``regime_label_known``.
    """
    if REGIME_LABEL_KNOWN not in predictions.columns:
        return None
    quality = regime_quality(predictions, n_bins=n_bins)
    reliability: dict[str, Any] | None = quality["reliability"]
    return reliability


def calibration_bins(predictions: pl.DataFrame, *, n_bins: int = 10) -> dict[str, Any]:
    """Mean predicted rebound probability against the observed rebound frequency, in
    ``n_bins`` equal-width bins of the prediction (empty bins left out)."""
    rows = predictions.drop_nulls(["pred_rebound_prob", "label_rebound_bin"])
    binned = (
        rows.with_columns(
            (pl.col("pred_rebound_prob") * n_bins).floor().clip(0, n_bins - 1).alias("_bin")
        )
        .group_by("_bin")
        .agg(
            pl.col("pred_rebound_prob").mean().alias("p_mean"),
            pl.col("label_rebound_bin").cast(pl.Float64).mean().alias("observed"),
            pl.len().alias("n"),
        )
        .sort("_bin")
    )
    return {
        "n_bins": n_bins,
        "bins": [
            {"p_mean": float(p), "observed": float(o), "n": int(n)}
            for p, o, n in binned.select("p_mean", "observed", "n").iter_rows()
        ],
    }


def feature_stats_by_regime(frame: pl.DataFrame, features: Sequence[str]) -> dict[str, Any]:
    """Quantiles (5, 25, 50, 75, 95%) and mean of each feature per most likely outcome of
    layer 1 out of sample (the five states and "none", whose probability is what the five
    ``state_prob_*`` leave of 1), for the report's box plots."""
    columns = state_prob_columns()
    rest = (1.0 - pl.sum_horizontal(columns)).clip(0.0, 1.0)
    rows = frame.drop_nulls(columns).with_columns(
        pl.concat_list([*columns, rest]).list.arg_max().alias("_state")
    )
    aggs = [pl.len().alias("n")]
    for name in features:
        x = finite_or_null(name)
        aggs += [x.quantile(q).alias(f"{name}|{k}") for k, q in _QUANTILES.items()]
        aggs.append(x.mean().alias(f"{name}|mean"))
    grouped = rows.group_by("_state").agg(aggs).sort("_state")
    stats: dict[str, dict[str, Any]] = {name: {} for name in features}
    for record in grouped.iter_rows(named=True):
        state = OUTCOME_NAMES[int(record["_state"])]
        for name in features:
            stats[name][state] = {
                **{k: _finite(record[f"{name}|{k}"]) for k in (*_QUANTILES, "mean")},
                "n": int(record["n"]),
            }
    return {
        "by": "most likely out-of-sample outcome",
        "features": list(features),
        "states": list(OUTCOME_NAMES),
        "stats": stats,
    }
