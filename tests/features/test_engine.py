from __future__ import annotations

import polars as pl
import pytest

from m002.exceptions import ConfigError, SchemaError
from m002.features import (
    FEATURE_SETS,
    Feature,
    add_features,
    apply_features,
    feature_names,
    longest_warmup,
)

SETS = sorted(FEATURE_SETS)


@pytest.mark.parametrize("set_name", SETS)
def test_fast_engine_equals_per_ticker_reference(ohlcv: pl.DataFrame, set_name: str) -> None:
    fast = add_features(ohlcv, set_name).collect()
    reference = add_features(ohlcv, set_name, engine="over").collect()
    assert fast.equals(reference)


@pytest.mark.parametrize("set_name", SETS)
def test_a_ticker_gets_the_same_bits_alone_or_with_others(
    ohlcv: pl.DataFrame, set_name: str
) -> None:
    together = add_features(ohlcv, set_name).collect()
    for (ticker,), alone_input in ohlcv.group_by("ticker"):
        alone = add_features(alone_input, set_name).collect()
        assert together.filter(pl.col("ticker") == ticker).equals(alone), ticker


def test_each_feature_is_null_exactly_on_its_warmup(ohlcv: pl.DataFrame) -> None:
    frame = (
        add_features(ohlcv, "m002")
        .with_columns(row=pl.int_range(pl.len()).over("ticker"))
        .collect()
    )
    for feature in FEATURE_SETS["m002"]:
        if feature.name.startswith("_"):
            continue
        values = frame.select("row", feature.name)
        warm = values.filter(pl.col("row") < feature.warmup)[feature.name]
        after = values.filter(pl.col("row") >= feature.warmup)[feature.name]
        assert warm.null_count() == warm.len(), feature.name
        assert after.null_count() == 0, feature.name


def test_values_after_warmup_are_finite(ohlcv: pl.DataFrame) -> None:
    frame = add_features(ohlcv, "m002", warmup="drop").collect()
    floats = [c for c in feature_names("m002") if frame.schema[c] == pl.Float64]
    bad = frame.select(pl.col(floats).is_finite().not_().sum()).row(0, named=True)
    assert all(count == 0 for count in bad.values()), bad


def test_sets_are_nested_and_m002_has_the_spec_names() -> None:
    v1, v2, v3, m002 = (set(feature_names(s)) for s in ("v1", "v2", "v3", "m002"))
    assert v1 < v2 < v3 < m002
    spec_names = {
        "curv_2", "price_accel", "ema_spread_rel", "atr_rel", "event_local_vol_spike",
        "event_rebound_candidate", "event_breakdown_risk", "event_volume_regain", "I_bd_early",
        "I_bd_late", "I_vr_and_vs", "event_volume_regain_freq20", "days_since_volume_regain",
        "rsi_smooth", "atr_smooth",
    }  # fmt: skip
    assert spec_names <= m002


def test_warmup_drop_and_flag(ohlcv: pl.DataFrame) -> None:
    n_warm = longest_warmup("m002")
    tickers = ohlcv["ticker"].n_unique()
    kept = add_features(ohlcv, "m002").collect()
    flagged = add_features(ohlcv, "m002", warmup="flag").collect()
    dropped = add_features(ohlcv, "m002", warmup="drop").collect()
    assert flagged["is_warmup"].sum() == n_warm * tickers
    assert dropped.height == kept.height - n_warm * tickers
    assert dropped.equals(flagged.filter(~pl.col("is_warmup")).drop("is_warmup"))


def test_unsorted_input_is_sorted_first(ohlcv: pl.DataFrame) -> None:
    shuffled = ohlcv.sample(fraction=1.0, shuffle=True, seed=3)
    assert add_features(shuffled, "v2").collect().equals(add_features(ohlcv, "v2").collect())


def test_missing_canonical_column_names_it(ohlcv: pl.DataFrame) -> None:
    with pytest.raises(SchemaError, match=r"\['volume'\]"):
        add_features(ohlcv.drop("volume"), "v1")


def test_unknown_set_and_engine_are_clear_errors(ohlcv: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown feature set `feature_set='v9'`"):
        add_features(ohlcv, "v9")
    with pytest.raises(ConfigError, match="`engine` must be"):
        add_features(ohlcv, "v1", engine="gpu")  # type: ignore[arg-type]


def test_feature_reading_an_unknown_column_is_rejected(ohlcv: pl.DataFrame) -> None:
    bad = Feature("x", pl.col("not_there") * 2, warmup=0)
    with pytest.raises(ConfigError, match="`x` reads \\['not_there'\\]"):
        apply_features(ohlcv.lazy(), [bad])
