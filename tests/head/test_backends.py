"""The head's tree libraries by name (lightgbm, xgboost) and over-sampling of its classifier."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from imblearn.over_sampling import ADASYN, SMOTE
from polars.testing import assert_frame_equal
from scipy.stats import spearmanr

from m002.exceptions import ConfigError, DamagedFileError, SchemaError
from m002.head import HEAD_BACKENDS, HEAD_SAMPLERS, PRED_COLUMNS, MultiTaskHead, daily_ic
from m002.head._backends import LightGBMBackend, XGBoostBackend
from m002.head._sampling import K_NEIGHBORS, smote
from m002.pipeline import HeadParams, config_from_dict
from tests.head.conftest import REBOUND_SIGNAL, SIGNAL, head_frame, split_dates

FAST: dict[str, Any] = {
    "n_estimators": 40,
    "learning_rate": 0.1,
    "num_leaves": 7,
    "min_child_samples": 20,
    "n_jobs": 1,
}
FRAME = head_frame(n_dates=60, seed=5)
FIT_ROWS, VALID_ROWS = split_dates(FRAME)
REBOUND, RET, DD = PRED_COLUMNS


def fast(**kwargs: Any) -> MultiTaskHead:
    return MultiTaskHead(**{**FAST, **kwargs})


def features(frame: pl.DataFrame, head: MultiTaskHead) -> np.ndarray:
    return frame.select(head.feature_names_).to_numpy().astype(np.float64)


def raw(head: MultiTaskHead) -> dict[str, bytes]:
    """Each XGBoost booster as its JSON bytes."""
    return {name: bytes(b.save_raw(raw_format="json")) for name, b in head.boosters_.items()}


# --- xgboost ------------------------------------------------------------------------------------


def test_xgboost_learns_the_planted_signals() -> None:
    head = fast(model="xgboost").fit(FRAME)
    assert all(isinstance(b, xgb.Booster) for b in head.boosters_.values())
    assert head.best_iterations_ == dict.fromkeys(PRED_COLUMNS, 40)
    out = head.predict(FRAME)
    assert out.columns == ["ticker", "date", *PRED_COLUMNS]
    assert out.select(pl.all().is_null().sum()).row(0) == (0,) * 5
    scored = out.join(FRAME, on=["ticker", "date"])
    assert daily_ic(scored, RET, "future_ret_pct")["rank_ic_mean"] > 0.3
    prob = out[REBOUND]
    assert 0.0 < prob.min() <= prob.max() < 1.0  # type: ignore[operator]
    importance = head.feature_importance()
    assert importance["feature"].to_list() == head.feature_names_
    assert importance.sort(RET, descending=True)["feature"][0] == SIGNAL
    assert importance.sort(REBOUND, descending=True)["feature"][0] == REBOUND_SIGNAL
    assert (importance.drop("feature").to_numpy() >= 0).all()


def _depth(node: dict[str, Any]) -> int:
    """Depth of a LightGBM tree (a leaf is 0)."""
    children = [node[side] for side in ("left_child", "right_child") if side in node]
    return 1 + max(_depth(child) for child in children) if children else 0


@pytest.mark.parametrize("model", ["lightgbm", "xgboost"])
def test_l1_penalty_and_depth_limit_reach_the_library(model: str) -> None:
    free = fast(model=model, num_leaves=31).fit(FIT_ROWS)
    held = fast(model=model, num_leaves=31, reg_alpha=3.0, max_depth=2).fit(FIT_ROWS)
    for name in (REBOUND, RET, DD):
        if model == "lightgbm":
            params = held.boosters_[name].params
            assert (params["lambda_l1"], params["max_depth"]) == (3.0, 2)
            trees = held.boosters_[name].dump_model()["tree_info"]
            assert max(_depth(t["tree_structure"]) for t in trees) <= 2
            free_trees = free.boosters_[name].dump_model()["tree_info"]
            assert max(_depth(t["tree_structure"]) for t in free_trees) > 2
        else:
            config = json.loads(held.boosters_[name].save_config())["learner"]
            tree = config["gradient_booster"]["tree_train_param"]
            assert (float(tree["alpha"]), tree["max_depth"]) == (3.0, "2")
    assert not held.predict(FIT_ROWS).equals(free.predict(FIT_ROWS))


def test_xgboost_parameters_follow_the_documented_mapping() -> None:
    head = fast(model="xgboost", subsample=0.7, colsample_bytree=0.6, reg_lambda=2.0)
    head.fit(FIT_ROWS)
    share = FIT_ROWS["label_rebound_bin"].mean()
    assert isinstance(share, float)
    for name, weight in ((REBOUND, 20 * share * (1 - share)), (RET, 20.0), (DD, 20.0)):
        config = json.loads(head.boosters_[name].save_config())["learner"]
        tree = config["gradient_booster"]["tree_train_param"]
        assert (tree["grow_policy"], tree["max_leaves"], tree["max_depth"]) == (
            "lossguide",
            "7",
            "0",
        )
        assert float(tree["min_child_weight"]) == pytest.approx(weight, rel=1e-6)
        assert float(tree["subsample"]) == pytest.approx(0.7)
        assert float(tree["colsample_bytree"]) == pytest.approx(0.6)
        assert float(tree["lambda"]) == pytest.approx(2.0)
        assert float(tree["alpha"]) == 0.0
    objectives = {
        name: json.loads(b.save_config())["learner"]["objective"]["name"]
        for name, b in head.boosters_.items()
    }
    assert objectives == {
        REBOUND: "binary:logistic",
        RET: "reg:squarederror",
        DD: "reg:squarederror",
    }


def test_xgboost_huber_is_pseudo_huber_with_the_same_delta() -> None:
    head = fast(model="xgboost", loss="huber").fit(FIT_ROWS)
    ret = FIT_ROWS["future_ret_pct"].to_numpy()
    delta = np.quantile(np.abs(ret - np.median(ret)), 0.9)
    assert head.huber_deltas_[RET] == pytest.approx(delta)
    config = json.loads(head.boosters_[RET].save_config())["learner"]["objective"]
    assert config["name"] == "reg:pseudohubererror"
    assert float(config["pseudo_huber_param"]["huber_slope"]) == pytest.approx(delta, rel=1e-6)


def validation_loss(name: str, y: np.ndarray, pred: np.ndarray, delta: float | None) -> float:
    """The metric XGBoost stops on, by hand (l2 as the mean squared error)."""
    if name == REBOUND:
        p = np.clip(pred, 1e-16, 1 - 1e-16)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    r = y - pred
    if delta is None:
        return float(np.mean(r**2))
    return float(np.mean(delta**2 * (np.sqrt(1 + (r / delta) ** 2) - 1)))


@pytest.mark.parametrize("loss", ["l2", "huber"])
def test_xgboost_early_stopping_keeps_the_best_trees_and_refit_uses_them(loss: str) -> None:
    rounds = 10
    head = fast(model="xgboost", n_estimators=150, early_stopping_rounds=rounds, loss=loss)
    head.fit(FIT_ROWS, valid=VALID_ROWS)
    grown = fast(model="xgboost", n_estimators=150, loss=loss).fit(FIT_ROWS)
    x = features(VALID_ROWS, head)
    truth = {
        REBOUND: VALID_ROWS["label_rebound_bin"].to_numpy(),
        RET: VALID_ROWS["future_ret_pct"].to_numpy(),
        DD: VALID_ROWS["future_dd_pct"].to_numpy(),
    }
    predicted = head.predict(VALID_ROWS)
    for name, y in truth.items():
        best = head.best_iterations_[name]
        assert head.boosters_[name].num_boosted_rounds() == best
        full = grown.boosters_[name]
        curve = [
            validation_loss(
                name,
                y,
                full.inplace_predict(x, iteration_range=(0, k)).astype(np.float64),
                head.huber_deltas_.get(name),
            )
            for k in range(1, min(best + rounds, 150) + 1)
        ]
        assert int(np.argmin(curve)) + 1 == best
        assert head.valid_scores_[name] == pytest.approx(curve[best - 1], rel=1e-5)
        np.testing.assert_array_equal(
            predicted[name].to_numpy(), full.inplace_predict(x, iteration_range=(0, best))
        )
    assert max(head.best_iterations_.values()) < 150
    final = head.refit(FRAME)
    assert final.best_iterations_ == head.best_iterations_
    assert {n: b.num_boosted_rounds() for n, b in final.boosters_.items()} == (
        head.best_iterations_
    )
    by_hand = fast(model="xgboost", loss=loss).fit(
        FRAME, n_estimators_by_output=head.best_iterations_
    )
    assert raw(final) == raw(by_hand)


def test_xgboost_is_deterministic_per_seed() -> None:
    one = fast(model="xgboost", subsample=0.7, seed=3).fit(FIT_ROWS, valid=VALID_ROWS)
    two = fast(model="xgboost", subsample=0.7, seed=3).fit(FIT_ROWS, valid=VALID_ROWS)
    assert raw(one) == raw(two)
    assert_frame_equal(one.predict(FRAME), two.predict(FRAME))
    other = fast(model="xgboost", subsample=0.7, seed=4).fit(FIT_ROWS, valid=VALID_ROWS)
    assert not other.predict(FRAME).equals(one.predict(FRAME))


def test_xgboost_takes_missing_values_natively() -> None:
    holes = FRAME.with_columns(
        pl.when(pl.int_range(pl.len()) % 4 == 0).then(None).otherwise(SIGNAL).alias(SIGNAL),
        pl.when(pl.int_range(pl.len()) < 3)
        .then(np.inf)
        .otherwise(REBOUND_SIGNAL)
        .alias(REBOUND_SIGNAL),
    )
    head = fast(model="xgboost").fit(holes)
    assert head.n_infinite_replaced_ == 3
    out = head.predict(holes)
    assert np.isfinite(out.drop("ticker", "date").to_numpy()).all()
    # a missing value goes the way the trees learned, not where a 0 would go
    zeros = holes.with_columns(pl.col(SIGNAL).fill_null(0.0))
    assert not out[RET].equals(head.predict(zeros)[RET])


def test_xgboost_round_trip(tmp_path: Path) -> None:
    head = fast(model="xgboost", loss="huber").fit(FIT_ROWS, valid=VALID_ROWS)
    folder = head.save(tmp_path / "head")
    assert sorted(p.name for p in folder.iterdir()) == [
        "head_dd.json",
        "head_meta.json",
        "head_rebound.json",
        "head_ret.json",
    ]
    meta = json.loads((folder / "head_meta.json").read_text())
    assert meta["params"]["model"] == "xgboost"
    assert meta["xgboost_version"] == xgb.__version__
    assert "lightgbm_version" not in meta
    assert "learner" in json.loads((folder / "head_ret.json").read_text())  # JSON, not pickle
    loaded = MultiTaskHead.load(folder)
    assert_frame_equal(loaded.predict(FRAME), head.predict(FRAME))
    assert loaded.get_params() == {**head.get_params(), "feature_columns": head.feature_names_}
    assert raw(loaded) == raw(head)
    assert loaded.best_iterations_ == head.best_iterations_
    assert loaded.valid_scores_ == head.valid_scores_
    assert loaded.huber_deltas_ == head.huber_deltas_
    assert_frame_equal(loaded.feature_importance(), head.feature_importance())
    assert raw(loaded.refit(FRAME)) == raw(head.refit(FRAME))


def test_a_head_saved_over_another_librarys_leaves_none_of_its_boosters(tmp_path: Path) -> None:
    folder = tmp_path / "head"
    fast(model="lightgbm").fit(FRAME).save(folder)
    head = fast(model="xgboost").fit(FRAME)
    head.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "head_dd.json",
        "head_meta.json",
        "head_rebound.json",
        "head_ret.json",
    ]
    assert_frame_equal(MultiTaskHead.load(folder).predict(FRAME), head.predict(FRAME))
    fast(model="lightgbm").fit(FRAME).save(folder)
    assert not any(p.suffix == ".json" and p.name != "head_meta.json" for p in folder.iterdir())


def test_an_xgboost_head_missing_a_booster_names_it(tmp_path: Path) -> None:
    folder = fast(model="xgboost").fit(FRAME).save(tmp_path)
    (folder / "head_dd.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"head_dd\.json is missing"):
        MultiTaskHead.load(folder)


def test_a_head_saved_before_the_options_loads_as_lightgbm(tmp_path: Path) -> None:
    head = fast().fit(FRAME)
    folder = head.save(tmp_path)
    meta_file = folder / "head_meta.json"
    meta = json.loads(meta_file.read_text())
    assert (meta["params"]["model"], meta["params"]["sampling"]) == ("lightgbm", "none")
    for name in ("model", "sampling"):
        del meta["params"][name]
    del meta["n_rows_synthetic"]
    meta_file.write_text(json.dumps(meta))
    loaded = MultiTaskHead.load(folder)
    assert (loaded.model, loaded.sampling, loaded.n_rows_synthetic_) == ("lightgbm", "none", 0)
    assert_frame_equal(loaded.predict(FRAME), head.predict(FRAME))
    meta["params"]["model"] = "catboost"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(DamagedFileError, match=r"`model='catboost'`.*\['lightgbm', 'xgboost'\]"):
        MultiTaskHead.load(folder)


# --- sampling -----------------------------------------------------------------------------------


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Every matrix imbalanced-learn's SMOTE and ADASYN are given to resample."""
    calls: list[np.ndarray] = []
    for kind in (SMOTE, ADASYN):
        original = kind.fit_resample

        def spy(self: Any, x: np.ndarray, y: np.ndarray, _original: Any = original) -> Any:
            calls.append(np.array(x, copy=True))
            return _original(self, x, y)

        monkeypatch.setattr(kind, "fit_resample", spy)
    return calls


def adasyn_count(x: np.ndarray, y: np.ndarray) -> int:
    """ADASYN's number of rows, by hand: the gap between the classes shared out among the
    minority rows by the share of majority rows among their K nearest neighbours, each
    share rounded."""
    minority = int(np.argmin(np.bincount(y)))
    gap = abs(int((y == 1).sum()) - int((y == 0).sum()))
    distances = ((x[y == minority][:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, 1 : K_NEIGHBORS + 1]
    hard = (y[nearest] != minority).mean(axis=1)
    return int(np.rint(hard / hard.sum() * gap).sum())


@pytest.mark.parametrize("model", list(HEAD_BACKENDS))
@pytest.mark.parametrize("sampling", ["smote", "adasyn"])
def test_the_sampler_sees_the_fitting_rows_only(
    model: str, sampling: str, seen: list[np.ndarray]
) -> None:
    head = fast(model=model, sampling=sampling).fit(FIT_ROWS, valid=VALID_ROWS)
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], features(FIT_ROWS, head))
    fitted = {row.tobytes() for row in seen[0]}
    assert not any(row.tobytes() in fitted for row in features(VALID_ROWS, head))
    labels = FIT_ROWS["label_rebound_bin"].to_numpy()
    gap = abs(int((labels == 1).sum()) - int((labels == 0).sum()))
    assert head.n_rows_synthetic_ == (gap if sampling == "smote" else adasyn_count(seen[0], labels))
    assert head.n_rows_fitted_ == FIT_ROWS.height
    assert head.n_rows_valid_ == VALID_ROWS.height


def test_sampling_changes_the_classifier_only() -> None:
    plain = fast().fit(FIT_ROWS, valid=VALID_ROWS)
    sampled = fast(sampling="smote").fit(FIT_ROWS, valid=VALID_ROWS)
    for name in (RET, DD):
        assert sampled.boosters_[name].model_to_string() == plain.boosters_[name].model_to_string()
    assert sampled.valid_scores_[RET] == plain.valid_scores_[RET]
    assert plain.n_rows_synthetic_ == 0
    assert sampled.base_rate_ == plain.base_rate_  # the real rows' share of rebounds
    # balanced classes lift the rebound probabilities towards 1/2
    lifted = sampled.predict(FRAME)[REBOUND].mean()
    assert isinstance(lifted, float)
    assert lifted > plain.predict(FRAME)[REBOUND].mean() + 0.05  # type: ignore[operator]


def count_made(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """A list that grows by one each time ``module.name`` (a class) makes an object."""
    made: list[int] = []
    base = getattr(module, name)

    class Counted(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(module, name, Counted)
    return made


def test_lightgbm_bins_the_rows_its_models_share_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def fit() -> MultiTaskHead:
        return fast(n_estimators=100, early_stopping_rounds=10).fit(FIT_ROWS, valid=VALID_ROWS)

    def refit(head: MultiTaskHead) -> MultiTaskHead:
        return head.refit(FRAME)  # without validation rows: a fixed number of trees each

    made = count_made(monkeypatch, lgb, "Dataset")
    shared = fit()
    assert len(made) == 2  # the fitting rows and the validation rows, for three models
    shared_refit = refit(shared)
    assert len(made) == 3

    def fresh(
        self: LightGBMBackend,
        x: np.ndarray,
        y: np.ndarray,
        *,
        feature_names: Sequence[str] | None = None,
        reference: Any = None,
    ) -> Any:
        names = "auto" if feature_names is None else list(feature_names)
        return lgb.Dataset(x, y, feature_name=names, reference=reference)

    monkeypatch.setattr(LightGBMBackend, "_dataset", fresh)
    alone = fit()
    assert len(made) == 3 + 2 * len(PRED_COLUMNS)
    alone_refit = refit(alone)
    assert len(made) == 3 + 3 * len(PRED_COLUMNS)
    for one, other in ((shared, alone), (shared_refit, alone_refit)):
        for name in PRED_COLUMNS:
            text = one.boosters_[name].model_to_string()
            assert text == other.boosters_[name].model_to_string()
    assert shared.valid_scores_ == alone.valid_scores_


def test_xgboost_indexes_the_rows_its_models_share_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def fit() -> MultiTaskHead:
        head = fast(model="xgboost", n_estimators=60, early_stopping_rounds=10)
        return head.fit(FIT_ROWS, valid=VALID_ROWS)

    made = count_made(monkeypatch, xgb, "DMatrix")
    shared = fit()
    assert len(made) == 2  # the fitting rows and the validation rows, for three models
    shared_refit = shared.refit(FRAME)
    assert len(made) == 3

    def fresh(self: XGBoostBackend, x: np.ndarray, y: np.ndarray, n_jobs: int) -> Any:
        return xgb.DMatrix(x, y, missing=np.nan, nthread=n_jobs)

    monkeypatch.setattr(XGBoostBackend, "_dmatrix", fresh)
    alone = fit()
    assert len(made) == 3 + 2 * len(PRED_COLUMNS)
    alone_refit = alone.refit(FRAME)
    for one, other in ((shared, alone), (shared_refit, alone_refit)):
        assert raw(one) == raw(other)
    assert shared.valid_scores_ == alone.valid_scores_


@pytest.mark.parametrize("model", list(HEAD_BACKENDS))
def test_a_sampled_refit_is_bit_identical(model: str) -> None:
    early = fast(model=model, sampling="smote", n_estimators=100, early_stopping_rounds=10)
    early.fit(FIT_ROWS, valid=VALID_ROWS)
    one, two = early.refit(FRAME), early.refit(FRAME)
    by_hand = fast(model=model, sampling="smote", n_estimators=100, early_stopping_rounds=10)
    by_hand.fit(FRAME, n_estimators_by_output=early.best_iterations_)
    for other in (two, by_hand):
        assert_frame_equal(one.predict(FRAME), other.predict(FRAME))
        for name in PRED_COLUMNS:
            if model == "xgboost":
                assert raw(one) == raw(other)
            else:
                text = one.boosters_[name].model_to_string()
                assert text == other.boosters_[name].model_to_string()
    labels = FRAME["label_rebound_bin"].to_numpy()
    assert one.n_rows_synthetic_ == abs(int(labels.sum()) - int((labels == 0).sum()))


def test_synthetic_rows_come_from_complete_minority_rows_only() -> None:
    # minority rows on the line x1 = 2 x0 (x0 = 0..6), one more with a missing value, and
    # majority rows elsewhere: every SMOTE row is on a segment between two complete minority
    # rows, so on that line, within x0 in [0, 6]
    minority = np.array([[i, 2.0 * i] for i in range(7)] + [[np.nan, 100.0]])
    majority = np.column_stack([np.arange(20.0), np.full(20, -5.0)])
    x = np.vstack([minority, majority])
    y = np.array([1] * 8 + [0] * 20)
    x_new, y_new = smote(x, y, 0)
    assert x_new.shape == (20 - 8, 2)
    assert (y_new == 1).all()
    np.testing.assert_allclose(x_new[:, 1], 2.0 * x_new[:, 0])
    assert ((x_new[:, 0] >= 0) & (x_new[:, 0] <= 6)).all()
    again, _ = smote(x, y, 0)
    np.testing.assert_array_equal(again, x_new)
    assert not np.array_equal(smote(x, y, 1)[0], x_new)


def test_missing_features_stay_out_of_the_synthesis(seen: list[np.ndarray]) -> None:
    holes = FIT_ROWS.with_columns(
        pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(SIGNAL).alias(SIGNAL)
    )
    head = fast(sampling="smote").fit(holes)
    complete = features(holes, head)
    complete = complete[~np.isnan(complete).any(axis=1)]
    np.testing.assert_array_equal(seen[0], complete)
    labels = holes["label_rebound_bin"].to_numpy()
    assert head.n_rows_synthetic_ == abs(int(labels.sum()) - int((labels == 0).sum()))


def test_too_few_complete_minority_rows_is_a_schema_error() -> None:
    x = np.vstack([np.full((7, 2), np.nan), np.ones((K_NEIGHBORS, 2)), np.zeros((20, 2))])
    x[7:, 0] = np.arange(K_NEIGHBORS + 20)
    y = np.array([1] * (7 + K_NEIGHBORS) + [0] * 20)
    with pytest.raises(SchemaError, match=rf"more than {K_NEIGHBORS} rows.*got {K_NEIGHBORS} of"):
        smote(x, y, 0)


def test_balanced_labels_get_no_synthetic_rows() -> None:
    x = np.arange(40.0).reshape(20, 2)
    y = np.array([0, 1] * 10)
    assert smote(x, y, 0)[0].shape == (0, 2)
    assert HEAD_SAMPLERS["none"](x, np.array([0] * 19 + [1]), 0)[0].shape == (0, 2)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"model": "catboost"},
            r"`model` must be one of 'lightgbm', 'xgboost', got `model='catboost'`",
        ),
        ({"model": None}, r"`model` must be one of .*got `model=None`"),
        ({"sampling": "random"}, r"`sampling` must be one of 'none', 'smote', 'adasyn', got"),
        ({"sampling": ["smote"]}, r"`sampling` must be one of .*got `sampling=\['smote'\]`"),
    ],
)
def test_bad_names_are_config_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        fast(**kwargs).fit(FRAME)
    with pytest.raises(ConfigError, match=match):
        HeadParams(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "module"),
    [({"model": "xgboost"}, "xgboost"), ({"sampling": "smote"}, "imblearn")],
)
def test_a_missing_package_names_the_extra(
    kwargs: dict[str, Any], module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError, match=r"needs the .* pip install 'm002\[experiments\]'"):
        fast(**kwargs).fit(FRAME)
    fast().fit(FRAME)  # the defaults need neither


def test_the_head_section_reaches_the_head() -> None:
    config = config_from_dict({"head": {"model": "xgboost", "sampling": "adasyn"}})
    head = config.head.build()
    assert (head.model, head.sampling) == ("xgboost", "adasyn")
    defaults = HeadParams().build().get_params()
    assert (defaults["model"], defaults["sampling"]) == ("lightgbm", "none")


# --- stopping on the rank IC ---------------------------------------------------------------------


def mean_daily_spearman(frame: pl.DataFrame, predictions: np.ndarray) -> float:
    """The mean over dates of scipy's Spearman correlation of ``predictions`` with
    ``future_ret_pct``: an independent count of what ``return_stopping="rank_ic"`` watches."""
    dates = frame["date"].to_numpy()
    y = frame["future_ret_pct"].to_numpy()
    return float(
        np.mean([spearmanr(predictions[dates == d], y[dates == d])[0] for d in np.unique(dates)])
    )


@pytest.mark.parametrize("model", ["lightgbm", "xgboost"])
def test_the_return_model_stops_at_its_best_daily_rank_ic(model: str) -> None:
    rounds = 10
    options = {"model": model, "n_estimators": 150, "early_stopping_rounds": rounds}
    head = fast(**options, return_stopping="rank_ic").fit(FIT_ROWS, valid=VALID_ROWS)
    by_loss = fast(**options).fit(FIT_ROWS, valid=VALID_ROWS)
    grown = fast(model=model, n_estimators=150).fit(FIT_ROWS).boosters_[RET]
    x = features(VALID_ROWS, head)

    def predicted(k: int) -> np.ndarray:
        if model == "lightgbm":
            return np.asarray(grown.predict(x, num_iteration=k))
        return np.asarray(grown.inplace_predict(x, iteration_range=(0, k)), dtype=np.float64)

    best = head.best_iterations_[RET]
    curve = [mean_daily_spearman(VALID_ROWS, predicted(k)) for k in range(1, best + rounds + 1)]
    assert int(np.argmax(curve)) + 1 == best
    assert head.valid_scores_[RET] == pytest.approx(curve[best - 1], rel=1e-9)
    np.testing.assert_array_equal(head.predict(VALID_ROWS)[RET].to_numpy(), predicted(best))
    # the other two models stop on their loss, as without the option
    for name in (REBOUND, DD):
        assert head.best_iterations_[name] == by_loss.best_iterations_[name]
        assert head.valid_scores_[name] == by_loss.valid_scores_[name]
    # the pipeline's head stops so by default (MultiTaskHead alone on its loss), and its
    # [head] section can say otherwise
    assert HeadParams().build().return_stopping == "rank_ic"
    assert MultiTaskHead().return_stopping == "loss"
    params = config_from_dict({"head": {"return_stopping": "loss"}}).head
    assert params.build().return_stopping == "loss"


def test_an_unknown_return_stopping_is_refused() -> None:
    with pytest.raises(ConfigError, match="`return_stopping` must be one of 'loss', 'rank_ic'"):
        fast(return_stopping="auc").fit(FIT_ROWS, valid=VALID_ROWS)


def test_rank_ic_stopping_refuses_validation_dates_too_small_to_rank() -> None:
    few = head_frame(n_tickers=4, n_dates=60, seed=5)
    fit_rows, valid_rows = split_dates(few)
    with pytest.raises(SchemaError, match="at most 4 per date: set `return_stopping='loss'`"):
        fast(return_stopping="rank_ic").fit(fit_rows, valid=valid_rows)
    fast(return_stopping="loss").fit(fit_rows, valid=valid_rows)  # the loss needs no ranking
    with pytest.raises(SchemaError, match=r"lacks: \['date'\]"):
        fast(return_stopping="rank_ic").fit(FIT_ROWS, valid=VALID_ROWS.drop("date"))
