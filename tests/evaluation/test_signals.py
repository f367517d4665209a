"""Strategy signals: the portfolio variants on the same predictions, the ablation through the
same portfolio, and the oracle on the synthetic ground truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from m002.evaluation import STRATEGIES, regime_rule_position, strategy_signals
from m002.evaluation._signals import ABLATION_COLUMNS, TRUE_REGIME
from m002.policy import PolicyConfig, apply_policy, required_columns
from m002.portfolio import PortfolioConfig, build_portfolio
from m002.regime import state_prob_columns


@pytest.fixture(scope="module")
def predictions() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    tickers, dates = (
        [f"T{i}" for i in range(12)],
        pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 12, 31), "1d", eager=True),
    )
    n = len(tickers) * dates.len()
    frame = pl.DataFrame(
        {
            "ticker": np.repeat(tickers, dates.len()),
            "date": pl.concat([dates] * len(tickers)),
            "close": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
            "policy_score": rng.normal(0, 0.01, n),
            "position_size": rng.normal(0, 0.3, n),
            "pred_expected_ret_pct": rng.normal(0, 1, n),
            "pred_rebound_prob": rng.uniform(0, 1, n),
            "pred_expected_dd_pct": -rng.exponential(3, n),
            "atr_smooth": rng.uniform(0.005, 0.03, n),
            **{
                flag: rng.binomial(1, 0.1, n) for flag in ("I_vr_and_vs", "I_bd_late", "I_bd_early")
            },
            "ret_5d": rng.normal(0, 0.03, n),
            **{c: rng.dirichlet(np.ones(5), n)[:, i] for i, c in enumerate(state_prob_columns())},
        }
    )
    return frame.with_columns(
        pl.col(c).shuffle(seed=i).alias(a) for i, (c, a) in enumerate(ABLATION_COLUMNS.items())
    )


def test_every_strategy_has_a_column_and_the_books_follow_their_config(
    predictions: pl.DataFrame,
) -> None:
    config = PortfolioConfig(trade_rate=0.5)
    signals = strategy_signals(predictions, config)
    assert list(STRATEGIES) == [c for c in signals.columns if c not in ("ticker", "date")]
    rows = predictions.sort("ticker", "date")
    expected = build_portfolio(rows, config)["target_weight"]
    assert signals["m002"].equals(expected.alias("m002"))
    # m002_spec re-applies the spec's own policy, whatever policy the run was configured with
    spec = apply_policy(rows.select(required_columns()), PolicyConfig.spec())
    assert signals["m002_spec"].equals(spec["position_size"].fill_null(0.0).alias("m002_spec"))
    # a rank book is dollar-neutral each day, a long-only tilt never short
    net = signals.group_by("date").agg(pl.col("m002_rank").sum())["m002_rank"]
    assert net.abs().max() < 1e-12
    assert signals["m002_rank_long_only"].min() >= 0.0
    held = signals.group_by("date").agg(
        (pl.col("m002_topk") > 0).sum(), (pl.col("m002_topk") < 0).sum().alias("short")
    )
    assert (held["m002_topk"] <= config.topk).all()
    assert held["short"].max() > 0  # the top-k row is two-sided whatever long_only says


def test_the_ablation_goes_through_the_same_portfolio(predictions: pl.DataFrame) -> None:
    signals = strategy_signals(predictions)
    swapped = predictions.sort("ticker", "date").with_columns(
        pl.col(a).alias(c) for c, a in ABLATION_COLUMNS.items()
    )
    expected = build_portfolio(swapped, PortfolioConfig())["target_weight"]
    assert signals["m002_no_state_probs"].to_list() == expected.to_list()
    assert not signals["m002_no_state_probs"].equals(signals["m002"])


def test_the_oracle_trades_the_true_regime_of_the_day(predictions: pl.DataFrame) -> None:
    regimes = ["up", "top", "down", "bottom", "sideways"]
    truth = predictions.with_columns(
        pl.Series(TRUE_REGIME, [regimes[i % 5] for i in range(predictions.height)])
    )
    signals = strategy_signals(truth)
    merged = truth.sort("ticker", "date").with_columns(
        signals["oracle_regime"], signals["oracle_regime_long_only"]
    )
    expected = {"up": 1.0, "bottom": 1.0, "down": -1.0, "top": -1.0, "sideways": 0.0}
    for regime, position in expected.items():
        rows = merged.filter(pl.col(TRUE_REGIME) == regime)
        assert (rows["oracle_regime"] == position).all()
        assert (rows["oracle_regime_long_only"] == max(position, 0.0)).all()
    assert "oracle_regime" not in strategy_signals(predictions).columns


def test_the_regime_rule_is_flat_where_no_state_is_most_likely() -> None:
    names = state_prob_columns()
    rows = [
        {"Peak": 0.35, "Accumulation": 0.1, "EarlyUp": 0.1, "LateDown": 0.1, "Distribution": 0.1},
        {"Peak": 0.1, "Accumulation": 0.05, "EarlyUp": 0.1, "LateDown": 0.0, "Distribution": 0.0},
        {"Peak": 0.0, "Accumulation": 0.0, "EarlyUp": 0.6, "LateDown": 0.0, "Distribution": 0.1},
        {"Peak": 0.0, "Accumulation": 0.0, "EarlyUp": 0.0, "LateDown": 0.5, "Distribution": 0.1},
    ]
    frame = pl.DataFrame(
        {c: [r[c.removeprefix("state_prob_")] for r in rows] for c in names}
    ).with_columns(pl.lit(None, dtype=pl.Float64).alias("x"))
    positions = frame.select(regime_rule_position())[:, 0].to_list()
    # Peak (no state 0.25); no state 0.75 beats Peak 0.1; EarlyUp; LateDown
    assert positions == [-1.0, 0.0, 1.0, 0.0]
    nulls = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(names[0]))
    assert nulls.select(regime_rule_position())[:, 0].to_list() == [0.0] * 4
