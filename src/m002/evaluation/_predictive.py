"""How good the out-of-sample predictions are, per fold and overall, and what the report
draws from them (confusion matrix, calibration, feature distributions by regime)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import polars as pl

from m002._schema import DATE, TICKER
from m002.head import head_metrics
from m002.labels import REGIME_STATE_ID
from m002.regime import STATE_PROB_PREFIX, classification_metrics, state_prob_columns

__all__ = [
    "calibration_bins",
    "feature_stats_by_regime",
    "fold_prediction_metrics",
    "regime_confusion",
]

STATE_NAMES: Final = [c.removeprefix(STATE_PROB_PREFIX) for c in state_prob_columns()]
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


def _metrics(frame: pl.DataFrame) -> dict[str, Any]:
    head = head_metrics(frame.drop_nulls(["pred_rebound_prob"]))
    ic = head["ic"]
    y_true, y_pred = _labelled_states(frame)
    f1 = classification_metrics(y_true, y_pred, STATE_NAMES)["macro_f1"] if y_true.size else None
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
        "regime_macro_f1": _finite(f1),
        "n_regime_rows": int(y_true.size),
    }


def fold_prediction_metrics(predictions: pl.DataFrame) -> dict[str, Any]:
    """AP with the base rate, ROC AUC, daily IC and rank IC (mean and ICIR) of the expected
    return, and layer 1's macro F1 on labelled rows: per ``fold`` and over all folds.

    ``predictions`` holds the out-of-sample ``pred_*`` and ``state_prob_*`` with the
    realised targets (``label_rebound_bin``, ``future_ret_pct``, ``future_dd_pct``) and
    ``regime_state_id``.
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
    """Counts of (labelled state, most likely predicted state); rows true, columns
    predicted."""
    y_true, y_pred = _labelled_states(predictions)
    counts = np.zeros((len(STATE_NAMES), len(STATE_NAMES)), dtype=np.int64)
    np.add.at(counts, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return {"labels": STATE_NAMES, "counts": counts.tolist()}


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
    """Quantiles (5, 25, 50, 75, 95%) and mean of each feature per most likely regime state
    (out-of-sample ``state_prob_*``), for the report's box plots."""
    rows = frame.drop_nulls(state_prob_columns()).with_columns(
        pl.concat_list(state_prob_columns()).list.arg_max().alias("_state")
    )
    aggs = [pl.len().alias("n")]
    for name in features:
        x = pl.col(name).cast(pl.Float64)
        x = pl.when(x.is_finite()).then(x)
        aggs += [x.quantile(q).alias(f"{name}|{k}") for k, q in _QUANTILES.items()]
        aggs.append(x.mean().alias(f"{name}|mean"))
    grouped = rows.group_by("_state").agg(aggs).sort("_state")
    stats: dict[str, dict[str, Any]] = {name: {} for name in features}
    for record in grouped.iter_rows(named=True):
        state = STATE_NAMES[int(record["_state"])]
        for name in features:
            stats[name][state] = {
                **{k: _finite(record[f"{name}|{k}"]) for k in (*_QUANTILES, "mean")},
                "n": int(record["n"]),
            }
    return {
        "by": "most likely out-of-sample state",
        "features": list(features),
        "states": STATE_NAMES,
        "stats": stats,
    }
