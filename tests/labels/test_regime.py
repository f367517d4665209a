"""Layer-1 regime labels: priority rule, horizon, per-ticker isolation, causality, shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m002.data import generate_synthetic
from m002.exceptions import ConfigError, SchemaError
from m002.features import add_features
from m002.labels import (
    CONDITION_COLUMNS,
    ID_TO_STATE,
    LABEL_COLUMNS,
    PRIORITY,
    STATE_TO_ID,
    UNLABELLED,
    RegimeLabelConfig,
    RegimeState,
    assign_regime_labels,
    label_distribution,
    label_distribution_by_year,
)
from m002.labels._regime import _choose_state
from tests.features.conftest import random_ohlcv

PRICES = random_ohlcv(n_tickers=4, min_days=150, max_days=260, seed=7)
FEATURES = add_features(PRICES, "m002").collect()
LABELS = ["regime_state", "regime_state_id", "regime_label_known"]
settings_ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# thresholds that make a condition always true (on rows where its inputs exist) or never true
ALWAYS: dict[RegimeState, dict[str, Any]] = {
    RegimeState.PEAK: {
        "peak_tolerance": 0.99,
        "peak_rsi_min": 0.0,
        "peak_dist_sma_20_min": -1.0,
        "peak_fwd_ret_max": 100.0,
    },
    RegimeState.DISTRIBUTION: {
        "distribution_dist_sma_60_min": -1.0,
        "distribution_macd_hist_max": 100.0,
        "distribution_volume_ratio_min": 0.0,
        "distribution_fwd_ret_max": 100.0,
    },
}
NEVER: dict[str, Any] = {
    "peak_rsi_min": 100.0,
    "accumulation_dist_low_max": 0.0,
    "accumulation_dist_sma_60_max": -100.0,
    "early_up_rsi_min": 100.0,
    "late_down_accel_min": 100.0,
    "distribution_volume_ratio_min": 1e9,
}


def labels_of(
    frame: pl.DataFrame | pl.LazyFrame, config: RegimeLabelConfig | None = None
) -> pl.DataFrame:
    return assign_regime_labels(frame, config).collect()


def row_in_ticker() -> pl.Expr:
    return pl.int_range(pl.len()).over("ticker").alias("row")


# --- states and the priority rule ------------------------------------------------------------


def test_state_maps() -> None:
    assert [s.value for s in RegimeState] == list(STATE_TO_ID)
    assert STATE_TO_ID == {
        "Peak": 0,
        "Accumulation": 1,
        "EarlyUp": 2,
        "LateDown": 3,
        "Distribution": 4,
    }
    assert {v: k for k, v in ID_TO_STATE.items()} == STATE_TO_ID
    ranked = sorted(PRIORITY, key=PRIORITY.__getitem__, reverse=True)
    assert [s.value for s in ranked] == [
        "Peak",
        "Accumulation",
        "EarlyUp",
        "LateDown",
        "Distribution",
    ]
    assert RegimeState("EarlyUp") is RegimeState.EARLY_UP
    assert isinstance(RegimeState.PEAK, str)
    assert str(RegimeState.PEAK) == "Peak"


@pytest.mark.parametrize(
    ("peak", "acc", "early", "late", "dist", "expected"),
    [
        (True, False, True, False, False, "Peak"),
        (True, True, True, True, True, "Peak"),
        (False, True, True, False, False, "Accumulation"),
        (False, False, True, True, True, "EarlyUp"),
        (False, False, False, True, True, "LateDown"),
        (False, False, False, False, True, "Distribution"),
        (False, False, False, False, False, None),
        (True, None, False, False, False, None),  # a condition that cannot be evaluated
        (None, False, False, False, True, None),
    ],
)
def test_highest_priority_true_condition_wins(
    peak: bool | None,
    acc: bool | None,
    early: bool | None,
    late: bool | None,
    dist: bool | None,
    expected: str | None,
) -> None:
    values = dict(zip(RegimeState, (peak, acc, early, late, dist), strict=True))
    frame = pl.DataFrame({s.value: pl.Series([v], dtype=pl.Boolean) for s, v in values.items()})
    chosen = frame.select(_choose_state({s: pl.col(s.value) for s in RegimeState}))
    assert chosen.to_series().to_list() == [expected]


def test_priority_through_thresholds() -> None:
    """End to end: forcing conditions true/false through the config decides the label."""
    lookahead = 5
    # Peak always true and everything else as default: every decided row is Peak
    peak = labels_of(FEATURES, RegimeLabelConfig(lookahead=lookahead, **ALWAYS[RegimeState.PEAK]))
    # only Distribution can hold: every decided row is Distribution
    dist = labels_of(
        FEATURES,
        RegimeLabelConfig(lookahead=lookahead, **{**NEVER, **ALWAYS[RegimeState.DISTRIBUTION]}),
    )
    none = labels_of(FEATURES, RegimeLabelConfig(lookahead=lookahead, **NEVER))
    decided = peak["regime_state"].is_not_null()
    assert decided.sum() > 0.5 * FEATURES.height
    assert set(peak["regime_state"].drop_nulls()) == {"Peak"}
    assert set(peak["regime_state_id"].drop_nulls()) == {0}
    # same inputs, same rows decided: only the state changes
    assert (dist["regime_state"].is_not_null() == decided).all()
    assert set(dist["regime_state"].drop_nulls()) == {"Distribution"}
    assert set(dist["regime_state_id"].drop_nulls()) == {4}
    assert none["regime_state"].null_count() == none.height
    assert none["regime_state_id"].null_count() == none.height


# --- output shape ----------------------------------------------------------------------------


def test_output_columns_and_types() -> None:
    config = RegimeLabelConfig(lookahead=7)
    out = labels_of(FEATURES, config)
    # the labels are the only new columns: no future value leaks into a feature-like column
    assert out.columns == [*FEATURES.columns, *LABEL_COLUMNS]
    assert out.schema["regime_state"] == pl.String
    assert out.schema["regime_state_id"] == pl.Int8
    assert out.schema["regime_label_lookahead"] == pl.Int16
    assert out["regime_label_lookahead"].unique().to_list() == [7]
    assert out.select(pl.exclude(LABEL_COLUMNS)).equals(FEATURES)
    ids = out.select(
        pl.col("regime_state").replace_strict(STATE_TO_ID, default=None, return_dtype=pl.Int8)
    )
    assert ids.to_series().equals(out["regime_state_id"], check_names=False)
    assert set(out["regime_state"].drop_nulls()) == set(STATE_TO_ID)


def test_conditions_kept_on_request() -> None:
    out = assign_regime_labels(FEATURES, keep_conditions=True).collect()
    cond = list(CONDITION_COLUMNS.values())
    assert cond == [f"cond_{s.value}" for s in RegimeState]
    assert all(out.schema[c] == pl.Boolean for c in cond)
    # a labelled state's own condition holds, and no higher-priority one does
    for state in RegimeState:
        rows = out.filter(pl.col("regime_state") == state.value)
        assert rows[CONDITION_COLUMNS[state]].all()
        for other in RegimeState:
            if PRIORITY[other] > PRIORITY[state]:
                assert not rows[CONDITION_COLUMNS[other]].any()


def test_input_order_does_not_matter() -> None:
    shuffled = FEATURES.sample(fraction=1.0, shuffle=True, seed=3)
    assert labels_of(shuffled).equals(labels_of(FEATURES))
    assert labels_of(FEATURES.lazy()).equals(labels_of(FEATURES))


def test_missing_feature_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match=r"\['curv_2'\].*add_features"):
        assign_regime_labels(FEATURES.drop("curv_2"))


def test_null_input_gives_null_label() -> None:
    base = labels_of(FEATURES, RegimeLabelConfig(lookahead=0))
    labelled_rows = np.flatnonzero(base["regime_state"].is_not_null().to_numpy())[:20]
    holed = FEATURES.with_row_index("i").with_columns(
        pl.when(pl.col("i").is_in(labelled_rows.tolist()))
        .then(None)
        .otherwise(pl.col("rsi_smooth"))
        .alias("rsi_smooth")
    )
    out = labels_of(holed.drop("i"), RegimeLabelConfig(lookahead=0))
    assert out["regime_state"].gather(labelled_rows).null_count() == len(labelled_rows)
    assert out["regime_state_id"].gather(labelled_rows).null_count() == len(labelled_rows)


# --- horizon and isolation -------------------------------------------------------------------


@pytest.mark.parametrize("lookahead", [0, 1, 5, 12])
def test_last_lookahead_rows_of_each_ticker_are_unlabelled(lookahead: int) -> None:
    out = labels_of(FEATURES, RegimeLabelConfig(lookahead=lookahead)).with_columns(
        (pl.len().over("ticker") - pl.int_range(pl.len()).over("ticker")).alias("rows_to_end")
    )
    tail = out.filter(pl.col("rows_to_end") <= lookahead)
    assert tail.height == lookahead * PRICES["ticker"].n_unique()
    assert tail["regime_state"].null_count() == tail.height
    assert tail["regime_state_id"].null_count() == tail.height
    # and the rows just before are labelled somewhere: the mask is not wider than L
    before = out.filter(pl.col("rows_to_end").is_between(lookahead + 1, lookahead + 30))
    assert before["regime_state"].null_count() < before.height


@pytest.mark.parametrize("lookahead", [0, 5])
def test_known_tells_no_state_from_unknown(lookahead: int) -> None:
    """``regime_label_known``: every condition evaluated and the hindsight complete."""
    config = RegimeLabelConfig(lookahead=lookahead)
    out = assign_regime_labels(FEATURES, config, keep_conditions=True).collect()
    out = out.with_columns(
        (pl.len().over("ticker") - pl.int_range(pl.len()).over("ticker")).alias("rows_to_end")
    )
    cond = list(CONDITION_COLUMNS.values())
    known = out["regime_label_known"]
    assert known.dtype == pl.Boolean
    assert known.null_count() == 0
    evaluated = out.select(pl.all_horizontal(pl.col(cond).is_not_null())).to_series()
    assert known.equals(evaluated & (out["rows_to_end"] > lookahead), check_names=False)
    # a state is always known; a known row without one met no condition: the outcome "none"
    assert out.filter(pl.col("regime_state").is_not_null())["regime_label_known"].all()
    no_state = out.filter(pl.col("regime_label_known") & pl.col("regime_state").is_null())
    assert no_state.height > 0.1 * out.height
    assert not no_state.select(pl.any_horizontal(cond)).to_series().any()
    # unknown: each ticker's feature warm-up and its last `lookahead` rows
    assert not out.filter(pl.col("rows_to_end") <= lookahead)["regime_label_known"].any()
    assert not out.group_by("ticker", maintain_order=True).head(20)["regime_label_known"].any()


@pytest.mark.parametrize("lookahead", [0, 5])
def test_each_ticker_is_labelled_from_its_own_rows(lookahead: int) -> None:
    config = RegimeLabelConfig(lookahead=lookahead)
    together = labels_of(FEATURES, config)
    for ticker in PRICES["ticker"].unique().sort():
        alone = labels_of(FEATURES.filter(pl.col("ticker") == ticker), config)
        assert alone.equals(together.filter(pl.col("ticker") == ticker))


# --- how far the labels see ------------------------------------------------------------------

CAUSAL = RegimeLabelConfig(lookahead=0)
FULL_CAUSAL = labels_of(FEATURES, CAUSAL)
DATES = PRICES["date"].unique().sort()


@settings_
@given(cut_index=st.integers(min_value=0, max_value=len(DATES) - 1))
def test_lookahead_zero_is_causal(cut_index: int) -> None:
    cut = DATES[cut_index]
    truncated = add_features(PRICES.filter(pl.col("date") <= cut), "m002")
    assert labels_of(truncated.collect(), CAUSAL).equals(FULL_CAUSAL.filter(pl.col("date") <= cut))


@settings_
@given(
    lookahead=st.integers(min_value=1, max_value=15),
    cut_row=st.integers(min_value=60, max_value=140),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_labels_at_t_see_at_most_t_plus_lookahead(lookahead: int, cut_row: int, seed: int) -> None:
    """Perturb OHLCV after row t + L of each ticker: labels up to row t stay, bit for bit."""
    config = RegimeLabelConfig(lookahead=lookahead)
    rng = np.random.default_rng(seed)
    later = PRICES.select(row_in_ticker() > cut_row + lookahead).to_series().to_numpy()
    shock = np.where(later, np.exp(rng.normal(0, 0.2, PRICES.height)), 1.0)
    perturbed = PRICES.with_columns(
        pl.col("open", "high", "low", "close") * shock,
        pl.col("volume") * np.where(later, rng.uniform(0.1, 10, PRICES.height), 1.0),
    )
    expected = labels_of(FEATURES, config).with_columns(row_in_ticker())
    got = labels_of(add_features(perturbed, "m002").collect(), config).with_columns(row_in_ticker())
    up_to_t = pl.col("row") <= cut_row
    assert got.filter(up_to_t).select(LABELS).equals(expected.filter(up_to_t).select(LABELS))
    # and the same with everything after t + L cut off
    kept = PRICES.filter(row_in_ticker() <= cut_row + lookahead)
    cut = labels_of(add_features(kept, "m002").collect(), config).with_columns(row_in_ticker())
    assert cut.filter(up_to_t).select(LABELS).equals(expected.filter(up_to_t).select(LABELS))


def test_hindsight_matters() -> None:
    """With L > 0 the labels are not a rule on today's features: they differ from L = 0."""
    ahead = labels_of(FEATURES, RegimeLabelConfig(lookahead=5))["regime_state"]
    changed = ahead.fill_null("-") != FULL_CAUSAL["regime_state"].fill_null("-")
    assert changed.sum() > 0.05 * changed.len()


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lookahead": -1}, "`lookahead` must be >= 0, got `lookahead=-1`"),
        ({"lookahead": 40_000}, "`lookahead` must be <= 32767, got `lookahead=40000`"),
        ({"lookahead": 2.5}, "`lookahead` must be an int, got `lookahead=2.5`"),
        ({"lookahead": True}, "`lookahead` must be an int, got `lookahead=True`"),
        ({"peak_lookback": 0}, "`peak_lookback` must be >= 1, got `peak_lookback=0`"),
        ({"early_up_window": 0}, "`early_up_window` must be >= 1, got `early_up_window=0`"),
        ({"late_down_min_age": -2}, "`late_down_min_age` must be >= 0"),
        ({"peak_rsi_min": 120.0}, "`peak_rsi_min` must be <= 100.0, got `peak_rsi_min=120.0`"),
        ({"early_up_rsi_min": -1}, "`early_up_rsi_min` must be >= 0.0"),
        ({"peak_tolerance": 1.0}, "`peak_tolerance` must be < 1.0, got `peak_tolerance=1.0`"),
        ({"early_up_curv_min": math.nan}, "`early_up_curv_min` must be finite, got"),
        ({"late_down_fwd_ret_min": "-0.02"}, "`late_down_fwd_ret_min` must be a number, got"),
    ],
)
def test_config_errors_name_parameter_rule_and_value(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RegimeLabelConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_config_is_frozen() -> None:
    config = RegimeLabelConfig()
    with pytest.raises(AttributeError):
        config.lookahead = 3  # type: ignore[misc]
    assert RegimeLabelConfig(lookahead=0).lookahead == 0


# --- distributions ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_labels() -> pl.DataFrame:
    prices = generate_synthetic(n_tickers=12, n_days=900, seed=5).prices
    return labels_of(add_features(prices, "m002").collect())


def test_every_state_is_a_real_class_on_synthetic_data(synthetic_labels: pl.DataFrame) -> None:
    dist = label_distribution(synthetic_labels)
    assert dist["regime_state"].to_list() == [*STATE_TO_ID, UNLABELLED]
    shares = dict(zip(dist["regime_state"], dist["share_of_labelled"], strict=True))
    assert all(shares[s] >= 0.03 for s in STATE_TO_ID), shares
    assert dist["rows"].sum() == synthetic_labels.height
    assert dist["share"].sum() == pytest.approx(1.0)
    assert dist["share_of_labelled"].drop_nulls().sum() == pytest.approx(1.0)
    unlabelled = dist.filter(pl.col("regime_state") == UNLABELLED)
    assert unlabelled["rows"].item() == synthetic_labels["regime_state"].null_count()
    assert unlabelled["share_of_labelled"].item() is None


def test_distribution_by_year(synthetic_labels: pl.DataFrame) -> None:
    names = [*STATE_TO_ID, UNLABELLED]
    counts = label_distribution_by_year(synthetic_labels, normalize=False)
    assert counts.columns == ["year", "rows", *names]
    assert counts["year"].to_list() == sorted(synthetic_labels["date"].dt.year().unique())
    assert counts["rows"].sum() == synthetic_labels.height
    assert (
        counts.select(pl.sum_horizontal(names))
        .to_series()
        .equals(counts["rows"], check_names=False)
    )
    overall = label_distribution(synthetic_labels)
    assert counts.select(names).sum().row(0) == tuple(overall["rows"])
    shares = label_distribution_by_year(synthetic_labels)
    assert shares.select(pl.sum_horizontal(names)).to_series().to_list() == pytest.approx(
        [1.0] * shares.height
    )


def test_distribution_of_nothing_labelled() -> None:
    empty = labels_of(FEATURES, RegimeLabelConfig(**NEVER))
    dist = label_distribution(empty)
    assert dist["rows"].to_list() == [0, 0, 0, 0, 0, empty.height]
    assert dist["share_of_labelled"].null_count() == dist.height
    with pytest.raises(SchemaError, match="assign_regime_labels"):
        label_distribution(FEATURES)
