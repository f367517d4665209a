"""The configured feature set and the head's options, from the config to the trained head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from m002.data import generate_synthetic
from m002.exceptions import ConfigError
from m002.features import feature_names
from m002.head import HEAD_FEATURES
from m002.pipeline import (
    HeadParams,
    M002Config,
    M002FullArchitecture,
    RegimeParams,
    config_from_dict,
)
from m002.pipeline._config import pipeline_feature_sets
from m002.regime import DEFAULT_SEQUENCE_FEATURES, state_prob_columns

ALPHA158 = [name for name in feature_names("m002+alpha158") if name not in feature_names("m002")]


def small(feature_set: str, **head: Any) -> M002Config:
    return M002Config(
        feature_set=feature_set,
        regime=RegimeParams(max_epochs=2, hidden_size=8),
        head=HeadParams(n_estimators=20, min_child_samples=20, **head),
    )


# --- config -----------------------------------------------------------------------------------


def test_the_sets_the_pipeline_builds_hold_every_m002_feature() -> None:
    assert pipeline_feature_sets() == ["m002", "m002+alpha158"]
    assert M002Config(feature_set="m002+alpha158").feature_set == "m002+alpha158"


@pytest.mark.parametrize("name", ["alpha158", "v3", "m003"])
def test_other_sets_are_a_config_error_naming_the_field(name: str) -> None:
    with pytest.raises(ConfigError, match="`feature_set` must be one of 'm002', 'm002\\+alpha158'"):
        M002Config(feature_set=name)
    with pytest.raises(ConfigError, match=f"got `feature_set='{name}'`"):
        config_from_dict({"feature_set": name})


@pytest.mark.parametrize(
    ("key", "value", "choices"),
    [
        ("normalize", "zscore", "'none', 'cs_rank', 'cs_robust_zscore'"),
        ("fill", "mean", "'none', 'zero'"),
    ],
)
def test_bad_head_options_are_a_config_error_naming_the_field(
    key: str, value: Any, choices: str
) -> None:
    expected = f"`{key}` must be one of {choices}, got `{key}='{value}'`"
    with pytest.raises(ConfigError, match=expected):
        HeadParams(**{key: value})
    with pytest.raises(ConfigError, match=rf"\[head\] {expected}"):
        config_from_dict({"head": {key: value}})


def test_head_options_pass_through_build() -> None:
    head = HeadParams(normalize="cs_rank", fill="zero").build()
    assert (head.normalize, head.fill) == ("cs_rank", "zero")
    assert (HeadParams().build().normalize, HeadParams().build().fill) == ("none", "none")


def test_build_columns_follow_the_feature_set() -> None:
    assert HeadParams().build().feature_columns == list(HEAD_FEATURES)
    assert HeadParams().build("m002").feature_columns == list(HEAD_FEATURES)
    without = HeadParams(use_state_probs=False).build("m002").feature_columns
    assert without == list(DEFAULT_SEQUENCE_FEATURES)
    wide = HeadParams().build("m002+alpha158").feature_columns
    assert wide == [*DEFAULT_SEQUENCE_FEATURES, *ALPHA158, *state_prob_columns()]
    assert len(ALPHA158) == 157
    with pytest.raises(ConfigError, match="`feature_set`"):
        HeadParams().build("alpha158")


# --- a trained pipeline -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return generate_synthetic(n_tickers=6, n_days=700, seed=11).prices


@pytest.mark.slow
def test_a_pipeline_on_m002_plus_alpha158_trains_its_head_on_both(
    prices: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small("m002+alpha158", normalize="cs_rank")
    model = M002FullArchitecture(config, cache_dir=tmp_path, verbose=False).train(prices)
    names = model.head_.feature_names_
    assert "KMID" in names
    assert names == [*DEFAULT_SEQUENCE_FEATURES, *ALPHA158, *state_prob_columns()]
    assert model.head_.normalize == "cs_rank"
    assert set(model.feature_schema_) == set(feature_names("m002+alpha158"))
    out = model.predict(prices)
    assert out["pred_rebound_prob"].drop_nulls().len() > 0
    # a cross-sectional head sees every ticker of a date even when the layers before it run
    # in chunks of tickers
    from m002.pipeline import _architecture

    with monkeypatch.context() as patch:
        patch.setattr(_architecture, "PREDICT_CHUNK_ROWS", 1)  # a chunk per ticker
        assert model.predict(prices).equals(out)
    loaded = M002FullArchitecture.load(model.save(tmp_path / "model"), cache_dir=tmp_path)
    assert loaded.head_.normalize == "cs_rank"
    assert loaded.predict(prices).equals(out)


def test_a_pipeline_on_m002_keeps_todays_head_columns(prices: pl.DataFrame, tmp_path: Path) -> None:
    model = M002FullArchitecture(small("m002"), cache_dir=tmp_path, verbose=False)
    model.train(prices)
    assert model.head_.feature_names_ == list(HEAD_FEATURES)
    assert set(model.feature_schema_) == set(feature_names("m002"))
    # the features stage keys on the set: another set on the same cache is no hit
    wide = M002FullArchitecture(small("m002+alpha158"), cache_dir=tmp_path, verbose=False)
    frame, key, hit = wide._features(model._prices(prices))
    assert not hit
    assert key.digest != model._features(model._prices(prices))[1].digest
    assert "KMID" in frame.columns
