from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from m002.exceptions import SchemaError
from m002.regime import OUTCOME_NAMES, regime_quality, state_prob_columns

DAY = dt.date(2024, 1, 1)


def _labelled() -> pl.DataFrame:
    """Six rows: three states, two of no state, one unknown (a ticker's last row)."""
    return pl.DataFrame(
        {
            "ticker": ["A"] * 6,
            "date": [DAY + dt.timedelta(days=i) for i in range(6)],
            "regime_state_id": pl.Series([0, 1, 2, None, None, None], dtype=pl.Int8),
            "regime_label_known": [True, True, True, True, True, False],
        }
    )


def _probs(rows: list[list[float] | None]) -> pl.DataFrame:
    columns = state_prob_columns()
    values = {c: [None if r is None else r[i] for r in rows] for i, c in enumerate(columns)}
    return pl.DataFrame(
        {"ticker": ["A"] * len(rows), "date": [DAY + dt.timedelta(days=i) for i in range(6)]}
        | values,
        schema_overrides=dict.fromkeys(columns, pl.Float64),
    )


PROBS = _probs(
    [
        [0.7, 0.1, 0.0, 0.0, 0.0],  # Peak, right
        [0.1, 0.2, 0.3, 0.0, 0.0],  # Accumulation: states say EarlyUp, six outcomes say none
        [0.0, 0.0, 0.9, 0.0, 0.0],  # EarlyUp, right
        [0.0, 0.0, 0.0, 0.1, 0.1],  # none, right
        None,  # not scored (no full window)
        [0.5, 0.0, 0.0, 0.0, 0.0],  # scored, outcome unknown
    ]
)


def test_labelled_rows_and_all_rows_side_by_side() -> None:
    q = regime_quality(_labelled(), PROBS)
    # labelled rows: the three with a state, most likely of the five states
    assert q["n"] == 3
    assert q["accuracy"] == pytest.approx(2 / 3)
    every = q["all_rows"]
    assert every["n"] == 4  # three states + one "none" row that was scored
    assert every["n_unknown"] == 1
    assert every["outcomes"] == OUTCOME_NAMES
    assert every["accuracy"] == pytest.approx(0.75)  # the Accumulation row reads as "none"
    assert every["frequency"]["none"] == 0.25
    assert every["mean_probability"]["none"] == pytest.approx((0.2 + 0.4 + 0.1 + 0.8) / 4)
    expected = -np.log([0.7, 0.2, 0.9, 0.8]).mean()
    assert every["log_loss"] == pytest.approx(expected)
    assert q["reliability"]["n"] == 4


def test_probabilities_already_in_the_frame() -> None:
    joined = _labelled().join(PROBS, on=["ticker", "date"])
    assert regime_quality(joined) == regime_quality(_labelled(), PROBS)


def test_labels_of_an_older_m002_give_the_labelled_figures_only() -> None:
    q = regime_quality(_labelled().drop("regime_label_known"), PROBS)
    assert q["n"] == 3
    assert q["all_rows"] is None
    assert q["reliability"] is None


def test_nothing_scored() -> None:
    q = regime_quality(_labelled(), _probs([None] * 6))
    assert q["n"] == 0
    assert q["all_rows"]["n"] == 0


def test_missing_columns_are_named() -> None:
    with pytest.raises(SchemaError, match=r"regime_quality's `probs` needs .*state_prob_Peak"):
        regime_quality(_labelled(), PROBS.drop("state_prob_Peak"))
    with pytest.raises(SchemaError, match=r"regime_quality needs .*regime_state_id"):
        regime_quality(_labelled().drop("regime_state_id"), PROBS)
