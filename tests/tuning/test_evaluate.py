"""The compiled evaluation equals the project's own policy -> portfolio -> backtest path."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m002.evaluation import BacktestConfig, run_backtest
from m002.exceptions import ConfigError, SchemaError
from m002.policy import POLICY_COLUMNS, PolicyConfig, apply_policy
from m002.portfolio import PortfolioConfig, build_portfolio
from m002.portfolio._select import _dropout_step
from m002.tuning import Evaluator, check_supported, encode
from m002.tuning._kernel import _dropout, _stable_order

CASES = {
    "shipped": (PolicyConfig(), PortfolioConfig()),
    "rank_two_sided": (PolicyConfig(), PortfolioConfig(long_only=False)),
    "rank_hysteresis_band": (
        PolicyConfig(multiplier_scope="any_sign", short_gate="score"),
        PortfolioConfig(
            long_only=False,
            enter_quantile=0.8,
            exit_quantile=0.6,
            max_weight=0.15,
            net_min=0.1,
            net_max=0.4,
            trade_rate=0.3,
        ),
    ),
    "topk_memory": (
        PolicyConfig(risk_aversion=0.01),
        PortfolioConfig(
            sizing="topk",
            long_only=False,
            topk=3,
            n_drop=1,
            cooldown_days=2,
            min_hold_days=3,
            trade_rate=0.5,
        ),
    ),
    "topk_long": (PolicyConfig(), PortfolioConfig(sizing="topk", topk=4, gross_target=0.7)),
    "spec_passthrough": (PolicyConfig.spec(), PortfolioConfig.passthrough()),
    "spec_banded": (
        PolicyConfig(risk_aversion=0.02, k=4.0, size_max=0.5, theta_long=0.0005),
        PortfolioConfig(
            sizing="spec",
            long_only=False,
            trade_rate=0.4,
            no_trade_band=0.01,
            net_min=-0.2,
            net_max=0.3,
            gross_target=0.8,
            max_weight=0.2,
        ),
    ),
    "head_score": (
        PolicyConfig(),
        PortfolioConfig(score_column="pred_expected_ret_pct", long_only=False, trade_rate=0.5),
    ),
    "no_shorts_spec_gate": (
        PolicyConfig(allow_short=False, peak_prob_threshold=0.3),
        PortfolioConfig(sizing="spec", long_only=False, max_leverage=0.8, gross_target=None),
    ),
}
BACKTESTS = {
    "close": BacktestConfig(cost_bps=10.0),
    "next_open_borrow_cap": BacktestConfig(
        cost_bps=7.0, slippage_bps=3.0, execution="next_open", borrow_bps=50.0, gross_cap=0.6
    ),
    "long_only_backtest": BacktestConfig(cost_bps=20.0, allow_short=False),
}


def _reference(
    predictions: pl.DataFrame,
    policy: PolicyConfig,
    portfolio: PortfolioConfig,
    backtest: BacktestConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What `strategy_signals` and `run_backtest` give for the system's book."""
    rows = predictions.sort("ticker", "date")
    decided = apply_policy(rows.drop(POLICY_COLUMNS, strict=False), policy)
    book = build_portfolio(decided, portfolio)
    signals = book.select("ticker", "date", pl.col("target_weight").alias("m002"))
    prices = rows.select("ticker", "date", "open", "close")
    daily = run_backtest(signals, prices, backtest).daily.sort("date")
    return signals, daily


@pytest.mark.parametrize("backtest_name", list(BACKTESTS))
@pytest.mark.parametrize("case", list(CASES))
def test_one_pass_equals_the_layers_and_the_backtest(
    predictions: pl.DataFrame, case: str, backtest_name: str
) -> None:
    policy, portfolio = CASES[case]
    backtest = BACKTESTS[backtest_name]
    evaluator = Evaluator(predictions, PolicyConfig(), portfolio, backtest)
    daily, weights = evaluator.daily(encode(policy, portfolio), weights=True)
    signals, expected = _reference(predictions, policy, portfolio, backtest)
    assert weights is not None
    assert evaluator.dates == expected["date"].to_list()
    got = evaluator.signals(weights, "m002").sort("ticker", "date")
    assert got.select("ticker", "date").equals(
        signals.sort("ticker", "date").select("ticker", "date")
    )
    np.testing.assert_allclose(
        got["m002"], signals.sort("ticker", "date")["m002"], rtol=0, atol=1e-12
    )
    for i, name in enumerate(
        ("net_return", "gross_return", "turnover", "gross_exposure", "net_exposure")
    ):
        np.testing.assert_allclose(daily[:, i], expected[name], rtol=0, atol=1e-12, err_msg=name)
    # a case where nothing trades would prove nothing
    assert np.abs(daily[:, 2]).sum() > 0.1


def test_a_schedule_switches_parameters_on_its_dates(predictions: pl.DataFrame) -> None:
    # stateless books (trade rate 1): after the switch the weights are the second set's
    first = PortfolioConfig(long_only=False, trade_rate=1.0)
    second = PortfolioConfig(sizing="spec", long_only=False, trade_rate=1.0)
    evaluator = Evaluator(predictions, PolicyConfig(), first, BacktestConfig())
    table = np.vstack([encode(PolicyConfig(), first), encode(PolicyConfig(), second)])
    switch = 77
    schedule = np.where(np.arange(evaluator.n_dates) < switch, 0, 1)
    _, mixed = evaluator.daily(table, schedule, weights=True)
    _, only_first = evaluator.daily(table[0], weights=True)
    _, only_second = evaluator.daily(table[1], weights=True)
    assert mixed is not None
    assert only_first is not None
    assert only_second is not None
    np.testing.assert_array_equal(mixed[:switch], only_first[:switch])
    np.testing.assert_array_equal(mixed[switch:], only_second[switch:])
    assert not np.array_equal(only_first[switch:], only_second[switch:], equal_nan=True)


def test_rules_the_pass_does_not_carry_are_refused() -> None:
    with pytest.raises(ConfigError, match="maximum positions, edge over cost"):
        check_supported(PortfolioConfig(max_positions=5, edge_over_cost=True))
    with pytest.raises(ConfigError, match="volatility target"):
        encode(PolicyConfig(), PortfolioConfig(vol_target=0.1))


def test_costs_can_change_without_reading_the_rows_again(predictions: pl.DataFrame) -> None:
    evaluator = Evaluator(predictions, PolicyConfig(), PortfolioConfig(), BacktestConfig())
    dearer = evaluator.with_backtest(BacktestConfig(cost_bps=30.0))
    params = encode(PolicyConfig(), PortfolioConfig())
    cheap, _ = evaluator.daily(params)
    costly, _ = dearer.daily(params)
    np.testing.assert_allclose(cheap[:, 0] - costly[:, 0], cheap[:, 2] * 20.0 / 1e4, atol=1e-15)


@settings(deadline=None)  # the first example compiles the kernel
@given(
    st.lists(
        st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, -2.0]) | st.floats(-3, 3, width=32),
        max_size=130,
    )
)
def test_the_compiled_order_is_numpys_stable_argsort(values: list[float]) -> None:
    x = np.array(values, dtype=np.float64)
    np.testing.assert_array_equal(_stable_order(x, 1.0), np.argsort(x, kind="stable"))
    np.testing.assert_array_equal(_stable_order(x, -1.0), np.argsort(-x, kind="stable"))


@settings(deadline=None, max_examples=300)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, -2.0, 3.0]), min_size=n,
                     max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
        )
    ),
    st.integers(1, 12),
    st.integers(0, 5),
    st.sampled_from([1.0, -1.0]),
)  # fmt: skip
def test_the_compiled_dropout_step_is_the_portfolios(
    vectors: tuple[list[float], list[bool], list[bool], list[bool]],
    topk: int,
    n_drop: int,
    sign: float,
) -> None:
    # ties (few distinct scores), more names held than topk, nothing buyable: all covered
    score, held, can_sell, can_buy = (np.array(v) for v in vectors)
    order = np.argsort(-sign * score, kind="stable")
    expected = _dropout_step(order, held, can_sell, can_buy, topk, n_drop)
    n = score.size
    got = np.empty(n, dtype=np.bool_)
    work = (np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64))
    _dropout(score, sign, held, can_sell, can_buy, topk, n_drop, got, *work)
    np.testing.assert_array_equal(got, expected)


def test_a_pass_that_stops_early_agrees_on_its_dates(predictions: pl.DataFrame) -> None:
    portfolio = PortfolioConfig(sizing="topk", long_only=False, topk=3, cooldown_days=2)
    evaluator = Evaluator(predictions, PolicyConfig(), portfolio, BacktestConfig())
    params = encode(PolicyConfig(), portfolio)
    full, _ = evaluator.daily(params)
    early, _ = evaluator.daily(params, until=83)
    np.testing.assert_array_equal(early[:83], full[:83])
    assert not early[83:].any()
    assert full[83:].any()


def test_runs_that_cannot_be_tuned_say_why(predictions: pl.DataFrame) -> None:
    def evaluator(rows: pl.DataFrame) -> Evaluator:
        return Evaluator(rows, PolicyConfig(), PortfolioConfig(), BacktestConfig())

    with pytest.raises(SchemaError, match="predictions have no rows"):
        evaluator(predictions.head(0))
    bad_close = predictions.with_columns(
        pl.when(pl.int_range(pl.len()) == 17).then(float("nan")).otherwise(pl.col("close"))
        .alias("close")
    )  # fmt: skip
    with pytest.raises(SchemaError, match=r"m002 tune: 1 price row\(s\) .* non-finite .* close"):
        evaluator(bad_close)
    no_head = predictions.with_columns(pl.lit(float("nan")).alias("pred_expected_ret_pct"))
    with pytest.raises(SchemaError, match=r"no row .* has a finite pred_expected_ret_pct"):
        evaluator(no_head)
    with pytest.raises(SchemaError, match=r"lacks: \['atr_smooth'\]"):
        evaluator(predictions.drop("atr_smooth"))
