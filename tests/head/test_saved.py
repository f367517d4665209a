"""Saving and loading the head: round trips, the version-1 meta, damaged folders."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

from m002.exceptions import DamagedFileError
from m002.head import PRED_COLUMNS, MultiTaskHead
from tests.head.conftest import head_frame, split_dates

FAST: dict[str, Any] = {
    "n_estimators": 30,
    "learning_rate": 0.1,
    "num_leaves": 7,
    "min_child_samples": 20,
    "n_jobs": 1,
}
FRAME = head_frame(n_dates=60, seed=5)
FIT_ROWS, VALID_ROWS = split_dates(FRAME)
FITTED = ("feature_names_", "n_features_in_", "n_rows_fitted_", "n_rows_valid_")
FITTED += ("n_infinite_replaced_", "base_rate_", "best_iterations_", "huber_deltas_")


def meta(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "head_meta.json").read_text()))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"target": "rank", "loss": "huber"},
        {"target": "vol_scaled_excess", "loss": "huber", "huber_delta": 0.7},
        {"normalize": "cs_rank", "fill": "zero"},
        {"normalize": "cs_robust_zscore"},
    ],
)
@pytest.mark.parametrize("early", [False, True])
def test_round_trip_predicts_identically(
    kwargs: dict[str, Any], early: bool, tmp_path: Path
) -> None:
    head = MultiTaskHead(**FAST, **kwargs)
    head.fit(FIT_ROWS, valid=VALID_ROWS if early else None)
    folder = head.save(tmp_path / "head")
    assert sorted(p.name for p in folder.iterdir()) == [
        "head_dd.txt",
        "head_meta.json",
        "head_rebound.txt",
        "head_ret.txt",
    ]
    loaded = MultiTaskHead.load(folder)
    assert_frame_equal(loaded.predict(FRAME), head.predict(FRAME))
    assert loaded.get_params() == {**head.get_params(), "feature_columns": head.feature_names_}
    for name in FITTED:
        assert getattr(loaded, name) == getattr(head, name), name
    assert loaded.valid_scores_ == head.valid_scores_
    assert_frame_equal(loaded.feature_importance(), head.feature_importance())
    for name in PRED_COLUMNS:
        assert loaded.boosters_[name].num_trees() == head.best_iterations_[name]


def test_meta_records_the_version_and_the_chosen_trees(tmp_path: Path) -> None:
    head = MultiTaskHead(**FAST, early_stopping_rounds=5).fit(FIT_ROWS, valid=VALID_ROWS)
    written = meta(head.save(tmp_path))
    assert written["format_version"] == 2
    assert written["best_iterations"] == head.best_iterations_
    assert written["n_rows_valid"] == VALID_ROWS.height
    assert written["params"]["target"] == "raw"
    assert written["params"]["early_stopping_rounds"] == 5


def test_saving_again_replaces_the_files(tmp_path: Path) -> None:
    MultiTaskHead(**FAST).fit(FRAME).save(tmp_path)
    other = MultiTaskHead(**{**FAST, "n_estimators": 5}).fit(FRAME)
    assert_frame_equal(
        MultiTaskHead.load(other.save(tmp_path)).predict(FRAME), other.predict(FRAME)
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def old_format(folder: Path) -> None:
    """Rewrite a saved head's meta as a head of format 1 wrote it."""
    new = meta(folder)
    params = {
        k: v
        for k, v in new["params"].items()
        if k not in {"target", "loss", "huber_delta", "early_stopping_rounds"}
    }
    old = {
        "m002_version": "0.1.0",
        "lightgbm_version": new["lightgbm_version"],
        "params": params,
        "feature_names": new["feature_names"],
        "n_rows_fitted": new["n_rows_fitted"],
        "n_infinite_replaced": new["n_infinite_replaced"],
        "base_rate": new["base_rate"],
    }
    (folder / "head_meta.json").write_text(json.dumps(old, indent=2))


def test_a_version_one_head_loads(tmp_path: Path) -> None:
    head = MultiTaskHead(**FAST).fit(FRAME)
    old_format(head.save(tmp_path))
    loaded = MultiTaskHead.load(tmp_path)
    assert_frame_equal(loaded.predict(FRAME), head.predict(FRAME))
    assert (loaded.target, loaded.loss, loaded.huber_delta) == ("raw", "l2", None)
    assert loaded.best_iterations_ == dict.fromkeys(PRED_COLUMNS, 30)
    assert (loaded.n_rows_valid_, loaded.valid_scores_, loaded.huber_deltas_) == (0, {}, {})
    # and saves again in the new format
    assert meta(loaded.save(tmp_path / "again"))["format_version"] == 2


def test_a_nan_validation_score_survives_strict_json(tmp_path: Path) -> None:
    head = MultiTaskHead(**FAST).fit(FIT_ROWS, valid=VALID_ROWS)
    head.valid_scores_["pred_rebound_prob"] = math.nan
    loaded = MultiTaskHead.load(head.save(tmp_path))
    assert math.isnan(loaded.valid_scores_["pred_rebound_prob"])


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return MultiTaskHead(**FAST).fit(FRAME).save(tmp_path / "head")


def rewrite(folder: Path, **changes: Any) -> None:
    (folder / "head_meta.json").write_text(json.dumps({**meta(folder), **changes}))


def test_a_newer_format_fails_clearly(saved: Path) -> None:
    rewrite(saved, format_version=3)
    with pytest.raises(DamagedFileError, match=r"format_version 3.*reads 1 to 2"):
        MultiTaskHead.load(saved)


def test_a_missing_field_is_named(saved: Path) -> None:
    written = meta(saved)
    del written["best_iterations"]
    (saved / "head_meta.json").write_text(json.dumps(written))
    with pytest.raises(DamagedFileError, match=r"lacks \['best_iterations'\]"):
        MultiTaskHead.load(saved)


def test_an_unknown_parameter_is_named(saved: Path) -> None:
    rewrite(saved, params={**meta(saved)["params"], "max_leaf_depth": 4})
    with pytest.raises(DamagedFileError, match=r"\['max_leaf_depth'\]"):
        MultiTaskHead.load(saved)


def test_a_head_saved_before_the_l1_and_depth_parameters_loads_with_their_defaults(
    saved: Path,
) -> None:
    params = {k: v for k, v in meta(saved)["params"].items() if k not in ("reg_alpha", "max_depth")}
    rewrite(saved, params=params)
    loaded = MultiTaskHead.load(saved)
    assert (loaded.reg_alpha, loaded.max_depth) == (0.0, -1)
    assert_frame_equal(loaded.predict(FRAME), MultiTaskHead(**FAST).fit(FRAME).predict(FRAME))


def test_damaged_json_and_missing_files(saved: Path) -> None:
    (saved / "head_meta.json").write_text("{not json")
    with pytest.raises(DamagedFileError, match="not valid JSON"):
        MultiTaskHead.load(saved)
    (saved / "head_ret.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"head_ret\.txt is missing"):
        MultiTaskHead.load(saved)
