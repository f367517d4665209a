"""Layer 1's figures in the walk-forward's evaluation: labelled rows and all rows side by
side, the six-outcome confusion matrix and the reliability table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from m002.evaluation._predictive import (
    feature_stats_by_regime,
    fold_prediction_metrics,
    regime_confusion,
    regime_reliability,
)
from m002.regime import OUTCOME_NAMES, state_prob_columns

N_DAYS = 40


def _predictions(seed: int = 0) -> pl.DataFrame:
    """Two tickers x 40 days in two folds; state probabilities that follow the outcome (the
    outcome gets 0.6, the rest spread), a ticker's last 5 rows unknown, its first 2 unscored."""
    rng = np.random.default_rng(seed)
    n = 2 * N_DAYS
    outcome = rng.choice(6, size=n, p=[0.05, 0.08, 0.1, 0.07, 0.07, 0.63])
    six = np.full((n, 6), 0.08)
    six[np.arange(n), outcome] = 0.6
    day = np.tile(np.arange(N_DAYS), 2)
    unknown = day >= N_DAYS - 5
    unscored = day < 2
    state = np.where((outcome < 5) & ~unknown, outcome, -1)
    return pl.DataFrame(
        {
            "ticker": np.repeat(["A", "B"], N_DAYS),
            "date": [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in day],
            "fold": pl.Series(np.where(day < N_DAYS // 2, 0, 1), dtype=pl.Int32),
            "pred_rebound_prob": rng.uniform(0, 1, n),
            "pred_expected_ret_pct": rng.normal(0, 1, n),
            "pred_expected_dd_pct": -np.abs(rng.normal(0, 1, n)),
            "label_rebound_bin": pl.Series(rng.integers(0, 2, n), dtype=pl.Int8),
            "future_ret_pct": rng.normal(0, 1, n),
            "future_dd_pct": -np.abs(rng.normal(0, 1, n)),
            "regime_state_id": pl.Series(state, dtype=pl.Int8).replace(-1, None),
            "regime_label_known": ~unknown,
            "drawn_outcome": outcome,
            **{
                column: pl.Series(np.where(unscored, np.nan, six[:, k])).fill_nan(None)
                for k, column in enumerate(state_prob_columns())
            },
        }
    )


def test_fold_metrics_hold_labelled_and_all_row_figures() -> None:
    frame = _predictions()
    metrics = fold_prediction_metrics(frame)
    scored_known = frame.filter(
        pl.col("regime_label_known") & pl.col("state_prob_Peak").is_not_null()
    )
    overall = metrics["overall"]
    assert overall["n_regime_rows"] == scored_known["regime_state_id"].count()
    assert overall["n_regime_all_rows"] == scored_known.height
    # the outcome always gets the largest probability: both figures are perfect
    assert overall["regime_macro_f1"] == pytest.approx(1.0)
    assert overall["regime_all_rows_macro_f1"] == pytest.approx(1.0)
    assert overall["regime_all_rows_log_loss"] == pytest.approx(-np.log(0.6))
    assert [f["fold"] for f in metrics["folds"]] == [0, 1]
    assert sum(f["n_regime_all_rows"] for f in metrics["folds"]) == scored_known.height


def test_without_the_known_flag_only_the_labelled_figures() -> None:
    overall = fold_prediction_metrics(_predictions().drop("regime_label_known"))["overall"]
    assert overall["regime_macro_f1"] == pytest.approx(1.0)
    assert overall["regime_all_rows_macro_f1"] is None
    assert regime_reliability(_predictions().drop("regime_label_known")) is None


def test_confusion_over_six_outcomes() -> None:
    frame = _predictions()
    confusion = regime_confusion(frame)
    assert confusion["labels"] == OUTCOME_NAMES
    counts = np.array(confusion["counts"])
    assert counts.shape == (6, 6)
    assert counts.sum() == counts.trace()  # every outcome predicted right
    assert counts[5, 5] > 0
    five = regime_confusion(frame.drop("regime_label_known"))
    assert five["labels"] == OUTCOME_NAMES[:5]
    assert (
        np.array(five["counts"]).sum()
        == frame.drop_nulls(state_prob_columns())["regime_state_id"].count()
    )


def test_reliability_per_outcome() -> None:
    table = regime_reliability(_predictions(), n_bins=10)
    assert table is not None
    assert list(table["outcomes"]) == OUTCOME_NAMES
    none = table["outcomes"]["none"]
    # "none" gets 0.6 where it happens and 0.08 where a state does: two bins, both on the
    # diagonal's far sides (observed 1 and 0)
    low, high = none["bins"]
    assert (low["p_mean"], low["observed"]) == (pytest.approx(0.08), 0.0)
    assert (high["p_mean"], high["observed"]) == (pytest.approx(0.6), 1.0)
    assert low["n"] + high["n"] == table["n"]
    assert none["frequency"] == high["n"] / table["n"]


def test_features_by_most_likely_outcome_none_included() -> None:
    frame = _predictions()
    stats = feature_stats_by_regime(frame, ["future_ret_pct"])
    assert stats["states"] == OUTCOME_NAMES
    groups = stats["stats"]["future_ret_pct"]
    scored = frame.drop_nulls(state_prob_columns())
    # the drawn outcome always gets the largest probability: the groups are the outcomes,
    # whether the row's outcome is known or not
    counts = scored["drawn_outcome"].value_counts()
    expected = {OUTCOME_NAMES[k]: n for k, n in counts.iter_rows()}
    assert {name: g["n"] for name, g in groups.items()} == expected


def test_rank_ic_from_the_next_close_and_without_layer_1_beside_the_heads_own() -> None:
    """The ablation's expected return ranks the return from t perfectly and the head's ranks
    the return from the next close in reverse: each figure reads its own pair of columns."""
    # ten names per date (daily_ic skips dates with fewer than five)
    frame = pl.concat(_predictions().with_columns(pl.col("ticker") + str(k)) for k in range(5))
    frame = frame.with_columns(
        (pl.col("pred_expected_ret_pct") + pl.int_range(pl.len()) * 1e-3),
        pl.col("future_ret_pct").alias("pred_expected_ret_pct_no_state_probs"),
    ).with_columns((-pl.col("pred_expected_ret_pct")).alias("future_ret_next_pct"))
    overall = fold_prediction_metrics(frame)["overall"]
    assert overall["rank_ic_next_mean"] == pytest.approx(-1.0)
    assert overall["rank_ic_no_state_probs_mean"] == pytest.approx(1.0)
    unrelated = overall["rank_ic_next_no_state_probs_mean"]
    assert unrelated is not None
    assert abs(unrelated) < 0.5
    without = fold_prediction_metrics(frame.drop("future_ret_next_pct"))["overall"]
    assert "rank_ic_next_mean" not in without
    assert "rank_ic_no_state_probs_mean" in without
