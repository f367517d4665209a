"""HMM labeller: seeded fit, state-to-regime rule, forward filter and fixed-lag smoother
against hmmlearn on prefixes, causality, sequence splits, save/load, config."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import polars as pl
import pytest
from hmmlearn.hmm import GaussianHMM
from polars.testing import assert_frame_equal

from m002.data import generate_synthetic
from m002.exceptions import (
    ConfigError,
    DamagedFileError,
    DataValidationError,
    NotFittedError,
    SchemaError,
)
from m002.features import build_dataset
from m002.labels import (
    FITTED_LABELLERS,
    HMM_PROB_COLUMNS,
    ID_TO_STATE,
    LABEL_COLUMNS,
    LABEL_METHODS,
    STATE_TO_ID,
    HMMLabeller,
    RegimeLabelConfig,
    assign_regime_labels,
    fitted_labeller,
    hmm_state_order,
)

LOOKAHEAD = 3
WARMUP = 20  # volatility_20 is null on the first 20 rows of a ticker
INPUTS = ["log_ret_1", "volatility_20"]
PROBS = list(HMM_PROB_COLUMNS.values())

_prices = generate_synthetic(n_tickers=3, n_days=240, seed=5).prices
# one ticker 50 rows shorter, so that the sequences have different lengths
FRAME = (
    build_dataset(_prices, "m002")
    .collect()
    .filter((pl.col("ticker") != "SYN0001") | (pl.int_range(pl.len()).over("ticker") < 190))
)
LENGTHS = {"SYN0000": 240, "SYN0001": 190, "SYN0002": 240}
CUT = FRAME["date"].unique().sort()[160]
TRAIN = FRAME.filter(pl.col("date") < CUT)


def _fit(**kwargs: Any) -> HMMLabeller:
    params: dict[str, Any] = {"lookahead": LOOKAHEAD, "n_iter": 25, "seed": 0, **kwargs}
    return HMMLabeller(**params).fit(TRAIN)


LABELLER = _fit()
LABELLED = LABELLER.assign(FRAME).collect()
FILTERED = LABELLER.filter_probabilities(FRAME).collect()


def _reference(labeller: HMMLabeller) -> GaussianHMM:
    """hmmlearn's model with the labeller's parameters (full covariances: the same densities
    whatever form was fitted)."""
    model = GaussianHMM(n_components=5, covariance_type="full")
    model.startprob_ = labeller.startprob_
    model.transmat_ = labeller.transmat_
    model.means_ = labeller.means_
    model.covars_ = labeller.covars_
    return model


def _standardised(labeller: HMMLabeller, ticker: str) -> np.ndarray:
    rows = FRAME.filter(pl.col("ticker") == ticker).sort("date").slice(WARMUP)
    x = rows.select(INPUTS).to_numpy()
    return (x - labeller.feature_mean_) / labeller.feature_std_


def _fitted_arrays(labeller: HMMLabeller) -> dict[str, np.ndarray]:
    names = ("startprob_", "transmat_", "means_", "covars_", "feature_mean_", "feature_std_")
    return {name: getattr(labeller, name) for name in names}


# --- fit and the state -> regime rule ----------------------------------------------------------


def test_two_fits_with_one_seed_give_the_same_parameters_bit_for_bit() -> None:
    again = _fit()
    for name, value in _fitted_arrays(LABELLER).items():
        assert np.array_equal(getattr(again, name), value), name
    assert LABELLER.n_fit_rows_ == 3 * (160 - WARMUP)
    assert LABELLER.n_fit_sequences_ == 3


def test_the_fit_standardises_with_the_training_rows_only() -> None:
    x = TRAIN.drop_nulls(INPUTS).select(INPUTS).to_numpy()
    np.testing.assert_allclose(LABELLER.feature_mean_, x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(LABELLER.feature_std_, x.std(axis=0), rtol=1e-13)
    everything = FRAME.drop_nulls(INPUTS).select(INPUTS).to_numpy()
    assert not np.array_equal(LABELLER.feature_mean_, everything.mean(axis=0))


def test_the_state_order_rule_on_hand_made_means() -> None:
    # (return, volatility) of states 0..4
    means = [[0.0, 1.0], [0.3, 0.5], [-0.4, 2.0], [0.1, 1.5], [0.05, 0.2]]
    order = hmm_state_order(means)
    # Peak: middle volatility of the middle three (states 0, 3, 4) -> 0; Accumulation the
    # quietest -> 4; EarlyUp the best return -> 1; LateDown the worst -> 2; Distribution -> 3
    assert order.tolist() == [0, 4, 1, 2, 3]
    # a tie in return is broken by volatility: the calmer one is "lower" and gets LateDown
    tied = [[-0.4, 1.0], [0.3, 0.5], [-0.4, 2.0], [0.1, 1.5], [0.05, 0.2]]
    assert hmm_state_order(tied)[STATE_TO_ID["LateDown"]] == 0


def test_fitted_parameters_are_kept_in_regime_order() -> None:
    assert hmm_state_order(LABELLER.means_).tolist() == [0, 1, 2, 3, 4]
    summary = LABELLER.state_summary()
    assert summary["regime_state"].to_list() == list(STATE_TO_ID)
    ret = dict(zip(summary["regime_state"], summary["return_mean"], strict=True))
    vol = dict(zip(summary["regime_state"], summary["volatility_mean"], strict=True))
    assert ret["EarlyUp"] == max(ret.values())
    assert ret["LateDown"] == min(ret.values())
    assert vol["Accumulation"] < vol["Peak"] < vol["Distribution"]
    # the summary is in the inputs' units: the standardisation undone
    expected = LABELLER.means_[2, 1] * LABELLER.feature_std_[1] + LABELLER.feature_mean_[1]
    assert vol["EarlyUp"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_permuting_the_fitted_states_gives_the_same_labels(seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(5)
    assert not np.array_equal(perm, np.arange(5))
    data = LABELLER.to_dict()
    fitted = data["fitted"]
    fitted["startprob"] = LABELLER.startprob_[perm].tolist()
    fitted["transmat"] = LABELLER.transmat_[np.ix_(perm, perm)].tolist()
    fitted["means"] = LABELLER.means_[perm].tolist()
    fitted["covars"] = LABELLER.covars_[perm].tolist()
    permuted = HMMLabeller.from_dict(data)
    assert_frame_equal(permuted.assign(FRAME).collect(), LABELLED)
    assert_frame_equal(permuted.filter_probabilities(FRAME).collect(), FILTERED)


# --- forward filter ---------------------------------------------------------------------------


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_the_filter_equals_hmmlearn_on_the_prefix_ending_at_t(covariance: str) -> None:
    labeller = LABELLER if covariance == "diag" else _fit(covariance="full")
    filtered = FILTERED if covariance == "diag" else labeller.filter_probabilities(FRAME).collect()
    reference = _reference(labeller)
    for ticker in LENGTHS:
        z = _standardised(labeller, ticker)
        ours = filtered.filter(pl.col("ticker") == ticker).slice(WARMUP).select(PROBS)
        for t in (0, 1, 57, len(z) - 1):
            expected = reference.predict_proba(z[: t + 1])[-1]
            np.testing.assert_allclose(ours.row(t), expected, rtol=0, atol=1e-8)


def test_the_filter_does_not_read_later_rows() -> None:
    t = 120  # rows of SYN0002 after this one are perturbed
    ticker_row = pl.int_range(pl.len()).over("ticker")
    later = (pl.col("ticker") == "SYN0002") & (ticker_row > t)
    perturbed = FRAME.with_columns(
        pl.when(later).then(pl.col(c) * 3.0 + 0.01).otherwise(pl.col(c)).alias(c) for c in INPUTS
    )
    before = FILTERED.filter(~later)
    after = LABELLER.filter_probabilities(perturbed).collect()
    assert_frame_equal(after.filter(~later).select(PROBS), before.select(PROBS))
    assert not after.filter(later).select(PROBS).equals(FILTERED.filter(later).select(PROBS))
    # labels read exactly LOOKAHEAD rows ahead: rows up to t - LOOKAHEAD keep theirs
    relabelled = LABELLER.assign(perturbed).collect()
    keep = ~((pl.col("ticker") == "SYN0002") & (ticker_row > t - LOOKAHEAD))
    assert_frame_equal(relabelled.filter(keep), LABELLED.filter(keep))


def test_filter_probabilities_sum_to_one_and_are_null_on_rows_without_inputs() -> None:
    assert FILTERED.height == FRAME.height
    no_input = FILTERED.filter(pl.any_horizontal(pl.col(INPUTS).is_null()))
    assert no_input.height == 3 * WARMUP
    assert no_input.select(pl.all_horizontal(pl.col(PROBS).is_null()).all()).item()
    total = FILTERED.drop_nulls(PROBS).select(pl.sum_horizontal(PROBS))
    np.testing.assert_allclose(total.to_series().to_numpy(), 1.0, atol=1e-12)


# --- fixed-lag smoother labels ----------------------------------------------------------------


def test_the_label_posterior_is_hmmlearns_posterior_on_the_prefix_ending_at_t_plus_l() -> None:
    _, _, log_post, _ = LABELLER._smoothed(FRAME)
    reference = _reference(LABELLER)
    offset = 0
    for ticker, n in LENGTHS.items():
        z = _standardised(LABELLER, ticker)
        for t in (0, 10, 99, n - WARMUP - LOOKAHEAD - 1):
            expected = reference.predict_proba(z[: t + LOOKAHEAD + 1])[t]
            np.testing.assert_allclose(np.exp(log_post[offset + t]), expected, atol=1e-8)
            assert LABELLED.filter(pl.col("ticker") == ticker)["regime_state_id"][
                WARMUP + t
            ] == np.argmax(expected)
        offset += n - WARMUP


def test_assign_gives_the_columns_of_the_priority_labels() -> None:
    priority = assign_regime_labels(FRAME).collect()
    assert LABELLED.select(LABEL_COLUMNS).schema == priority.select(LABEL_COLUMNS).schema
    assert LABELLED.columns == priority.columns
    assert LABELLED.select("ticker", "date").equals(priority.select("ticker", "date"))
    names = LABELLED["regime_state_id"].replace_strict(ID_TO_STATE, return_dtype=pl.String)
    assert names.equals(LABELLED["regime_state"], null_equal=True)
    assert LABELLED["regime_label_lookahead"].unique().to_list() == [LOOKAHEAD]


def test_unknown_rows_are_the_warmup_and_the_last_lookahead_rows_of_each_ticker() -> None:
    for ticker, n in LENGTHS.items():
        known = LABELLED.filter(pl.col("ticker") == ticker)["regime_label_known"].to_numpy()
        expected = np.zeros(n, dtype=bool)
        expected[WARMUP : n - LOOKAHEAD] = True
        np.testing.assert_array_equal(known, expected)
    unknown = LABELLED.filter(~pl.col("regime_label_known"))
    assert unknown["regime_state"].null_count() == unknown.height


def test_a_null_input_splits_the_sequence() -> None:
    ticker_row = pl.int_range(pl.len()).over("ticker")
    gap = (pl.col("ticker") == "SYN0000") & (ticker_row == 100)
    holed = FRAME.with_columns(
        pl.when(gap).then(None).otherwise(pl.col("log_ret_1")).alias("log_ret_1")
    )
    known = LABELLER.assign(holed).collect().filter(pl.col("ticker") == "SYN0000")
    known = known["regime_label_known"].to_numpy()
    # the gap and the LOOKAHEAD rows before it are unknown, the rows after it are not
    assert known[100 - LOOKAHEAD : 101].tolist() == [False] * (LOOKAHEAD + 1)
    assert known[[100 - LOOKAHEAD - 1, 101]].tolist() == [True, True]
    # after the gap the filter starts afresh: the same as on the rows after it alone
    after_gap = (pl.col("ticker") == "SYN0000") & (ticker_row > 100)
    probs = LABELLER.filter_probabilities(holed).collect().filter(after_gap).select(PROBS)
    alone = LABELLER.filter_probabilities(FRAME.filter(after_gap)).collect().select(PROBS)
    assert_frame_equal(probs, alone)


def test_rows_below_min_posterior_get_no_state_and_stay_known() -> None:
    _, _, log_post, known = LABELLER._smoothed(FRAME)
    top = np.exp(log_post.max(axis=1))[known]
    threshold = float(np.quantile(top, 0.3))
    labelled = _fit(min_posterior=threshold).assign(FRAME).collect()
    on_known = labelled.filter("regime_label_known")
    no_state = on_known["regime_state"].is_null().to_numpy()
    np.testing.assert_array_equal(no_state, top < threshold)
    assert 0 < no_state.sum() < len(no_state)
    # below 1/5 a state always wins
    assert (
        _fit(min_posterior=0.2)
        .assign(FRAME)
        .collect()
        .filter("regime_label_known")["regime_state"]
        .null_count()
        == 0
    )


def test_lookahead_zero_labels_are_the_argmax_of_the_filter() -> None:
    causal = HMMLabeller.from_dict(
        {**LABELLER.to_dict(), "params": {"lookahead": 0, "min_posterior": 0.0}}
    )
    labelled = causal.assign(FRAME).collect().filter("regime_label_known")
    argmax = FILTERED.drop_nulls(PROBS).select(pl.concat_list(PROBS).list.arg_max())
    np.testing.assert_array_equal(labelled["regime_state_id"].to_numpy(), argmax.to_series())
    assert labelled.height == FRAME.height - 3 * WARMUP


# --- save / load ------------------------------------------------------------------------------


def test_to_dict_from_dict_round_trips_through_json_bit_for_bit() -> None:
    data = json.loads(json.dumps(LABELLER.to_dict()))
    loaded = HMMLabeller.from_dict(data)
    assert loaded.get_params() == LABELLER.get_params()
    for name, value in _fitted_arrays(LABELLER).items():
        assert np.array_equal(getattr(loaded, name), value), name
    assert (loaded.n_fit_rows_, loaded.converged_) == (LABELLER.n_fit_rows_, LABELLER.converged_)
    assert_frame_equal(loaded.assign(FRAME).collect(), LABELLED)


def test_an_unfitted_labeller_round_trips_and_refuses_to_label() -> None:
    unfitted = HMMLabeller(lookahead=2, min_posterior=0.7)
    data = unfitted.to_dict()
    assert data["fitted"] is None
    loaded = HMMLabeller.from_dict(json.loads(json.dumps(data)))
    assert loaded.get_params() == unfitted.get_params()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        loaded.assign(FRAME)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        loaded.filter_probabilities(FRAME)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda d: d.update(kind="priority"), ConfigError, "not an HMM labeller"),
        (lambda d: d["params"].update(depth=3), ConfigError, r"unknown .*\['depth'\]"),
        (lambda d: d["params"].update(min_posterior=2.0), ConfigError, "`min_posterior` must"),
        (lambda d: d["fitted"].pop("means"), DamagedFileError, "`fitted.means` is missing"),
        (lambda d: d["fitted"].update(startprob=[1.0]), DamagedFileError, "shape"),
        (
            lambda d: d["fitted"].update(transmat=[[0.5] * 5] * 5),
            DamagedFileError,
            "not a valid model",
        ),
    ],
)
def test_from_dict_rejects_what_it_cannot_read(change: Any, error: type, match: str) -> None:
    data = json.loads(json.dumps(LABELLER.to_dict()))
    change(data)
    with pytest.raises(error, match=match):
        HMMLabeller.from_dict(data)


# --- errors and config ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"covariance": "banded"}, r"`covariance` must be one of 'diag', 'full'"),
        ({"min_posterior": 1.5}, r"`min_posterior` must be <= 1.0, got `min_posterior=1.5`"),
        ({"n_iter": 0}, r"`n_iter` must be >= 1, got `n_iter=0`"),
        ({"lookahead": -1}, r"`lookahead` must be >= 0, got `lookahead=-1`"),
        ({"volatility_feature": "log_ret_1"}, "must be two columns"),
    ],
)
def test_fit_checks_its_parameters(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HMMLabeller(**params).fit(TRAIN)


def test_fit_errors_name_the_missing_column_and_the_short_input() -> None:
    with pytest.raises(SchemaError, match=r"\['volatility_20'\]"):
        HMMLabeller().fit(TRAIN.drop("volatility_20"))
    with pytest.raises(DataValidationError, match=r"at least 50 rows .* got 12"):
        HMMLabeller().fit(TRAIN.filter(pl.int_range(pl.len()).over("ticker") < WARMUP + 4))


def test_without_hmmlearn_fit_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hmmlearn", None)
    monkeypatch.setitem(sys.modules, "hmmlearn.hmm", None)
    with pytest.raises(ConfigError, match=r"pip install 'm002\[experiments\]'"):
        HMMLabeller().fit(TRAIN)
    # a saved labeller labels without hmmlearn
    assert_frame_equal(HMMLabeller.from_dict(LABELLER.to_dict()).assign(FRAME).collect(), LABELLED)


def test_config_method_and_hmm_keys() -> None:
    config = RegimeLabelConfig(
        lookahead=4, method="hmm", hmm_n_iter=7, hmm_min_posterior=0.6, hmm_seed=3
    )
    labeller = fitted_labeller(config)
    assert isinstance(labeller, HMMLabeller)
    assert labeller.get_params() == {
        "lookahead": 4,
        "return_feature": "log_ret_1",
        "volatility_feature": "volatility_20",
        "n_iter": 7,
        "covariance": "diag",
        "min_posterior": 0.6,
        "seed": 3,
    }
    assert HMMLabeller.from_config(config).get_params() == labeller.get_params()
    assert {*FITTED_LABELLERS, "priority"} == set(LABEL_METHODS)
    with pytest.raises(ConfigError, match=r"`method` must be one of 'priority', 'hmm'"):
        RegimeLabelConfig(method="viterbi")
    with pytest.raises(ConfigError, match=r"`hmm_min_posterior` must be <= 1.0"):
        RegimeLabelConfig(hmm_min_posterior=1.2)
    with pytest.raises(ConfigError, match=r"`hmm_covariance` must be one of"):
        RegimeLabelConfig(hmm_covariance="banded")
    with pytest.raises(ConfigError, match=r"HMMLabeller\.from_config"):
        assign_regime_labels(FRAME, config)
    with pytest.raises(ConfigError, match="priority rules need no fit"):
        fitted_labeller(RegimeLabelConfig())
