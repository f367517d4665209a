"""How good the head's predictions are: AP next to the base rate, MAE, daily IC and rank IC."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score

from m002._schema import DATE, require_columns

__all__ = ["MIN_IC_NAMES", "daily_ic", "head_metrics", "per_date_ic"]

MIN_IC_NAMES: Final = 5
"""The fewest names a date needs for its IC to be counted."""


def per_date_ic(
    frame: pl.DataFrame, prediction: str, target: str, *, min_names: int = MIN_IC_NAMES
) -> pl.DataFrame:
    """Per date (sorted): ``n``, the Pearson ``ic`` and the Spearman ``rank_ic`` of
    ``prediction`` with ``target`` across the rows having both; dates with fewer than
    ``min_names`` such rows, or an undefined correlation (a constant column), are left out."""
    return (
        frame.drop_nulls([prediction, target])
        .group_by(DATE)
        .agg(
            pl.len().alias("n"),
            pl.corr(prediction, target).alias("ic"),
            pl.corr(prediction, target, method="spearman").alias("rank_ic"),
        )
        .filter(pl.col("n") >= min_names)
        .drop_nans(["ic", "rank_ic"])
        .drop_nulls(["ic", "rank_ic"])
        .sort(DATE)  # group_by order varies; a fixed order keeps the means bit-identical
    )


def daily_ic(
    frame: pl.DataFrame, prediction: str, target: str, *, min_names: int = 5
) -> dict[str, float | int]:
    """Cross-sectional correlation of ``prediction`` with ``target`` per date
    (`per_date_ic`), averaged.

    Dates with fewer than ``min_names`` tickers having both values are skipped. Returns the
    mean Pearson IC and Spearman rank IC, their standard deviations, ICIR (mean / sd) and the
    number of dates used.
    """
    per_day = per_date_ic(frame, prediction, target, min_names=min_names)
    out: dict[str, float | int] = {"n_dates": per_day.height}
    for name in ("ic", "rank_ic"):
        values = per_day[name].to_numpy()
        mean = float(values.mean()) if values.size else float("nan")
        sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        out[f"{name}_mean"] = mean
        out[f"{name}_sd"] = sd
        out[f"{name}_ir"] = mean / sd if sd and np.isfinite(sd) and sd > 0 else float("nan")
    return out


def _mae(frame: pl.DataFrame, prediction: str, target: str) -> float:
    errors = (frame[prediction] - frame[target]).abs().to_numpy()
    return float(errors.mean()) if errors.size else float("nan")


def head_metrics(frame: pl.DataFrame) -> dict[str, Any]:
    """Metrics of head predictions against realised targets, on rows where both exist.

    ``frame`` holds date, ``pred_rebound_prob``, ``pred_expected_ret_pct``,
    ``pred_expected_dd_pct`` and the targets ``label_rebound_bin``, ``future_ret_pct``,
    ``future_dd_pct``. Average precision is reported with the base rate beside it (AP of a
    random ranking); IC and rank IC are daily cross-sectional correlations of the expected
    return with the realised one.
    """
    cols = ["pred_rebound_prob", "pred_expected_ret_pct", "pred_expected_dd_pct"]
    targets = ["label_rebound_bin", "future_ret_pct", "future_dd_pct"]
    require_columns(frame, [DATE, *cols, *targets], needed_by="head_metrics", hint="")
    rows = frame.drop_nulls([*cols, *targets])
    y = rows["label_rebound_bin"].to_numpy()
    p = rows["pred_rebound_prob"].to_numpy()
    two_classes = np.unique(y).size == 2
    return {
        "n_rows": rows.height,
        "average_precision": float(average_precision_score(y, p)) if two_classes else None,
        "base_rate": float(y.mean()) if y.size else None,
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else None,
        "mae_ret_pct": _mae(rows, "pred_expected_ret_pct", "future_ret_pct"),
        "mae_dd_pct": _mae(rows, "pred_expected_dd_pct", "future_dd_pct"),
        "ic": daily_ic(rows, "pred_expected_ret_pct", "future_ret_pct"),
    }
