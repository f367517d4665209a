"""DESIGN rule 1: a feature at date t uses data up to t only, checked bit for bit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m002.features import FEATURE_SETS, add_features

from .conftest import random_ohlcv

PRICES = random_ohlcv(n_tickers=4, min_days=120, max_days=220, seed=11)
DATES = PRICES["date"].unique().sort()
FULL = {name: add_features(PRICES, name).collect() for name in FEATURE_SETS}
settings_ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("set_name", sorted(FEATURE_SETS))
@settings_
@given(cut_index=st.integers(min_value=0, max_value=len(DATES) - 1))
def test_truncating_after_t_changes_nothing_up_to_t(set_name: str, cut_index: int) -> None:
    cut = DATES[cut_index]
    truncated = add_features(PRICES.filter(pl.col("date") <= cut), set_name).collect()
    expected = FULL[set_name].filter(pl.col("date") <= cut)
    assert truncated.equals(expected)


@pytest.mark.parametrize("set_name", sorted(FEATURE_SETS))
@settings_
@given(
    cut_index=st.integers(min_value=0, max_value=len(DATES) - 2),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_perturbing_prices_after_t_changes_nothing_up_to_t(
    set_name: str, cut_index: int, seed: int
) -> None:
    cut = DATES[cut_index]
    rng = np.random.default_rng(seed)
    later = (PRICES["date"] > cut).to_numpy()
    shock = np.where(later, np.exp(rng.normal(0, 0.2, PRICES.height)), 1.0)
    volume_shock = np.where(later, rng.uniform(0.1, 10, PRICES.height), 1.0)
    perturbed = PRICES.with_columns(
        pl.col("open", "high", "low", "close") * shock,
        pl.col("volume") * volume_shock,
    )
    features = add_features(perturbed, set_name).collect()
    after = features.filter(pl.col("date") > cut)
    assert not after.equals(FULL[set_name].filter(pl.col("date") > cut))  # the shock did land
    assert features.filter(pl.col("date") <= cut).equals(
        FULL[set_name].filter(pl.col("date") <= cut)
    )
