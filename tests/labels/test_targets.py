"""Layer-2 targets: hand-computed values, horizon nulls, per-ticker isolation, properties."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from m002.data import load_silver
from m002.exceptions import ConfigError, SchemaError
from m002.labels import (
    FUTURE_DD_PCT,
    FUTURE_RET_NEXT_PCT,
    FUTURE_RET_PCT,
    LABEL_REBOUND_BIN,
    RET_TARGET,
    TARGET_COLUMNS,
    TARGET_HORIZON,
    ReturnTarget,
    TargetConfig,
    add_return_target,
    compute_future_returns,
    future_return_from_next,
    return_target,
    return_target_inputs,
)
from tests.features.conftest import random_ohlcv

PRICES = random_ohlcv(n_tickers=5, min_days=20, max_days=60, seed=11)
settings_ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def days(n: int, first: date = date(2024, 1, 1)) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


def targets(frame: pl.DataFrame | pl.LazyFrame, config: TargetConfig | None = None) -> pl.DataFrame:
    return compute_future_returns(frame, config).collect()


# 8 rows, horizon 3. Row t reads close_t, close_(t+3) and low_(t+1) .. low_(t+3).
HAND = pl.DataFrame(
    {
        "ticker": "A",
        "date": days(8),
        "low": [94.0, 98.0, 95.0, 93.5, 95.0, 97.0, 100.0, 102.0],
        "close": [95.0, 100.0, 96.0, 94.0, 102.0, 99.0, 102.0, 103.0],
    }
)
# worked by hand (ret = 100*(close_(t+3)/close_t - 1), m = min low_(t+1..t+3),
# dd = min(0, 100*(m/close_t - 1)), label = ret >= 1 and dd >= -3):
#   row 0: ret = 100*(94/95-1) = -1.0526315789; m = min(98, 95, 93.5) = 93.5;
#          dd = 100*(93.5/95-1) = -1.5789473684; ret < 1%: label 0
#   row 1: ret = 100*(102/100-1) = 2.0; m = min(95, 93.5, 95) = 93.5; dd = -6.5;
#          ret >= 1% but dd < -3%: label 0 (the closes only dip to 94, -6%: lows are deeper)
#   row 2: ret = 100*(99/96-1) = 3.125; m = min(93.5, 95, 97) = 93.5;
#          dd = 100*(93.5/96-1) = -2.6041666667; both hold: label 1
#   row 3: ret = 100*(102/94-1) = 8.5106382979; m = min(95, 97, 100) = 95 > close 94: the path
#          never dips, dd = 0 (capped, not +1.06); label 1
#   row 4: ret = 100*(103/102-1) = 0.9803921569; m = min(97, 100, 102) = 97;
#          dd = 100*(97/102-1) = -4.9019607843; both fail: label 0
#   rows 5-7: fewer than 3 rows ahead: null
HAND_RET = [-1.0526315789, 2.0, 3.125, 8.5106382979, 0.9803921569, None, None, None]
HAND_DD = [-1.5789473684, -6.5, -2.6041666667, 0.0, -4.9019607843, None, None, None]
HAND_LABEL = [0, 0, 1, 1, 0, None, None, None]


def approx_list(values: list[float | None]) -> list[Any]:
    return [None if v is None else pytest.approx(v, abs=1e-9) for v in values]


# --- values ---------------------------------------------------------------------------------------


def test_hand_computed_values() -> None:
    out = targets(HAND, TargetConfig(horizon=3))
    assert out[FUTURE_RET_PCT].to_list() == approx_list(HAND_RET)
    assert out[FUTURE_DD_PCT].to_list() == approx_list(HAND_DD)
    assert out[LABEL_REBOUND_BIN].to_list() == HAND_LABEL
    assert out[TARGET_HORIZON].to_list() == [3] * 8


def test_columns_dtypes_and_rows_kept() -> None:
    out = targets(HAND.with_columns(pl.lit(1.0).alias("extra")), TargetConfig(horizon=3))
    assert TARGET_COLUMNS == ("future_ret_pct", "future_dd_pct", "label_rebound_bin")
    assert out.columns == [*HAND.columns, "extra", *TARGET_COLUMNS, TARGET_HORIZON]
    assert out.select(*TARGET_COLUMNS, TARGET_HORIZON).dtypes == [
        pl.Float64,
        pl.Float64,
        pl.Int8,
        pl.Int16,
    ]
    assert_frame_equal(out.select(HAND.columns), HAND)


@pytest.mark.parametrize("horizon", [1, 2, 5, 13])
def test_target_horizon_equals_config(horizon: int) -> None:
    out = targets(PRICES, TargetConfig(horizon=horizon))
    assert out[TARGET_HORIZON].unique().to_list() == [horizon]


def test_default_config_is_spec() -> None:
    config = TargetConfig()
    assert (config.horizon, config.rebound_min_ret_pct, config.rebound_max_dd_pct) == (5, 1.0, -3.0)
    assert_frame_equal(targets(PRICES), targets(PRICES, config))


def test_horizon_one_against_direct_formulas() -> None:
    out = targets(HAND, TargetConfig(horizon=1))
    close, low = HAND["close"].to_numpy(), HAND["low"].to_numpy()
    ret = 100 * (close[1:] / close[:-1] - 1)
    dd = np.minimum(0.0, 100 * (low[1:] / close[:-1] - 1))
    assert out[FUTURE_RET_PCT].to_list() == [*ret.tolist(), None]
    assert out[FUTURE_DD_PCT].to_list() == [*dd.tolist(), None]


def test_thresholds_are_inclusive() -> None:
    # 72/64 and 56/64 are exact in binary: ret = 12.5, dd = -12.5 without rounding
    frame = pl.DataFrame(
        {"ticker": "A", "date": days(2), "low": [60.0, 56.0], "close": [64.0, 72.0]}
    )
    at = targets(frame, TargetConfig(horizon=1, rebound_min_ret_pct=12.5, rebound_max_dd_pct=-12.5))
    assert (at[FUTURE_RET_PCT][0], at[FUTURE_DD_PCT][0], at[LABEL_REBOUND_BIN][0]) == (
        12.5,
        -12.5,
        1,
    )
    above = TargetConfig(horizon=1, rebound_min_ret_pct=12.6, rebound_max_dd_pct=-12.5)
    below = TargetConfig(horizon=1, rebound_min_ret_pct=12.5, rebound_max_dd_pct=-12.4)
    assert targets(frame, above)[LABEL_REBOUND_BIN][0] == 0
    assert targets(frame, below)[LABEL_REBOUND_BIN][0] == 0


def test_decimal_thresholds_survive_float_rounding() -> None:
    # 101/100 - 1 and 97/100 - 1 are a hair off +1% / -3% in binary; they still count
    frame = pl.DataFrame(
        {"ticker": "A", "date": days(2), "low": [99.0, 97.0], "close": [100.0, 101.0]}
    )
    out = targets(frame, TargetConfig(horizon=1))
    assert out[FUTURE_RET_PCT][0] == pytest.approx(1.0)
    assert out[FUTURE_DD_PCT][0] == pytest.approx(-3.0)
    assert out[LABEL_REBOUND_BIN][0] == 1
    assert (
        targets(frame, TargetConfig(horizon=1, rebound_min_ret_pct=1.0001))[LABEL_REBOUND_BIN][0]
        == 0
    )


def test_label_follows_thresholds() -> None:
    loose = TargetConfig(horizon=3, rebound_min_ret_pct=-100.0, rebound_max_dd_pct=-100.0)
    assert targets(HAND, loose)[LABEL_REBOUND_BIN].to_list() == [1] * 5 + [None] * 3
    strict = TargetConfig(horizon=3, rebound_min_ret_pct=0.0, rebound_max_dd_pct=0.0)
    assert targets(HAND, strict)[LABEL_REBOUND_BIN].to_list() == [0, 0, 0, 1, 0] + [None] * 3


# --- nulls: horizon end, short tickers, null prices --------------------------------------------


@pytest.mark.parametrize("horizon", [1, 3, 7])
def test_last_horizon_rows_of_each_ticker_are_null(horizon: int) -> None:
    out = targets(PRICES, TargetConfig(horizon=horizon)).with_columns(
        (pl.len() - pl.int_range(pl.len()) - 1).over("ticker").alias("rows_left")
    )
    tail = out.filter(pl.col("rows_left") < horizon)
    head = out.filter(pl.col("rows_left") >= horizon)
    assert tail.height == horizon * PRICES["ticker"].n_unique()
    for column in TARGET_COLUMNS:
        assert tail[column].null_count() == tail.height
        assert head[column].null_count() == 0


def test_ticker_shorter_than_horizon_is_all_null() -> None:
    short = HAND.head(3)
    out = targets(short, TargetConfig(horizon=3))
    assert out.height == 3
    for column in TARGET_COLUMNS:
        assert out[column].null_count() == 3


def test_null_close_nulls_every_window_holding_it() -> None:
    # close_4 null: rows t with 4 in t .. t+3 (rows 1-4) are null; row 0 reads close_0..close_3
    frame = HAND.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise(pl.col("close")).alias("close")
    )
    out = targets(frame, TargetConfig(horizon=3))
    expected_null = [False, True, True, True, True, True, True, True]
    for column in TARGET_COLUMNS:
        assert out[column].is_null().to_list() == expected_null
    assert out[FUTURE_RET_PCT][0] == pytest.approx(HAND_RET[0])


def test_null_low_nulls_every_window_holding_it() -> None:
    # low_5 null: rows t with 5 in t+1 .. t+3 (rows 2-4); row 5's own low is not in its window
    frame = HAND.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("low")).alias("low")
    )
    out = targets(frame, TargetConfig(horizon=3))
    expected_null = [False, False, True, True, True, True, True, True]
    for column in TARGET_COLUMNS:
        assert out[column].is_null().to_list() == expected_null
    assert out[FUTURE_DD_PCT].head(2).to_list() == approx_list(HAND_DD[:2])


def test_own_low_is_not_in_the_window() -> None:
    # a null or very low low_t does not matter: the holder buys at close_t
    for own_low in (None, 1.0):
        first = pl.int_range(pl.len()) == 0
        frame = HAND.with_columns(
            pl.when(first).then(pl.lit(own_low, dtype=pl.Float64)).otherwise("low").alias("low")
        )
        out = targets(frame, TargetConfig(horizon=3))
        assert out[FUTURE_DD_PCT].to_list() == approx_list(HAND_DD)


# --- order and isolation --------------------------------------------------------------------------


def test_tickers_never_mix() -> None:
    config = TargetConfig(horizon=4)
    together = targets(PRICES, config)
    for ticker in PRICES["ticker"].unique(maintain_order=True):
        alone = targets(PRICES.filter(pl.col("ticker") == ticker), config)
        assert_frame_equal(alone, together.filter(pl.col("ticker") == ticker))


def test_neighbouring_ticker_does_not_fill_the_tail() -> None:
    # B follows A in sort order; A's last rows must stay null, not read B's first prices
    other = HAND.with_columns(pl.lit("B").alias("ticker"), pl.col("low", "close") * 2)
    out = targets(pl.concat([other, HAND]), TargetConfig(horizon=3))
    for ticker in ("A", "B"):
        rows = out.filter(pl.col("ticker") == ticker)
        assert rows[LABEL_REBOUND_BIN].to_list() == HAND_LABEL
        assert rows[FUTURE_RET_PCT].to_list() == approx_list(HAND_RET)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_input_gives_the_same_result(seed: int) -> None:
    config = TargetConfig(horizon=3)
    expected = targets(PRICES, config)
    shuffled = PRICES.sample(fraction=1.0, shuffle=True, seed=seed)
    assert_frame_equal(targets(shuffled, config), expected)
    assert_frame_equal(targets(shuffled.lazy(), config), expected)


def test_output_is_sorted_by_ticker_and_date() -> None:
    out = targets(PRICES.reverse())
    assert_frame_equal(
        out.select("ticker", "date"), PRICES.sort("ticker", "date").select("ticker", "date")
    )


# --- config and schema errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"horizon": 0}, "horizon"),
        ({"horizon": -5}, "horizon"),
        ({"horizon": 40_000}, "horizon"),
        ({"horizon": 2.0}, "horizon"),
        ({"horizon": True}, "horizon"),
        ({"horizon": "5"}, "horizon"),
        ({"rebound_min_ret_pct": math.nan}, "rebound_min_ret_pct"),
        ({"rebound_min_ret_pct": math.inf}, "rebound_min_ret_pct"),
        ({"rebound_min_ret_pct": "1"}, "rebound_min_ret_pct"),
        ({"rebound_max_dd_pct": 0.5}, "rebound_max_dd_pct"),
        ({"rebound_max_dd_pct": -math.inf}, "rebound_max_dd_pct"),
        ({"rebound_max_dd_pct": None}, "rebound_max_dd_pct"),
    ],
)
def test_invalid_config_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=f"`{field}`") as info:
        TargetConfig(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_valid_config_edges() -> None:
    TargetConfig(horizon=1, rebound_min_ret_pct=-5, rebound_max_dd_pct=0)
    TargetConfig(horizon=32_767)
    with pytest.raises(AttributeError):
        TargetConfig().horizon = 3  # type: ignore[misc]


def test_missing_columns_are_named() -> None:
    with pytest.raises(SchemaError, match=r"1 column\(s\).*\['low'\]"):
        compute_future_returns(HAND.drop("low"))
    with pytest.raises(SchemaError, match=r"2 column\(s\).*\['date', 'close'\]"):
        compute_future_returns(HAND.lazy().drop("date", "close"))


# --- properties -------------------------------------------------------------------------------


def reference(close: np.ndarray, low: np.ndarray, h: int) -> tuple[list[Any], list[Any]]:
    """Brute force, one row at a time, straight from the definitions."""
    n = len(close)
    ret: list[Any] = [None] * n
    dd: list[Any] = [None] * n
    for t in range(n - h):
        ret[t] = 100 * (close[t + h] / close[t] - 1)
        dd[t] = min(0.0, 100 * (low[t + 1 : t + h + 1].min() / close[t] - 1))
    return ret, dd


@st.composite
def price_paths(draw: st.DrawFn) -> tuple[pl.DataFrame, int]:
    h = draw(st.integers(1, 6))
    frames = []
    for k in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 15))
        steps = draw(st.lists(st.floats(-0.1, 0.1), min_size=n, max_size=n))
        dips = draw(st.lists(st.floats(0.0, 0.08), min_size=n, max_size=n))
        close = 100 * np.exp(np.cumsum(steps))
        low = close * (1 - np.asarray(dips))  # low <= close, as in any OHLC bar
        frames.append(
            pl.DataFrame(
                {"ticker": f"T{k}", "date": days(n), "low": low, "close": close},
                schema={
                    "ticker": pl.String,
                    "date": pl.Date,
                    "low": pl.Float64,
                    "close": pl.Float64,
                },
            )
        )
    return pl.concat(frames), h


@settings_
@given(price_paths(), st.floats(-5, 5), st.floats(-10, 0))
def test_properties(case: tuple[pl.DataFrame, int], min_ret: float, max_dd: float) -> None:
    frame, h = case
    config = TargetConfig(horizon=h, rebound_min_ret_pct=min_ret, rebound_max_dd_pct=max_dd)
    out = targets(frame, config)
    assert out.height == frame.height

    valid = out.filter(pl.col(FUTURE_RET_PCT).is_not_null())
    ret, dd, label = (valid[c].to_numpy() for c in TARGET_COLUMNS)
    # a drawdown is never positive, and never above the return: low_(t+h) <= close_(t+h)
    assert (dd <= 0).all()
    assert (dd <= np.minimum(0.0, ret)).all()
    # the label is the rule (up to 1e-9 points of float rounding); nulls come together
    tol = 1e-9
    assert label.tolist() == ((ret >= min_ret - tol) & (dd >= max_dd - tol)).astype(int).tolist()
    for column in TARGET_COLUMNS:
        assert out[column].null_count() == out.height - valid.height

    # matches the brute-force definition, ticker by ticker
    for (_,), rows in out.group_by("ticker", maintain_order=True):
        exp_ret, exp_dd = reference(rows["close"].to_numpy(), rows["low"].to_numpy(), h)
        assert rows[FUTURE_RET_PCT].to_list() == [
            None if v is None else pytest.approx(v, rel=1e-12, abs=1e-12) for v in exp_ret
        ]
        assert rows[FUTURE_DD_PCT].to_list() == [
            None if v is None else pytest.approx(v, rel=1e-12, abs=1e-12) for v in exp_dd
        ]


# --- real data --------------------------------------------------------------------------------


def test_sample_targets_are_plausible(sample_dir: Path) -> None:
    tickers = ["ADBE", "BA", "C", "VTRS"]
    frame = load_silver(sample_dir, tickers=tickers)
    out = targets(frame)
    n_tickers = out["ticker"].n_unique()
    assert out[FUTURE_RET_PCT].null_count() == 5 * n_tickers
    valid = out.drop_nulls(FUTURE_RET_PCT)
    assert valid[FUTURE_DD_PCT].max() <= 0.0  # type: ignore[operator]
    share = valid[LABEL_REBOUND_BIN].mean()
    assert share is not None
    assert 0.1 < share < 0.6  # type: ignore[operator]


# --- the return model's target: per date, never across dates ------------------------------------


def cross_section(seed: int = 3, n_dates: int = 6, n_tickers: int = 7) -> pl.DataFrame:
    """Rows of several tickers per date with returns, a causal volatility and some nulls."""
    rng = np.random.default_rng(seed)
    n = n_dates * n_tickers
    ret = rng.normal(0.5, 3.0, n)
    ret[rng.random(n) < 0.15] = np.nan
    return pl.DataFrame(
        {
            "ticker": [f"T{k}" for _ in range(n_dates) for k in range(n_tickers)],
            "date": [d for d in days(n_dates) for _ in range(n_tickers)],
            FUTURE_RET_PCT: pl.Series(ret).fill_nan(None),
            "volatility_20": rng.uniform(0.005, 0.03, n),
            TARGET_HORIZON: pl.Series([10] * n, dtype=pl.Int16),
        }
    )


CROSS = cross_section()


def with_target(frame: pl.DataFrame, kind: str, **kwargs: Any) -> pl.DataFrame:
    return add_return_target(frame, kind, **kwargs).collect()


def test_return_target_kinds_and_column_name() -> None:
    kinds = ["raw", "excess", "vol_scaled_excess", "rank", "zscore"]
    assert [k.value for k in ReturnTarget] == kinds
    assert RET_TARGET == "ret_target"
    out = with_target(CROSS, "raw")
    assert out.columns == [*CROSS.columns, RET_TARGET]
    assert out[RET_TARGET].to_list() == CROSS[FUTURE_RET_PCT].to_list()
    assert out[RET_TARGET].dtype == pl.Float64


def test_excess_is_the_return_less_the_date_mean_of_present_returns() -> None:
    out = with_target(CROSS, "excess")
    for (_,), rows in out.group_by("date"):
        present = rows[FUTURE_RET_PCT].drop_nulls().to_numpy()
        expected = [
            None if r is None else pytest.approx(r - present.mean(), abs=1e-12)
            for r in rows[FUTURE_RET_PCT].to_list()
        ]
        assert rows[RET_TARGET].to_list() == expected


@pytest.mark.parametrize("kind", ["excess", "vol_scaled_excess", "rank", "zscore"])
def test_cross_sectional_targets_use_their_own_date_only(kind: str) -> None:
    before = with_target(CROSS, kind)
    first = pl.col("date") == CROSS["date"].min()
    shocked = CROSS.with_columns(
        pl.when(first).then(pl.col(FUTURE_RET_PCT) * 5 + 40).otherwise(FUTURE_RET_PCT)
    )
    after = with_target(shocked, kind)
    assert_frame_equal(after.filter(~first), before.filter(~first))
    # the date alone gives the same values as with every other date beside it
    alone = with_target(CROSS.filter(first), kind)
    assert_frame_equal(alone, before.filter(first))


@pytest.mark.parametrize("kind", ["excess", "rank", "zscore"])
def test_cross_sectional_targets_have_zero_mean_per_date(kind: str) -> None:
    means = with_target(CROSS, kind).group_by("date").agg(pl.col(RET_TARGET).mean())
    assert np.abs(means[RET_TARGET].to_numpy()).max() < 1e-12


def test_rank_is_in_range_with_averaged_ties_and_ends_at_the_edges() -> None:
    out = with_target(CROSS, "rank")
    values = out[RET_TARGET].drop_nulls().to_numpy()
    assert values.min() >= -0.5
    assert values.max() <= 0.5
    for (_,), rows in out.group_by("date"):
        ranks = rows[RET_TARGET].drop_nulls()
        assert ranks.min() == -0.5
        assert ranks.max() == 0.5
    ties = pl.DataFrame(
        {"date": days(1) * 4, FUTURE_RET_PCT: [3.0, 1.0, 1.0, None]},
        schema={"date": pl.Date, FUTURE_RET_PCT: pl.Float64},
    )
    # ranks 3, 1.5, 1.5 of n=3 -> (r - 1) / 2 - 0.5
    assert with_target(ties, "rank")[RET_TARGET].to_list() == [0.5, -0.25, -0.25, None]


def test_zscore_is_the_excess_over_the_date_sample_sd() -> None:
    out = with_target(CROSS, "zscore")
    for (_,), rows in out.group_by("date"):
        present = rows[FUTURE_RET_PCT].drop_nulls().to_numpy()
        expected = [
            None if r is None else pytest.approx((r - present.mean()) / present.std(ddof=1))
            for r in rows[FUTURE_RET_PCT].to_list()
        ]
        assert rows[RET_TARGET].to_list() == expected
        assert rows[RET_TARGET].drop_nulls().std() == pytest.approx(1.0)
    flat = pl.DataFrame(
        {"date": days(1) * 3 + days(2)[1:], FUTURE_RET_PCT: [0.1, 0.1, None, 5.0]},
        schema={"date": pl.Date, FUTURE_RET_PCT: pl.Float64},
    )
    # equal returns: 0 (no dispersion to standardise); a lone return: no sd, null
    assert with_target(flat, "zscore")[RET_TARGET].to_list() == [0.0, 0.0, None, None]


def test_a_lone_row_on_a_date_gets_the_middle() -> None:
    lone = pl.DataFrame(
        {"date": days(2), FUTURE_RET_PCT: [-4.0, 7.0]},
        schema={"date": pl.Date, FUTURE_RET_PCT: pl.Float64},
    )
    assert with_target(lone, "rank")[RET_TARGET].to_list() == [0.0, 0.0]
    assert with_target(lone, "excess")[RET_TARGET].to_list() == [0.0, 0.0]


def test_vol_scaled_excess_formula_uses_the_horizon_column() -> None:
    excess = with_target(CROSS, "excess")[RET_TARGET]
    scaled = with_target(CROSS, "vol_scaled_excess")[RET_TARGET]
    expected = excess / (100 * CROSS["volatility_20"] * math.sqrt(10))
    assert scaled.to_list() == [
        None if e is None else pytest.approx(e, rel=1e-12) for e in expected.to_list()
    ]


@pytest.mark.parametrize("kind", list(ReturnTarget))
def test_null_returns_stay_null_and_are_not_counted(kind: ReturnTarget) -> None:
    out = with_target(CROSS, kind)
    assert out[RET_TARGET].is_null().to_list() == CROSS[FUTURE_RET_PCT].is_null().to_list()
    # a NaN return counts as missing, like a null
    nan = CROSS.with_columns(pl.col(FUTURE_RET_PCT).fill_null(np.nan))
    assert_frame_equal(with_target(nan, kind).drop(FUTURE_RET_PCT), out.drop(FUTURE_RET_PCT))


def test_unusable_volatility_gives_a_null_scaled_target() -> None:
    frame = CROSS.head(5).with_columns(
        pl.Series(FUTURE_RET_PCT, [1.0, 2.0, 3.0, 4.0, 5.0]),
        pl.Series("volatility_20", [None, 0.0, np.inf, 5e-5, 0.02]),
    )
    out = with_target(frame, "vol_scaled_excess")[RET_TARGET].to_list()
    assert out[:4] == [None, None, None, None]
    assert out[4] == pytest.approx(2.0 / (100 * 0.02 * math.sqrt(10)))
    loose = with_target(frame, "vol_scaled_excess", min_vol=1e-5)[RET_TARGET]
    assert loose[3] == pytest.approx(1.0 / (100 * 5e-5 * math.sqrt(10)))


def test_vol_scaled_excess_on_the_sample_is_unit_free(sample_dir: Path) -> None:
    from m002.features import add_features

    frame = load_silver(sample_dir, tickers=["ADBE", "BA", "C"])
    out = add_return_target(
        compute_future_returns(add_features(frame, "m002"), TargetConfig(horizon=10)),
        "vol_scaled_excess",
    ).collect()
    valid = out.drop_nulls(RET_TARGET)
    assert valid.height > 0.9 * out.drop_nulls(FUTURE_RET_PCT).height
    # unit-free: of the order of one horizon-sigma, not percent
    assert 0.3 < valid[RET_TARGET].std() < 3.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        ("raw", ["future_ret_pct"]),
        ("excess", ["date"]),
        ("vol_scaled_excess", ["volatility_20", "target_horizon"]),
    ],
)
def test_return_target_names_missing_columns(kind: str, missing: list[str]) -> None:
    with pytest.raises(SchemaError, match=re.escape(str(missing))):
        add_return_target(CROSS.drop(missing), kind)
    assert set(missing) <= set(return_target_inputs(kind))


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: return_target("demeaned"), "target"),
        (lambda: add_return_target(CROSS, "Rank"), "target"),
        (lambda: return_target("excess", min_vol=0.0), "min_vol"),
        (lambda: return_target("excess", min_vol=math.nan), "min_vol"),
        (lambda: return_target_inputs("z_score"), "target"),
    ],
)
def test_bad_return_target_arguments_name_the_parameter(call: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=f"`{field}`"):
        call()


def test_the_return_from_the_next_close_stays_in_its_ticker() -> None:
    frame = pl.DataFrame(
        {"ticker": ["A"] * 4 + ["B"] * 3, "close": [10.0, 20.0, 25.0, 30.0, 5.0, 4.0, 2.0]}
    )
    values = frame.select(future_return_from_next(1))[FUTURE_RET_NEXT_PCT].to_list()
    assert values == [pytest.approx(25.0), pytest.approx(20.0), None, None, -50.0, None, None]
    with pytest.raises(ConfigError, match="horizon"):
        future_return_from_next(0)
