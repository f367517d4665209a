from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from sklearn.base import clone

from m002.data import generate_synthetic
from m002.exceptions import ConfigError, NotFittedError, SchemaError
from m002.features import add_features
from m002.labels import REGIME_STATE_ID, assign_regime_labels
from m002.regime import (
    OUTCOME_NAMES,
    OutcomeCalibration,
    RegimeClassifier,
    RegimeLSTM,
    build_sequences,
    last_day_logistic_baseline,
    majority_baseline,
    state_prob_columns,
    time_split,
)

PARAMS = {"hidden_size": 32, "max_epochs": 10, "seed": 0, "verbose": False}


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    prices = generate_synthetic(n_tickers=30, n_days=1000, seed=0).prices
    return assign_regime_labels(add_features(prices, "m002")).collect()


@pytest.fixture(scope="module")
def fitted(frame: pl.DataFrame) -> RegimeClassifier:
    return RegimeClassifier(**PARAMS).fit(frame)


def test_fit_fills_history_and_metrics(fitted: RegimeClassifier) -> None:
    assert fitted.classes_ == ["Peak", "Accumulation", "EarlyUp", "LateDown", "Distribution"]
    assert 1 <= len(fitted.history_) <= 10
    assert set(fitted.history_[0]) == {
        "epoch", "train_loss", "train_accuracy", "valid_loss", "valid_accuracy",
    }  # fmt: skip
    best = min(h["valid_loss"] for h in fitted.history_)
    assert fitted.history_[fitted.best_epoch_ - 1]["valid_loss"] == best
    m = fitted.metrics_
    assert np.array(m["confusion_matrix"]).sum() == m["n"]
    valid = m["sequences_per_class"]["valid"]
    assert list(valid) == OUTCOME_NAMES
    assert sum(valid[state] for state in fitted.classes_) == m["n"]  # labelled windows
    assert set(m["per_class"]["Peak"]) == {"precision", "recall", "f1", "support"}
    # every window with a known outcome, "none" included
    every = m["all_rows"]
    assert every["n"] == sum(valid.values()) > m["n"]
    assert every["outcomes"] == OUTCOME_NAMES
    assert np.array(every["confusion_matrix"]).shape == (6, 6)
    assert every["frequency"]["none"] == valid["none"] / every["n"]
    assert 0 < every["log_loss"] < np.log(6)  # better than knowing nothing
    assert m["reliability"]["n"] == every["n"]
    assert set(m["reliability"]["outcomes"]) == set(OUTCOME_NAMES)
    assert m["calibration"]["temperature"] == fitted.calibration_.temperature
    assert len(m["calibration"]["out_of_fold_temperatures"]) == 2


def test_validation_comes_after_training_with_a_purge_gap(fitted: RegimeClassifier) -> None:
    split = fitted.split_
    assert split["train_end"] < split["valid_start"]
    assert split["gap_dates"] == fitted.seq_len + fitted.label_lookahead_


def test_beats_majority_and_last_day_logistic_on_later_dates(
    frame: pl.DataFrame, fitted: RegimeClassifier
) -> None:
    seqs = build_sequences(frame, fitted.feature_names_, label_column=REGIME_STATE_ID)
    calendar = seqs.keys["date"].unique().sort()
    positions = np.searchsorted(calendar.to_numpy(), seqs.end_dates().to_numpy())
    train, valid, _ = time_split(
        positions, calendar.len(), valid_fraction=0.2, gap=fitted.split_["gap_dates"]
    )
    assert valid.sum() == fitted.metrics_["n"]  # the same validation windows
    majority = majority_baseline(seqs.subset(train), seqs.subset(valid), fitted.classes_)
    logistic = last_day_logistic_baseline(seqs.subset(train), seqs.subset(valid), fitted.classes_)
    lstm = fitted.metrics_["macro_f1"]
    assert lstm > majority["macro_f1"]
    assert lstm > logistic["macro_f1"]


def test_probabilities_are_aligned_and_leave_room_for_no_state(
    frame: pl.DataFrame, fitted: RegimeClassifier
) -> None:
    probs = fitted.predict_probabilities(frame)
    assert probs.columns == ["ticker", "date", *state_prob_columns()]
    assert probs.select("ticker", "date").equals(frame.select("ticker", "date"))
    defined = probs.drop_nulls()
    total = defined.select(state_prob_columns()).sum_horizontal().to_numpy()
    assert (total > 0).all()
    assert (total <= 1 + 1e-12).all()
    # what the states leave is the probability of no state, the outcome of most rows
    assert 0.4 < 1 - total.mean() < 0.8
    # the first 60 feature warm-up rows + 19 more rows of each ticker cannot end a window
    first = probs.filter(pl.col("ticker") == "SYN0000")
    assert first[: 60 + 19]["state_prob_Peak"].null_count() == 79
    assert first[79:]["state_prob_Peak"].null_count() == 0


def test_same_seed_same_probabilities_and_save_load_round_trip(
    frame: pl.DataFrame, fitted: RegimeClassifier, tmp_path: Path
) -> None:
    again = RegimeClassifier(**PARAMS).fit(frame)
    assert again.predict_probabilities(frame).equals(fitted.predict_probabilities(frame))
    assert again.calibration_ == fitted.calibration_
    fitted.save(tmp_path / "regime")
    loaded = RegimeClassifier.load(tmp_path / "regime")
    assert loaded.predict_probabilities(frame).equals(fitted.predict_probabilities(frame))
    assert loaded.calibration_ == fitted.calibration_
    assert loaded.outputs_ == fitted.outputs_ == OUTCOME_NAMES
    assert loaded.metrics_ == fitted.metrics_
    assert loaded.get_params() == {**fitted.get_params(), "feature_columns": fitted.feature_names_}
    # the same weights give the same bytes wherever they are saved (content-keyed caches)
    again.save(tmp_path / "elsewhere")
    for name in ("regime_model.pt", "regime_meta.json"):
        assert (tmp_path / "elsewhere" / name).read_bytes() == (
            tmp_path / "regime" / name
        ).read_bytes()


def test_clone_keeps_params_and_drops_fitted_state(fitted: RegimeClassifier) -> None:
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_")


def test_not_fitted_error() -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RegimeClassifier().predict_probabilities(pl.DataFrame())


def test_missing_features_are_named(frame: pl.DataFrame, fitted: RegimeClassifier) -> None:
    with pytest.raises(
        SchemaError,
        match=r"regime model needs 2 column\(s\) the frame lacks: \['rsi_smooth', 'curv_2'\]",
    ):
        fitted.predict_probabilities(frame.drop("curv_2", "rsi_smooth"))


def test_bad_params_name_the_parameter(frame: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="`seq_len` must be >= 2, got `seq_len=1`"):
        RegimeClassifier(seq_len=1).fit(frame)
    with pytest.raises(ConfigError, match="`valid_fraction` must be in \\(0, 1\\)"):
        RegimeClassifier(valid_fraction=1.5).fit(frame)


def test_a_model_saved_before_the_calibration_loads_as_it_predicted(
    frame: pl.DataFrame, fitted: RegimeClassifier, tmp_path: Path
) -> None:
    """Format 1: five outputs, no "outputs" or "calibration" in the metadata: plain softmax."""
    folder = fitted.save(tmp_path / "old")
    old = RegimeLSTM(fitted.n_features_in_, 5, hidden_size=fitted.hidden_size)
    old.set_scaler(fitted.model_.feature_mean.numpy(), fitted.model_.feature_std.numpy())
    torch.save(old.state_dict(), folder / "regime_model.pt")
    meta = json.loads((folder / "regime_meta.json").read_text())
    for key in ("format", "outputs", "calibration"):
        del meta[key]
    (folder / "regime_meta.json").write_text(json.dumps(meta))
    loaded = RegimeClassifier.load(folder)
    assert loaded.calibration_ == OutcomeCalibration.identity(5)
    probs = loaded.predict_probabilities(frame).drop_nulls()
    total = probs.select(state_prob_columns()).sum_horizontal()
    np.testing.assert_allclose(total, 1, atol=1e-9)


def test_labels_without_the_known_flag_are_refused(frame: pl.DataFrame) -> None:
    with pytest.raises(SchemaError, match=r"`regime_label_known`.*assign_regime_labels"):
        RegimeClassifier(**PARAMS).fit(frame.drop("regime_label_known"))


def test_too_little_data_is_a_clear_error(frame: pl.DataFrame) -> None:
    short = frame.filter(pl.col("date") < pl.col("date").min() + pl.duration(days=120))
    with pytest.raises(SchemaError, match="not enough labelled windows"):
        RegimeClassifier(**PARAMS).fit(short)


def test_seq_len_longer_than_any_run_names_it_and_the_longest_run(frame: pl.DataFrame) -> None:
    # every synthetic ticker has 1000 rows, of which 60 are feature warm-up
    with pytest.raises(
        SchemaError,
        match=r"`seq_len=5000`.*longest usable run of rows .* is 940 rows.*lower `seq_len`",
    ):
        RegimeClassifier(**{**PARAMS, "seq_len": 5000}).fit(frame)


def test_scaler_uses_training_rows_only(frame: pl.DataFrame) -> None:
    # blow up one feature after the validation start: the stored mean must not move
    model = RegimeClassifier(**{**PARAMS, "max_epochs": 1}).fit(frame)
    cut = pl.lit(model.split_["valid_start"]).str.to_date()
    spiked = frame.with_columns(
        pl.when(pl.col("date") >= cut).then(pl.col("rsi_14") * 1000).otherwise("rsi_14")
    )
    spiked_model = RegimeClassifier(**{**PARAMS, "max_epochs": 1}).fit(spiked)
    index = model.feature_names_.index("rsi_14")
    assert spiked_model.model_.feature_mean[index] == model.model_.feature_mean[index]


def test_unlabelled_frame_is_labelled_with_the_config(fitted: RegimeClassifier) -> None:
    prices = generate_synthetic(n_tickers=6, n_days=500, seed=3).prices
    model = RegimeClassifier(**{**PARAMS, "max_epochs": 1}).fit(add_features(prices, "m002"))
    assert model.label_lookahead_ == 5


def test_a_warm_start_begins_at_the_given_weights_and_is_deterministic(
    frame: pl.DataFrame, fitted: RegimeClassifier
) -> None:
    later = frame.filter(pl.col("date") >= frame["date"].unique().sort()[200])
    warm = {**PARAMS, "max_epochs": 1}
    one = RegimeClassifier(**warm).fit(later, init=fitted)
    two = RegimeClassifier(**warm).fit(later, init=fitted)
    assert one.predict_probabilities(later).equals(two.predict_probabilities(later))
    cold = RegimeClassifier(**warm).fit(later)
    # one epoch from the fitted weights stays near them; one from random weights does not
    start = dict(fitted.model_.named_parameters())

    def moved(model: RegimeClassifier) -> float:
        weights = model.model_.named_parameters()
        return sum(float((p - start[n]).detach().abs().sum()) for n, p in weights)

    assert moved(one) < 0.5 * moved(cold)
    # the scaler is the warm fit's own training rows', not the initial model's
    assert not torch.equal(one.model_.feature_mean, fitted.model_.feature_mean)


def test_a_warm_start_needs_a_model_of_the_same_shape(
    frame: pl.DataFrame, fitted: RegimeClassifier
) -> None:
    with pytest.raises(ConfigError, match=r"same shape.*hidden_size=32.*hidden_size=8"):
        RegimeClassifier(**{**PARAMS, "hidden_size": 8}).fit(frame, init=fitted)


def test_scoring_gives_the_same_logits_on_any_threads_batches_and_subsets(
    frame: pl.DataFrame, fitted: RegimeClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    import m002.regime._classifier as classifier

    sequences = build_sequences(frame, fitted.feature_names_, seq_len=fitted.seq_len)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = fitted._logits(fitted.model_, sequences)
    finally:
        torch.set_num_threads(before)
    torch.set_num_threads(2)
    try:
        # batches of 7 on two workers, the last one a lone window (7 * k + 1 windows)
        monkeypatch.setattr(classifier, "_PREDICT_BATCH", 7)
        keep = np.zeros(len(sequences), dtype=bool)
        keep[: 7 * 40 + 1] = True
        part = fitted._logits(fitted.model_, sequences.subset(keep))
        threaded = fitted._logits(fitted.model_, sequences)
        assert torch.get_num_threads() == 2  # restored after the single-thread workers
    finally:
        torch.set_num_threads(before)
    assert len(sequences) > 7 * 40 + 1
    assert torch.equal(threaded, serial)
    assert torch.equal(part, serial[: 7 * 40 + 1])
    single = sequences.subset(np.arange(len(sequences)) == 5)
    assert torch.equal(fitted._logits(fitted.model_, single), serial[5:6])
