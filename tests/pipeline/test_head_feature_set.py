"""``[head] feature_set``: which built features the head reads."""

from __future__ import annotations

import pytest

from m002.exceptions import ConfigError
from m002.features import feature_names
from m002.head import HEAD_FEATURES
from m002.pipeline import M002Config
from m002.pipeline._config import HeadParams
from m002.regime import DEFAULT_SEQUENCE_FEATURES, state_prob_columns


def test_the_default_head_reads_the_pipelines_set() -> None:
    assert HeadParams().feature_columns("m002") == list(HEAD_FEATURES)
    both = HeadParams().feature_columns("m002+alpha158")
    assert both == [*DEFAULT_SEQUENCE_FEATURES, *feature_names("alpha158"), *state_prob_columns()]


def test_an_alpha158_head_reads_alpha158_alone() -> None:
    columns = HeadParams(feature_set="alpha158").feature_columns("m002+alpha158")
    assert columns == [*feature_names("alpha158"), *state_prob_columns()]
    ablation = HeadParams(feature_set="alpha158", use_state_probs=False)
    assert ablation.build("m002+alpha158").feature_columns == feature_names("alpha158")


def test_a_head_set_the_pipeline_does_not_build_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not build"):
        M002Config(head=HeadParams(feature_set="alpha158"))
    with pytest.raises(ConfigError, match="does not build"):
        M002Config(head=HeadParams(feature_set="m002+alpha158"))
    M002Config(feature_set="m002+alpha158", head=HeadParams(feature_set="m002"))


def test_an_unknown_head_set_is_refused() -> None:
    with pytest.raises(ConfigError, match="`feature_set` must be one of"):
        HeadParams(feature_set="v1")
