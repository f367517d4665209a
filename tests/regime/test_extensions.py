"""Layer 1's parts chosen by name: networks, losses, samplers, curriculum, pseudo-labels."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
from imblearn.over_sampling import SMOTE
from torch import nn

from m002.data import generate_synthetic
from m002.exceptions import ConfigError
from m002.features import add_features
from m002.labels import assign_regime_labels
from m002.pipeline import RegimeParams, config_from_dict
from m002.regime import (
    NO_STATE_ID,
    OUTCOME_NAMES,
    SAMPLERS,
    FocalLoss,
    RegimeClassifier,
    RegimeLSTM,
    RegimeTransformer,
    SequenceSet,
    build_sequences,
    lr_factor,
    pacing_share,
    pseudo_labels,
    regime_outcome,
    time_split,
)
from m002.regime._classifier import RegimeClassifier as _Classifier
from m002.regime._curriculum import LossCurriculum
from m002.regime._losses import weighted_mean_loss

TINY = {"hidden_size": 8, "max_epochs": 2, "batch_size": 64, "seed": 0, "verbose": False}


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    prices = generate_synthetic(n_tickers=6, n_days=400, seed=0).prices
    return assign_regime_labels(add_features(prices, "m002")).collect()


def _train_valid(frame: pl.DataFrame, model: RegimeClassifier) -> tuple[SequenceSet, SequenceSet]:
    """The fit's training and validation windows, rebuilt as `fit` splits them."""
    labelled = frame.with_columns(regime_outcome().alias("outcome"))
    seqs = build_sequences(labelled, model.feature_names_, label_column="outcome")
    calendar = seqs.keys["date"].unique().sort()
    positions = np.searchsorted(calendar.to_numpy(), seqs.end_dates().to_numpy())
    train, valid, _ = time_split(
        positions, calendar.len(), valid_fraction=0.2, gap=model.split_["gap_dates"]
    )
    return seqs.subset(train), seqs.subset(valid)


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    one, two = a.state_dict(), b.state_dict()
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


# --- losses ------------------------------------------------------------------------------


def test_focal_loss_matches_hand_values() -> None:
    # softmaxes: [1/3, 1/3, 1/3], [1/2, 1/4, 1/4], [1/4, 1/2, 1/4]; eps = 0.3 over 3
    # classes puts 0.1 on each wrong class and 0.8 on the right one
    logits = torch.tensor(
        [[0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0], [0.0, math.log(2), 0.0]], dtype=torch.float64
    )
    y = torch.tensor([1, 0, 2])
    ln2, ln3, ln4 = math.log(2), math.log(3), math.log(4)
    expected = [
        (4 / 9) * ln3,  # every class: (1 - 1/3)^2 * ln 3, weights summing to 1
        0.8 * 0.25 * ln2 + 2 * 0.1 * 0.5625 * ln4,
        0.1 * 0.5625 * ln4 + 0.1 * 0.25 * ln2 + 0.8 * 0.5625 * ln4,
    ]
    per_row = FocalLoss(gamma=2.0, label_smoothing=0.3, reduction="none")(logits, y)
    np.testing.assert_allclose(per_row.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [0.48827214, 0.29458755, 0.71914023], rtol=1e-7)
    mean = FocalLoss(gamma=2.0, label_smoothing=0.3)(logits, y)
    assert float(mean) == pytest.approx(sum(expected) / 3, rel=1e-12)


def test_focal_loss_with_gamma_zero_is_the_smoothed_cross_entropy() -> None:
    logits = torch.randn(7, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 5])
    focal = FocalLoss(gamma=0.0, label_smoothing=0.15, reduction="none")(logits, y)
    cross = nn.CrossEntropyLoss(label_smoothing=0.15, reduction="none")(logits, y)
    np.testing.assert_allclose(focal.numpy(), cross.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "loss",
    [
        FocalLoss(gamma=2.0, label_smoothing=0.15, reduction="none"),
        nn.CrossEntropyLoss(label_smoothing=0.15, reduction="none"),
    ],
)
def test_a_weighted_batch_trains_like_its_repeated_windows(loss: nn.Module) -> None:
    # balanced batches weigh each window by its repeats instead of repeating it: the loss
    # and every gradient are the repeated batch's (no dropout, so the passes agree)
    torch.manual_seed(0)
    model = RegimeLSTM(3, 6, hidden_size=5, dropout=0.0).double()
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 2, 5, 5, 3])
    weight = torch.tensor([3.0, 1.0, 2.0, 1.0, 4.0, 1.0, 2.0], dtype=torch.float64)

    def step(windows: torch.Tensor, outcomes: torch.Tensor, w: torch.Tensor) -> list[torch.Tensor]:
        model.zero_grad()
        value = weighted_mean_loss(loss, model(windows), outcomes, w)
        value.backward()
        return [value.detach(), *(p.grad.clone() for p in model.parameters())]

    repeats = weight.long()
    weighted = step(x, y, weight)
    repeated = step(
        x.repeat_interleave(repeats, 0),
        y.repeat_interleave(repeats),
        torch.ones(int(repeats.sum())),
    )
    for mine, theirs in zip(weighted, repeated, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-14)


# --- names, config, dependencies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("model", "gru", "'lstm', 'transformer'"),
        ("loss", "hinge", "'cross_entropy', 'focal'"),
        ("sampling", "smoot", "'balanced_batch', 'weighted_batch', 'none', 'smote', 'adasyn'"),
        ("curriculum", "self_paced", "'none', 'loss'"),
        ("lr_schedule", "linear", "'constant', 'cosine'"),
    ],
)
def test_an_unknown_name_is_refused_with_the_choices(key: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError, match=f"`{key}` must be one of {allowed}, got `{key}='"):
        RegimeClassifier(**{key: value})._validate_params()
    with pytest.raises(ConfigError, match=rf"^\[regime\] `{key}` must be one of"):
        config_from_dict({"regime": {key: value}})


def test_bad_values_of_the_new_parameters_name_them() -> None:
    with pytest.raises(ConfigError, match="`hidden_size` must be a multiple of `n_heads`"):
        RegimeClassifier(model="transformer", hidden_size=10, n_heads=4)._validate_params()
    RegimeClassifier(model="lstm", hidden_size=10, n_heads=4)._validate_params()  # LSTM: unused
    for threshold in (0.0, 1.5, "high", True):
        with pytest.raises(ConfigError, match="`pseudo_label_threshold` must be None"):
            RegimeClassifier(pseudo_label_threshold=threshold)._validate_params()
    with pytest.raises(ConfigError, match=r"`focal_gamma` must be >= 0, got `focal_gamma=-1\.0`"):
        RegimeClassifier(focal_gamma=-1.0)._validate_params()
    with pytest.raises(ConfigError, match="`curriculum_epochs` must be >= 1"):
        RegimeClassifier(curriculum_epochs=0)._validate_params()
    with pytest.raises(
        ConfigError, match=r"`max_windows_per_epoch` must be >= 1, got `max_windows_per_epoch=0`"
    ):
        RegimeClassifier(max_windows_per_epoch=0)._validate_params()
    for cap in (2.5, "many", True):
        with pytest.raises(
            ConfigError, match=r"`max_windows_per_epoch` must be an int >= 1, got `max_windows_"
        ):
            RegimeClassifier(max_windows_per_epoch=cap)._validate_params()


def test_a_regime_table_reaches_the_classifier() -> None:
    table = {"model": "transformer", "n_heads": 2, "hidden_size": 8, "loss": "focal",
             "focal_gamma": 1, "sampling": "none", "curriculum": "loss",
             "pseudo_label_threshold": 0.9, "max_windows_per_epoch": 5000}  # fmt: skip
    params = config_from_dict({"regime": table}).regime
    assert params == RegimeParams(**{**table, "focal_gamma": 1.0})
    model = RegimeClassifier(**dataclasses.asdict(params))
    assert {k: model.get_params()[k] for k in table} == {**table, "focal_gamma": 1.0}


def test_without_imbalanced_learn_smote_and_adasyn_name_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "imblearn", None)
    for name in ("smote", "adasyn"):
        with pytest.raises(ConfigError, match=r"pip install 'm002\[experiments\]'"):
            RegimeClassifier(sampling=name)._validate_params()
        with pytest.raises(ConfigError, match=rf"\[regime\] `sampling='{name}'` needs"):
            config_from_dict({"regime": {"sampling": name}})
    RegimeClassifier(sampling="none")._validate_params()  # the others need nothing


# --- samplers ----------------------------------------------------------------------------


@pytest.mark.parametrize("sampling", list(SAMPLERS))
def test_each_sampling_fits_and_refits_bit_for_bit(frame: pl.DataFrame, sampling: str) -> None:
    one = RegimeClassifier(**TINY, sampling=sampling).fit(frame)
    two = RegimeClassifier(**TINY, sampling=sampling).fit(frame)
    assert _same_weights(one.model_, two.model_)
    assert one.predict_probabilities(frame).equals(two.predict_probabilities(frame))
    assert one.history_ == two.history_
    # the calibration starts from the mix the batches had: balanced, or (for "none") the
    # training frequencies themselves, which need no shift
    train = one.metrics_["sequences_per_class"]["train"]
    total = sum(train.values())
    shift = one.metrics_["calibration"]["log_prior_shift"]
    for outcome in OUTCOME_NAMES:
        balanced = math.log(train[outcome] / total * len(OUTCOME_NAMES))
        assert shift[outcome] == pytest.approx(0.0 if sampling == "none" else balanced)


def test_the_default_sampling_is_today_s_model(frame: pl.DataFrame) -> None:
    default = RegimeClassifier(**TINY).fit(frame)
    named = RegimeClassifier(**TINY, sampling="balanced_batch", model="lstm").fit(frame)
    assert type(default.model_) is RegimeLSTM
    assert _same_weights(default.model_, named.model_)


def test_smote_sees_training_windows_of_the_epoch_draw_and_no_validation_window(
    frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[np.ndarray] = []
    original = SMOTE.fit_resample

    def spy(self: SMOTE, X: np.ndarray, y: np.ndarray, **kwargs: Any) -> Any:
        seen.append(np.array(X))
        return original(self, X, y, **kwargs)

    monkeypatch.setattr(SMOTE, "fit_resample", spy)
    model = RegimeClassifier(**{**TINY, "max_epochs": 1}, sampling="smote").fit(frame)
    train, valid = _train_valid(frame, model)
    mean, std = model.model_.feature_mean.numpy(), model.model_.feature_std.numpy()

    def rows(part: SequenceSet) -> set[bytes]:
        windows = np.stack([part.window(i) for i in range(len(part))])
        z = np.clip((windows - mean) / std, -8.0, 8.0).reshape(len(part), -1)
        return {row.tobytes() for row in z}

    train_rows, valid_rows = rows(train), rows(valid)
    labels = train.require_labels()
    per_state = np.bincount(labels[labels != NO_STATE_ID])
    draw = int((labels != NO_STATE_ID).sum()) + round(float(per_state[per_state > 0].mean()))
    assert seen  # one call per outcome below the largest count
    for x in seen:
        assert x.shape == (draw, model.seq_len * model.n_features_in_)
        captured = {row.tobytes() for row in x}
        assert captured <= train_rows
        assert not captured & valid_rows


@pytest.mark.parametrize("sampling", list(SAMPLERS))
def test_a_capped_epoch_trains_on_a_seeded_subset_of_its_draw(
    frame: pl.DataFrame, sampling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[np.ndarray] = []
    original = SAMPLERS[sampling].capped

    def spy(self: Any, positions: np.ndarray) -> np.ndarray:
        kept = original(self, positions)
        drawn.append(kept)
        assert np.isin(kept, positions).all()
        assert (np.diff(kept) > 0).all()
        return kept

    monkeypatch.setattr(SAMPLERS[sampling], "capped", spy)
    params = {**TINY, "sampling": sampling, "max_windows_per_epoch": 150}
    one = RegimeClassifier(**params).fit(frame)
    assert [kept.size for kept in drawn] == [150] * len(one.history_)
    first = [kept.copy() for kept in drawn]
    drawn.clear()
    two = RegimeClassifier(**params).fit(frame)
    assert all(np.array_equal(a, b) for a, b in zip(first, drawn, strict=True))
    assert _same_weights(one.model_, two.model_)
    # the epochs draw different windows, and the cap changes the model
    assert not np.array_equal(first[0], first[1])
    assert not _same_weights(
        one.model_, RegimeClassifier(**TINY, sampling=sampling).fit(frame).model_
    )


def test_a_cap_above_the_draw_is_todays_model(frame: pl.DataFrame) -> None:
    default = RegimeClassifier(**TINY).fit(frame)
    capped = RegimeClassifier(**TINY, max_windows_per_epoch=10**9).fit(frame)
    assert _same_weights(default.model_, capped.model_)


# --- networks ----------------------------------------------------------------------------


def test_a_transformer_refits_bit_for_bit_and_round_trips(
    frame: pl.DataFrame, tmp_path: Path
) -> None:
    params = {**TINY, "model": "transformer", "n_heads": 2}
    one = RegimeClassifier(**params).fit(frame)
    two = RegimeClassifier(**params).fit(frame)
    assert isinstance(one.model_, RegimeTransformer)
    assert len(one.model_.encoder.layers) == 1
    assert one.model_.encoder.layers[0].self_attn.num_heads == 2
    assert _same_weights(one.model_, two.model_)
    probs = one.predict_probabilities(frame)
    assert probs.equals(two.predict_probabilities(frame))
    folder = one.save(tmp_path / "transformer")
    meta = json.loads((folder / "regime_meta.json").read_text())
    assert (meta["params"]["model"], meta["params"]["n_heads"]) == ("transformer", 2)
    loaded = RegimeClassifier.load(folder)
    assert isinstance(loaded.model_, RegimeTransformer)
    assert loaded.predict_probabilities(frame).equals(probs)


def test_a_model_saved_before_the_names_loads_as_the_lstm(
    frame: pl.DataFrame, tmp_path: Path
) -> None:
    model = RegimeClassifier(**{**TINY, "max_epochs": 1}).fit(frame)
    folder = model.save(tmp_path / "old")
    meta = json.loads((folder / "regime_meta.json").read_text())
    new_keys = ("model", "n_heads", "loss", "focal_gamma", "sampling", "curriculum",
                "curriculum_epochs", "pseudo_label_threshold", "lr_schedule")  # fmt: skip
    for key in new_keys:
        del meta["params"][key]
    (folder / "regime_meta.json").write_text(json.dumps(meta))
    loaded = RegimeClassifier.load(folder)
    assert (loaded.model, loaded.lr_schedule) == ("lstm", "constant")
    assert type(loaded.model_) is RegimeLSTM
    assert loaded.predict_probabilities(frame).equals(model.predict_probabilities(frame))


def test_a_warm_start_needs_the_same_network(frame: pl.DataFrame) -> None:
    lstm = RegimeClassifier(**{**TINY, "max_epochs": 1}).fit(frame)
    with pytest.raises(ConfigError, match=r"same shape.*model='lstm'.*model='transformer'"):
        RegimeClassifier(**TINY, model="transformer", n_heads=2).fit(frame, init=lstm)


def test_a_focal_fit_trains_and_differs_from_the_cross_entropy(frame: pl.DataFrame) -> None:
    focal = RegimeClassifier(**TINY, loss="focal").fit(frame)
    cross = RegimeClassifier(**TINY).fit(frame)
    # same seed, same batches: only the loss differs, and so does the first epoch's mean loss
    assert focal.history_[0]["train_accuracy"] > 0
    assert focal.history_[0]["train_loss"] < cross.history_[0]["train_loss"]


# --- curriculum --------------------------------------------------------------------------


def test_the_loss_curriculum_goes_from_easy_to_hard_within_each_outcome() -> None:
    labels = np.array([0, 0, 0, 0, 5, 5, 5, 5, 5, 5])
    difficulty = np.array([0.4, 0.1, 0.3, 0.2, 6.0, 1.0, 5.0, 2.0, 4.0, 3.0])
    curriculum = LossCurriculum(labels, 4, difficulty)
    # 4 epochs: shares 0.5, 0.75, then all (the ramp is the first half, 2 epochs)
    assert [pacing_share(e, 4) for e in (1, 2, 3, 4)] == [0.5, 0.75, 1.0, 1.0]
    assert curriculum.windows(1).tolist() == [1, 3, 5, 7, 9]  # each outcome's easiest half
    assert curriculum.windows(2).tolist() == [1, 2, 3, 5, 6, 7, 8, 9]  # ceil(0.75 * n) each
    assert curriculum.windows(3).tolist() == list(range(10))
    assert set(curriculum.windows(1)) <= set(curriculum.windows(2))


def test_a_curriculum_fit_records_growing_shares_and_ignores_validation(
    frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    difficulties: list[np.ndarray] = []
    original = _Classifier._window_losses

    def spy(self: RegimeClassifier, model: nn.Module, train: SequenceSet) -> np.ndarray:
        result = original(self, model, train)
        difficulties.append(result)
        return result

    monkeypatch.setattr(_Classifier, "_window_losses", spy)
    params = {**TINY, "max_epochs": 4, "patience": 4, "curriculum": "loss"}
    model = RegimeClassifier(**params).fit(frame)
    record = model.metrics_["curriculum"]
    assert record["scoring_epochs"] == 2
    assert record["share_per_epoch"][0] == pytest.approx(0.5, abs=0.01)
    assert record["share_per_epoch"][1] == pytest.approx(0.75, abs=0.01)
    assert record["share_per_epoch"][2:] == [1.0, 1.0]
    means = record["mean_difficulty_per_epoch"]
    assert means[0] < means[1] < means[2] == means[3]
    # the difficulty is the training windows' alone: wrecking every validation row's
    # features changes the validation metrics, not one bit of it
    cut = pl.lit(model.split_["valid_start"]).str.to_date()
    spiked = frame.with_columns(
        pl.when(pl.col("date") >= cut).then(pl.col("rsi_14") * 1000).otherwise("rsi_14")
    )
    RegimeClassifier(**params).fit(spiked)
    assert len(difficulties) == 2
    np.testing.assert_array_equal(difficulties[0], difficulties[1])


# --- learning-rate schedule --------------------------------------------------------------


def test_the_cosine_schedule_falls_from_lr_to_zero_step_by_step() -> None:
    epochs, steps = 3, 4
    grid = [lr_factor("cosine", e, i, steps, epochs) for e in range(1, 4) for i in range(steps)]
    assert grid[0] == 1.0
    assert all(a > b for a, b in itertools.pairwise(grid))  # every step lower
    assert grid[6] == pytest.approx(0.5)  # half way: epoch 2, step 2 of 4
    assert 0.0 < grid[-1] < 0.02  # the last step is near 0, not at it
    # a step's place inside its epoch counts, whatever the epoch's number of steps
    assert lr_factor("cosine", 2, 1, 2, 2) == pytest.approx(lr_factor("cosine", 2, 2, 4, 2))
    assert {lr_factor("constant", e, i, steps, epochs) for e in (1, 3) for i in (0, 3)} == {1.0}


def test_a_fit_steps_at_the_scheduled_rates(
    frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates: list[float] = []
    original = torch.optim.AdamW.step

    def spy(self: torch.optim.AdamW, *args: Any, **kwargs: Any) -> Any:
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    params = {**TINY, "max_epochs": 3, "patience": 3, "lr": 0.01}
    constant = RegimeClassifier(**params, lr_schedule="constant").fit(frame)
    assert set(rates) == {0.01}
    steps = len(rates)
    cosine = RegimeClassifier(**params, lr_schedule="cosine").fit(frame)
    scheduled = rates[steps:]
    assert len(scheduled) == steps  # the same batches, three full epochs each
    assert scheduled[0] == 0.01
    assert all(a > b > 0 for a, b in itertools.pairwise(scheduled))
    assert scheduled[-1] < 0.01 * 0.02
    assert not _same_weights(constant.model_, cosine.model_)
    again = RegimeClassifier(**params, lr_schedule="cosine").fit(frame)
    assert _same_weights(cosine.model_, again.model_)  # deterministic by seed


# --- pseudo-labels -----------------------------------------------------------------------


def test_pseudo_labels_touch_only_confident_no_state_windows() -> None:
    labels = np.array([5, 5, 5, 2, 5])
    probs = np.array([
        [0.60, 0.00, 0.00, 0.00, 0.00, 0.40],  # no state -> Peak (0.60 >= 0.6)
        [0.00, 0.59, 0.00, 0.00, 0.00, 0.41],  # below the threshold: stays
        [0.00, 0.00, 0.00, 0.00, 0.65, 0.35],  # -> Distribution
        [0.90, 0.00, 0.10, 0.00, 0.00, 0.00],  # a state window: never relabelled
        [0.05, 0.05, 0.05, 0.05, 0.05, 0.75],  # no state stays
    ])  # fmt: skip
    new, per_state = pseudo_labels(labels, probs, 0.6)
    assert new.tolist() == [0, 5, 4, 2, 5]
    assert per_state.tolist() == [1, 0, 0, 0, 1]
    assert labels.tolist() == [5, 5, 5, 2, 5]  # the input is not changed


def test_a_pseudo_label_fit_relabels_training_no_state_windows_only(
    frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits: list[tuple[np.ndarray, np.ndarray]] = []
    original = _Classifier._fit_network

    def spy(self: RegimeClassifier, train: SequenceSet, valid: SequenceSet, *a: Any) -> Any:
        fits.append((train.require_labels().copy(), valid.require_labels().copy()))
        return original(self, train, valid, *a)

    monkeypatch.setattr(_Classifier, "_fit_network", spy)
    model = RegimeClassifier(**TINY, pseudo_label_threshold=0.1).fit(frame)
    assert len(fits) == 2  # a first fit, then the fit on the relabelled windows
    (first, valid_one), (second, valid_two) = fits
    np.testing.assert_array_equal(valid_one, valid_two)  # validation keeps its labels
    changed = first != second
    assert changed.any()
    assert (first[changed] == NO_STATE_ID).all()
    assert (second[changed] != NO_STATE_ID).all()
    record = model.metrics_["pseudo_labels"]
    relabelled = np.bincount(second[changed], minlength=NO_STATE_ID)
    assert record["relabelled"] == dict(zip(model.classes_, relabelled.tolist(), strict=True))
    assert record["threshold"] == 0.1
    # metrics and the calibration's frequencies stay on the true labels
    true_counts = np.bincount(first, minlength=len(OUTCOME_NAMES)).tolist()
    assert list(model.metrics_["sequences_per_class"]["train"].values()) == true_counts
    frequency = model.metrics_["calibration"]["train_frequency"]
    assert frequency["none"] == true_counts[NO_STATE_ID] / sum(true_counts)
