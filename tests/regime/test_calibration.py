from __future__ import annotations

import copy
import json
import math

import numpy as np
import polars as pl
import pytest

from m002.data import generate_synthetic
from m002.features import add_features
from m002.labels import assign_regime_labels
from m002.regime import (
    CLASS_NAMES,
    OUTCOME_NAMES,
    OutcomeCalibration,
    RegimeClassifier,
    regime_quality,
    state_prob_columns,
)

# --- the correction on its own --------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def test_from_counts_shifts_from_the_balanced_to_the_training_prior() -> None:
    cal = OutcomeCalibration.from_counts([10, 30, 60, 0])
    np.testing.assert_allclose(cal.train_frequency, [0.1, 0.3, 0.6, 0.0])
    # three outcomes present: each weighs 1/3 in the balanced batches
    np.testing.assert_allclose(cal.log_prior_shift[:3], np.log([0.3, 0.9, 1.8]))
    assert cal.log_prior_shift[3] == -math.inf
    # a network that cannot tell the outcomes apart (balanced-uniform) -> the training prior
    probs = cal.probabilities(np.zeros((2, 4)))
    np.testing.assert_allclose(probs, [[0.1, 0.3, 0.6, 0.0]] * 2)


def test_undoing_label_smoothing_recovers_the_balanced_posterior() -> None:
    """A network that learnt smoothed targets exactly, q = (1 - eps) p + eps / C, is taken
    back to p (times the prior ratio)."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), 50) * 0.9 + 0.1 / 4  # kept above the floor
    eps = 0.15
    q = (1 - eps) * p + eps / 4
    cal = OutcomeCalibration.from_counts([25, 25, 25, 25], label_smoothing=eps)
    np.testing.assert_allclose(cal.probabilities(np.log(q)), p, atol=1e-12)
    plain = OutcomeCalibration.from_counts([25, 25, 25, 25])
    assert not np.allclose(plain.probabilities(np.log(q)), p, atol=1e-3)


def test_fitted_temperature_is_the_one_that_generated_the_outcomes() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (20_000, 3))
    truth = 2.5
    probs = _softmax(logits / truth)
    outcomes = (rng.random((20_000, 1)) > probs.cumsum(axis=1)).sum(axis=1)
    fitted = OutcomeCalibration.identity(3).fit_temperature(logits, outcomes)
    assert fitted.temperature == pytest.approx(truth, rel=0.05)
    again = OutcomeCalibration.identity(3).fit_temperature(logits, outcomes)
    assert again == fitted  # deterministic
    assert fitted.mean_log_loss(logits, outcomes) < OutcomeCalibration.identity(3).mean_log_loss(
        logits, outcomes
    )


def test_no_rows_leave_the_temperature_alone() -> None:
    cal = OutcomeCalibration.from_counts([1, 1])
    assert cal.fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=np.int64)) == cal
    assert cal.probabilities(np.zeros((0, 2))).shape == (0, 2)


def test_json_round_trip_keeps_impossible_outcomes() -> None:
    cal = OutcomeCalibration.from_counts([5, 0, 15], label_smoothing=0.1).fit_temperature(
        np.array([[1.0, 0.0, 2.0], [0.0, 0.0, -1.0]]), np.array([2, 0])
    )
    names = ["a", "b", "c"]
    text = json.dumps(cal.to_dict(names), allow_nan=False)  # strict JSON: -inf as null
    assert json.loads(text)["log_prior_shift"]["b"] is None
    assert OutcomeCalibration.from_dict(json.loads(text), names) == cal


# --- on the demo data -----------------------------------------------------------------------

TOLERANCE = 0.02


@pytest.fixture(scope="module")
def demo() -> pl.DataFrame:
    """The demo's universe (50 tickers x 1500 days), labelled."""
    prices = generate_synthetic(n_tickers=50, n_days=1500, seed=0).prices
    return assign_regime_labels(add_features(prices, "m002")).collect()


@pytest.fixture(scope="module")
def cut(demo: pl.DataFrame) -> pl.Series:
    """The first 80% of the dates are fitted on (train + validation); the rest is never seen."""
    dates = demo["date"].unique().sort()
    start = int(dates.len() * 0.8)
    gap = 20 + 5  # seq_len + lookahead, as between training and validation
    return pl.Series([dates[start - 1 - gap], dates[start]])


@pytest.fixture(scope="module")
def model(demo: pl.DataFrame, cut: pl.Series) -> RegimeClassifier:
    model = RegimeClassifier(hidden_size=32, max_epochs=8, seed=0, verbose=False)
    return model.fit(demo.filter(pl.col("date") <= cut[0]))


def _gaps(figures: dict[str, dict[str, float]], names: list[str]) -> dict[str, float]:
    return {k: figures["mean_probability"][k] - figures["frequency"][k] for k in names}


def test_mean_probability_matches_frequency_on_the_validation_block(
    model: RegimeClassifier,
) -> None:
    """Honest: the temperature is fitted on the validation block, so each half of it is scored
    with the temperature of the other half (``metrics_`` are out of fold). The prior shift is
    fitted on the training windows only."""
    figures = model.metrics_["all_rows"]
    gaps = _gaps(figures, OUTCOME_NAMES)
    assert all(abs(g) <= TOLERANCE for g in gaps.values()), gaps
    assert sum(figures["frequency"].values()) == pytest.approx(1)


def test_mean_probability_matches_frequency_on_later_unseen_dates(
    demo: pl.DataFrame, cut: pl.Series, model: RegimeClassifier
) -> None:
    probs = model.predict_probabilities(demo).filter(pl.col("date") >= cut[1])
    quality = regime_quality(demo, probs)
    gaps = _gaps(quality["all_rows"], list(CLASS_NAMES))
    assert quality["all_rows"]["n"] > 10_000
    assert all(abs(g) <= TOLERANCE for g in gaps.values()), gaps


def test_the_uncorrected_network_overstates_every_state(
    demo: pl.DataFrame, cut: pl.Series, model: RegimeClassifier
) -> None:
    """What the balanced batches give before the correction: no room for "no state", and each
    state two to four times too likely."""
    raw = copy.copy(model)
    raw.calibration_ = OutcomeCalibration.identity(len(model.outputs_))
    probs = raw.predict_probabilities(demo).filter(pl.col("date") >= cut[1])
    figures = regime_quality(demo, probs)["all_rows"]
    for state in CLASS_NAMES:
        assert figures["mean_probability"][state] > 1.5 * figures["frequency"][state]


def test_a_peak_probability_of_one_half_means_one_half(
    demo: pl.DataFrame, cut: pl.Series, model: RegimeClassifier
) -> None:
    """The policy's threshold: ``state_prob_Peak >= 0.5`` fires where a peak is likely, so on
    fewer rows than there are peaks (before the correction: three times as many)."""
    probs = model.predict_probabilities(demo).filter(pl.col("date") >= cut[1])
    quality = regime_quality(demo, probs)
    fires = probs.drop_nulls()["state_prob_Peak"] >= 0.5
    assert fires.mean() <= quality["all_rows"]["frequency"]["Peak"]
    total = probs.drop_nulls().select(state_prob_columns()).sum_horizontal().to_numpy()
    assert total.max() <= 1 + 1e-12
