"""Labels by method: the columns each reads, and the labels of a model's fit rows (priority:
the rules; hmm: an HMM fitted on exactly those rows, the same for the same rows)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from m002.data import generate_synthetic
from m002.features import build_dataset
from m002.labels import (
    LABEL_COLUMNS,
    HMMLabeller,
    RegimeLabelConfig,
    assign_regime_labels,
    label_fit_rows,
    label_inputs,
    required_columns,
)

FRAME = build_dataset(generate_synthetic(n_tickers=3, n_days=260, seed=8).prices, "m002").collect()
HMM = RegimeLabelConfig(method="hmm", lookahead=3, hmm_n_iter=25)
KEYS = ["ticker", "date", *LABEL_COLUMNS]


def test_label_inputs_name_what_each_method_reads() -> None:
    assert label_inputs(RegimeLabelConfig()) == required_columns()
    assert label_inputs(HMM) == ("ticker", "date", "log_ret_1", "volatility_20")
    other = RegimeLabelConfig(method="hmm", hmm_volatility_feature="atr_rel")
    assert label_inputs(other) == ("ticker", "date", "log_ret_1", "atr_rel")


def test_priority_fit_rows_are_the_rules_labels() -> None:
    config = RegimeLabelConfig(lookahead=4)
    assert_frame_equal(
        label_fit_rows(FRAME, config).collect(), assign_regime_labels(FRAME, config).collect()
    )


def test_hmm_fit_rows_are_labelled_by_an_hmm_fitted_on_exactly_them() -> None:
    pytest.importorskip("hmmlearn")
    fit_rows = FRAME.filter(pl.col("date") <= FRAME["date"].unique().sort()[180])
    labelled = label_fit_rows(fit_rows.sample(fraction=1.0, shuffle=True, seed=1), HMM).collect()
    own = HMMLabeller.from_config(HMM).fit(fit_rows)
    assert_frame_equal(labelled.select(KEYS), own.assign(fit_rows).collect().select(KEYS))
    # other rows make another HMM: the labels of a model's rows depend on its rows only
    every = HMMLabeller.from_config(HMM).fit(FRAME).assign(fit_rows).collect()
    assert not labelled["regime_state_id"].equals(every["regime_state_id"])
    # the same rows in any order give the same labels, bit for bit
    assert_frame_equal(label_fit_rows(fit_rows, HMM).collect(), labelled)
