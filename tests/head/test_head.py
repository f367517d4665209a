"""The multi-task head: fitting, targets, losses, early stopping, refit, estimator contract."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.base import clone

from m002.exceptions import ConfigError, NotFittedError, SchemaError
from m002.head import PRED_COLUMNS, MultiTaskHead, RegressionLoss, daily_ic
from m002.labels import ReturnTarget
from tests.head.conftest import SIGNAL, head_frame, split_dates

FAST: dict[str, Any] = {
    "n_estimators": 40,
    "learning_rate": 0.1,
    "num_leaves": 7,
    "min_child_samples": 20,
    "n_jobs": 1,
}
FRAME = head_frame()
NOISE = head_frame(signal=0.0, seed=1, n_dates=120)


def fast(**kwargs: Any) -> MultiTaskHead:
    return MultiTaskHead(**{**FAST, **kwargs})


def trees(head: MultiTaskHead) -> dict[str, int]:
    return {name: booster.num_trees() for name, booster in head.boosters_.items()}


# --- fit and predict --------------------------------------------------------------------------


def test_fit_predict_learns_the_planted_signal() -> None:
    head = fast().fit(FRAME)
    out = head.predict(FRAME)
    assert out.columns == ["ticker", "date", *PRED_COLUMNS]
    assert out.height == FRAME.height
    assert out.select(pl.all().is_null().sum()).row(0) == (0,) * 5
    scored = out.join(FRAME, on=["ticker", "date"])
    assert daily_ic(scored, "pred_expected_ret_pct", "future_ret_pct")["rank_ic_mean"] > 0.3
    prob = out["pred_rebound_prob"]
    assert 0.0 < prob.min() <= prob.max() < 1.0  # type: ignore[operator]
    assert head.n_rows_fitted_ == FRAME.height
    assert head.n_rows_valid_ == 0
    assert head.base_rate_ == pytest.approx(FRAME["label_rebound_bin"].mean())
    assert head.best_iterations_ == dict.fromkeys(PRED_COLUMNS, 40)
    assert trees(head) == head.best_iterations_
    assert head.valid_scores_ == {}
    assert head.huber_deltas_ == {}


def test_rows_with_a_null_target_are_not_fitted() -> None:
    holes = FRAME.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(None)
        .otherwise("future_dd_pct")
        .alias("future_dd_pct")
    )
    assert fast().fit(holes).n_rows_fitted_ == FRAME.height - FRAME.height // 10


def test_infinite_features_count_as_missing() -> None:
    bad = FRAME.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(math.inf).otherwise(SIGNAL).alias(SIGNAL)
    )
    head = fast().fit(bad)
    assert head.n_infinite_replaced_ == 3
    assert np.isfinite(head.predict(bad).drop("ticker", "date").to_numpy()).all()


def test_feature_importance_names_every_feature_for_every_model() -> None:
    head = fast().fit(FRAME)
    importance = head.feature_importance()
    assert importance.columns == ["feature", *PRED_COLUMNS]
    assert importance["feature"].to_list() == head.feature_names_
    top = importance.sort("pred_expected_ret_pct", descending=True)["feature"][0]
    assert top == SIGNAL


def test_custom_feature_columns() -> None:
    head = fast(feature_columns=[SIGNAL, "volatility_20"]).fit(FRAME)
    assert head.feature_names_ == [SIGNAL, "volatility_20"]
    assert head.n_features_in_ == 2
    assert head.predict(FRAME.select("ticker", "date", SIGNAL, "volatility_20")).height == (
        FRAME.height
    )


# --- return targets -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ReturnTarget))
def test_each_return_target_trains(kind: ReturnTarget) -> None:
    head = fast(target=kind.value).fit(FRAME)
    out = head.predict(FRAME).join(FRAME, on=["ticker", "date"])
    pred = out["pred_expected_ret_pct"]
    assert pred.is_finite().all()
    # whatever the units, the names are ranked by the planted signal
    assert daily_ic(out, "pred_expected_ret_pct", "future_ret_pct")["rank_ic_mean"] > 0.3
    if kind is ReturnTarget.RANK:
        assert -0.5 <= pred.min() <= pred.max() <= 0.5  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["excess", "rank", "zscore"])
def test_cross_sectional_targets_ignore_the_market_move(kind: str) -> None:
    # adding the same return to every name on a date changes raw targets, not these
    shifted = FRAME.with_columns(
        pl.col("future_ret_pct") + pl.col("date").dt.day().cast(pl.Float64) * 3
    )
    base = fast(target=kind).fit(FRAME).predict(FRAME)
    moved = fast(target=kind).fit(shifted).predict(FRAME)
    assert_frame_equal(base, moved)
    raw = fast(target="raw").fit(shifted).predict(FRAME)
    assert not raw["pred_expected_ret_pct"].equals(base["pred_expected_ret_pct"])


def test_vol_scaled_target_needs_the_volatility_and_horizon() -> None:
    with pytest.raises(SchemaError, match=r"\['volatility_20', 'target_horizon'\]"):
        fast(target="vol_scaled_excess", feature_columns=[SIGNAL]).fit(
            FRAME.drop("volatility_20", "target_horizon")
        )
    with pytest.raises(SchemaError, match=r"\['date'\]"):
        fast(target="excess", feature_columns=[SIGNAL]).fit(FRAME.drop("date"))
    # raw reads no date: the head fits on any rows
    fast(feature_columns=[SIGNAL]).fit(FRAME.drop("date"))


# --- losses -------------------------------------------------------------------------------------


def test_huber_loss_runs_with_a_delta_per_regressor() -> None:
    head = fast(loss="huber").fit(FRAME)
    assert set(head.huber_deltas_) == {"pred_expected_ret_pct", "pred_expected_dd_pct"}
    ret = FRAME["future_ret_pct"].to_numpy()
    expected = np.quantile(np.abs(ret - np.median(ret)), 0.9)
    assert head.huber_deltas_["pred_expected_ret_pct"] == pytest.approx(expected)
    out = head.predict(FRAME).join(FRAME, on=["ticker", "date"])
    assert daily_ic(out, "pred_expected_ret_pct", "future_ret_pct")["rank_ic_mean"] > 0.3
    fixed = fast(loss=RegressionLoss.HUBER, huber_delta=2.5).fit(FRAME)
    assert fixed.huber_deltas_ == dict.fromkeys(head.huber_deltas_, 2.5)
    assert not fixed.predict(FRAME).equals(head.predict(FRAME))


def test_huber_delta_suits_the_rank_target() -> None:
    head = fast(loss="huber", target="rank").fit(FRAME)
    assert 0.3 < head.huber_deltas_["pred_expected_ret_pct"] < 0.5


# --- early stopping and refit -------------------------------------------------------------------


def test_early_stopping_stops_before_n_estimators_on_noise() -> None:
    fit_rows, valid_rows = split_dates(NOISE)
    head = fast(n_estimators=300, early_stopping_rounds=10).fit(fit_rows, valid=valid_rows)
    assert set(head.best_iterations_) == set(PRED_COLUMNS)
    assert all(1 <= n < 100 for n in head.best_iterations_.values()), head.best_iterations_
    assert trees(head) == head.best_iterations_
    assert head.n_rows_valid_ == valid_rows.height
    assert set(head.valid_scores_) == set(PRED_COLUMNS)
    assert all(np.isfinite(list(head.valid_scores_.values())))


def losses(name: str, y: np.ndarray, pred: np.ndarray, delta: float | None = None) -> float:
    """The validation metric LightGBM stops on, by hand."""
    if name == "pred_rebound_prob":
        p = np.clip(pred, 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    r = np.abs(y - pred)
    if delta is None:
        return float(np.mean(r**2))
    return float(np.mean(np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))))


@pytest.mark.parametrize("loss", ["l2", "huber"])
def test_early_stopping_keeps_the_trees_up_to_the_best_validation_score(loss: str) -> None:
    fit_rows, valid_rows = split_dates(FRAME)
    rounds = 15
    head = fast(n_estimators=200, early_stopping_rounds=rounds, loss=loss)
    head.fit(fit_rows, valid=valid_rows)
    # the same models grown further without stopping: the validation curve, tree by tree
    grown = fast(n_estimators=200, loss=loss).fit(fit_rows)
    x = valid_rows.select(head.feature_names_).to_numpy()
    truth = {
        "pred_rebound_prob": valid_rows["label_rebound_bin"].to_numpy(),
        "pred_expected_ret_pct": valid_rows["future_ret_pct"].to_numpy(),
        "pred_expected_dd_pct": valid_rows["future_dd_pct"].to_numpy(),
    }
    predicted = head.predict(valid_rows)
    for name, y in truth.items():
        delta = head.huber_deltas_.get(name)
        best = head.best_iterations_[name]
        curve = [
            losses(name, y, grown.boosters_[name].predict(x, num_iteration=k), delta)
            for k in range(1, min(best + rounds, 200) + 1)
        ]
        assert int(np.argmin(curve)) + 1 == best
        assert head.valid_scores_[name] == pytest.approx(curve[best - 1], rel=1e-6)
        assert losses(name, y, predicted[name].to_numpy(), delta) == pytest.approx(
            curve[best - 1], rel=1e-9
        )
        # the kept trees are the first `best` trees of the unstopped model
        np.testing.assert_array_equal(
            predicted[name].to_numpy(), grown.boosters_[name].predict(x, num_iteration=best)
        )


def test_refit_uses_exactly_the_chosen_trees_on_all_rows() -> None:
    fit_rows, valid_rows = split_dates(FRAME)
    early = fast(n_estimators=200, early_stopping_rounds=10).fit(fit_rows, valid=valid_rows)
    chosen = dict(early.best_iterations_)
    final = early.refit(FRAME)
    assert final is not early
    assert early.best_iterations_ == chosen  # the early-stopped head is left as it was
    assert trees(final) == chosen
    assert final.best_iterations_ == chosen
    assert final.n_rows_fitted_ == FRAME.height
    assert final.n_rows_valid_ == 0
    assert final.get_params() == early.get_params()
    by_hand = fast(n_estimators=200, early_stopping_rounds=10).fit(
        FRAME, n_estimators_by_output=chosen
    )
    assert_frame_equal(final.predict(FRAME), by_hand.predict(FRAME))


def test_n_estimators_by_output_overrides_per_model() -> None:
    head = fast().fit(FRAME, n_estimators_by_output={"pred_expected_ret_pct": 7})
    assert trees(head) == {
        "pred_rebound_prob": 40,
        "pred_expected_ret_pct": 7,
        "pred_expected_dd_pct": 40,
    }


def test_refit_of_a_loaded_head(tmp_path: Any) -> None:
    fit_rows, valid_rows = split_dates(FRAME)
    early = fast(n_estimators=200, early_stopping_rounds=10).fit(fit_rows, valid=valid_rows)
    loaded = MultiTaskHead.load(early.save(tmp_path / "head"))
    assert_frame_equal(loaded.refit(FRAME).predict(FRAME), early.refit(FRAME).predict(FRAME))


# --- estimator contract -------------------------------------------------------------------------


def test_init_stores_arguments_only() -> None:
    head = MultiTaskHead(target="nonsense", loss="l1", n_estimators=-1)
    assert head.get_params()["target"] == "nonsense"
    assert not [k for k in vars(head) if k.endswith("_")]


def test_defaults() -> None:
    params = MultiTaskHead().get_params()
    assert params["n_estimators"] == 600
    assert (params["target"], params["loss"], params["huber_delta"]) == ("raw", "l2", None)
    assert (params["learning_rate"], params["early_stopping_rounds"]) == (0.1, 20)
    assert (params["normalize"], params["fill"]) == ("none", "none")


def test_clone_and_params_round_trip() -> None:
    head = fast(target="rank", loss="huber", huber_delta=0.2, seed=4)
    twin = clone(head)
    assert twin.get_params() == head.get_params()
    assert MultiTaskHead(**head.get_params()).get_params() == head.get_params()
    twin.set_params(target="excess")
    assert (twin.target, head.target) == ("excess", "rank")
    fitted = head.fit(FRAME)
    assert not [k for k in vars(clone(fitted)) if k.endswith("_")]


@pytest.mark.parametrize("method", ["predict", "feature_importance", "save", "refit"])
def test_not_fitted_errors(method: str, tmp_path: Any) -> None:
    head = fast()
    args = {"predict": (FRAME,), "feature_importance": (), "save": (tmp_path,), "refit": (FRAME,)}
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(head, method)(*args[method])


def test_same_seed_same_trees_other_seed_other_trees() -> None:
    fit_rows, valid_rows = split_dates(FRAME)
    one = fast(seed=3, subsample=0.7).fit(fit_rows, valid=valid_rows)
    two = fast(seed=3, subsample=0.7).fit(fit_rows, valid=valid_rows)
    for name in PRED_COLUMNS:
        assert one.boosters_[name].model_to_string() == two.boosters_[name].model_to_string()
    assert_frame_equal(one.predict(FRAME), two.predict(FRAME))
    other = fast(seed=4, subsample=0.7).fit(fit_rows, valid=valid_rows)
    assert not other.predict(FRAME).equals(one.predict(FRAME))


def test_lazy_and_eager_frames_fit_the_same() -> None:
    assert_frame_equal(fast().fit(FRAME.lazy()).predict(FRAME), fast().fit(FRAME).predict(FRAME))


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_estimators": 0}, "n_estimators"),
        ({"n_estimators": 2.5}, "n_estimators"),
        ({"n_estimators": True}, "n_estimators"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": math.nan}, "learning_rate"),
        ({"num_leaves": 1}, "num_leaves"),
        ({"min_child_samples": 0}, "min_child_samples"),
        ({"subsample": 0.0}, "subsample"),
        ({"subsample": 1.5}, "subsample"),
        ({"colsample_bytree": 0.0}, "colsample_bytree"),
        ({"reg_lambda": -1.0}, "reg_lambda"),
        ({"reg_alpha": -1.0}, "reg_alpha"),
        ({"reg_alpha": math.inf}, "reg_alpha"),
        ({"max_depth": 0}, "max_depth"),
        ({"max_depth": -2}, "max_depth"),
        ({"max_depth": 2.5}, "max_depth"),
        ({"target": "demeaned"}, "target"),
        ({"target": None}, "target"),
        ({"loss": "l1"}, "loss"),
        ({"huber_delta": 0.0}, "huber_delta"),
        ({"huber_delta": math.inf}, "huber_delta"),
        ({"huber_delta": "1"}, "huber_delta"),
        ({"early_stopping_rounds": 0}, "early_stopping_rounds"),
        ({"normalize": "cs_zscore"}, "normalize"),
        ({"normalize": None}, "normalize"),
        ({"fill": "mean"}, "fill"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=f"`{name}") as info:
        fast(**kwargs).fit(FRAME)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


@pytest.mark.parametrize(
    ("by_output", "match"),
    [
        ({"pred_ret": 10}, "`n_estimators_by_output` keys"),
        ({"pred_expected_ret_pct": 0}, r"`n_estimators_by_output\['pred_expected_ret_pct'\]`"),
        ({"pred_rebound_prob": 3.0}, r"`n_estimators_by_output\['pred_rebound_prob'\]`"),
    ],
)
def test_bad_tree_counts_are_named(by_output: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        fast().fit(FRAME, n_estimators_by_output=by_output)


def test_schema_errors() -> None:
    with pytest.raises(SchemaError, match=r"fit rows.*\['future_dd_pct'\]"):
        fast().fit(FRAME.drop("future_dd_pct"))
    with pytest.raises(SchemaError, match=r"validation rows.*\['label_rebound_bin'\]"):
        fast().fit(FRAME, valid=FRAME.drop("label_rebound_bin"))
    nothing = FRAME.with_columns(pl.lit(None, dtype=pl.Float64).alias("future_ret_pct"))
    with pytest.raises(SchemaError, match="no row with all head targets"):
        fast().fit(nothing)
    with pytest.raises(SchemaError, match="no row of `valid`"):
        fast().fit(FRAME, valid=nothing)
    with pytest.raises(SchemaError, match="single class"):
        fast().fit(FRAME.with_columns(pl.lit(0, dtype=pl.Int8).alias("label_rebound_bin")))
    head = fast().fit(FRAME)
    with pytest.raises(SchemaError, match=rf"\['{SIGNAL}'\]"):
        head.predict(FRAME.drop(SIGNAL))


def test_a_failed_fit_leaves_the_head_as_it_was() -> None:
    head = fast().fit(FRAME)
    before = head.predict(FRAME)
    with pytest.raises(SchemaError):
        head.fit(FRAME, valid=FRAME.drop("future_dd_pct"))
    assert_frame_equal(head.predict(FRAME), before)
