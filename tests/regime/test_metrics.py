from __future__ import annotations

import numpy as np
import pytest

from m002.exceptions import ConfigError
from m002.regime import outcome_metrics, outcome_probabilities, reliability_table

NAMES = ["a", "b", "none"]


def test_outcome_probabilities_add_what_the_states_leave() -> None:
    six = outcome_probabilities(np.array([[0.2, 0.3], [0.6, 0.4 + 1e-12], [0.0, 0.0]]))
    np.testing.assert_allclose(six[:, 2], [0.5, 0.0, 1.0])
    assert (six >= 0).all()


def test_outcome_metrics_of_known_probabilities() -> None:
    y = np.array([0, 1, 2, 2])
    probs = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    m = outcome_metrics(y, probs, NAMES)
    assert m["n"] == 4
    assert m["log_loss"] == pytest.approx(-(3 * np.log(0.5) + np.log(1.0)) / 4)
    assert m["brier"] == pytest.approx((0.375 + 0.375 + 0.5 + 0.0) / 4)
    assert m["frequency"] == {"a": 0.25, "b": 0.25, "none": 0.5}
    assert m["mean_probability"] == pytest.approx({"a": 0.1875, "b": 0.3125, "none": 0.5})
    # the most likely outcome: row 2 is a tie, argmax takes the first ("b")
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_outcome_metrics_of_nothing() -> None:
    assert outcome_metrics(np.zeros(0, np.int64), np.zeros((0, 3)), NAMES) == {"n": 0}


def test_a_zero_probability_for_what_happened_is_a_large_but_finite_loss() -> None:
    m = outcome_metrics(np.array([0]), np.array([[0.0, 1.0, 0.0]]), NAMES)
    assert np.isfinite(m["log_loss"])
    assert m["log_loss"] > 30


def test_reliability_bins() -> None:
    y = np.array([0, 0, 1, 1, 2])
    probs = np.array(
        [[0.05, 0.9, 0.05], [0.95, 0.0, 0.05], [0.15, 0.8, 0.05], [1.0, 0.0, 0.0], [0, 0, 1.0]]
    )
    table = reliability_table(y, probs, NAMES, n_bins=10)
    assert table["n"] == 5
    assert table["n_bins"] == 10
    a = table["outcomes"]["a"]
    assert a["mean_probability"] == pytest.approx(0.43)
    assert a["frequency"] == pytest.approx(0.4)
    # bins of width 0.1, empty ones left out, 1.0 in the last
    assert a["bins"] == [
        {"p_mean": 0.025, "observed": 0.5, "n": 2},
        {"p_mean": 0.15, "observed": 0.0, "n": 1},
        {"p_mean": pytest.approx(0.975), "observed": 0.5, "n": 2},
    ]
    assert sum(b["n"] for b in table["outcomes"]["none"]["bins"]) == 5


def test_reliability_needs_a_bin() -> None:
    with pytest.raises(ConfigError, match="`n_bins` must be >= 1, got `n_bins=0`"):
        reliability_table(np.array([0]), np.array([[1.0]]), ["a"], n_bins=0)
