"""Backtest arithmetic on a two-ticker, ten-day frame worked out by hand, the look-ahead guard,
and the performance metrics on series whose figures are known."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from m002.evaluation import BacktestConfig, performance_metrics, run_backtest
from m002.exceptions import ConfigError, SchemaError

DAYS = [date(2024, 1, 1) + timedelta(days=i) for i in range(10)]
CLOSE_A = [100.0, 101.0, 102.0, 100.0, 99.0, 100.0, 102.0, 103.0, 101.0, 100.0]
CLOSE_B = [50.0, 50.0, 51.0, 52.0, 51.0, 50.0, 49.0, 50.0, 51.0, 52.0]
SIZE_A = [0.0, 0.5, 0.5, 0.5, 0.0, 0.0, -0.5, -0.5, 0.0, 0.0]
SIZE_B = [1.0, 1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0]
RATE = 15e-4  # 10 bps commission + 5 bps slippage, per side


def _frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    prices = pl.DataFrame(
        {
            "ticker": ["A"] * 10 + ["B"] * 10,
            "date": DAYS * 2,
            "close": CLOSE_A + CLOSE_B,
        }
    )
    signals = pl.DataFrame(
        {"ticker": ["A"] * 10 + ["B"] * 10, "date": DAYS * 2, "s": SIZE_A + SIZE_B}
    )
    return signals, prices


def _ret(closes: list[float], d: int) -> float:
    return closes[d] / closes[d - 1] - 1.0


# weights held on each day (decided the day before; day 1-2 scaled by 1 / 1.5 under the cap)
HELD_A = [0.0, 0.0, 1 / 3, 1 / 3, 0.5, 0.0, 0.0, -0.5, -0.5, 0.0]
HELD_B = [0.0, 1.0, 2 / 3, 2 / 3, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0]
TURNOVER = [0.0, 1.0, 2 / 3, 0.0, 5 / 6, 0.5, 0.5, 0.5, 0.5, 0.5]


def test_daily_rows_match_the_hand_computation() -> None:
    signals, prices = _frames()
    cfg = BacktestConfig(cost_bps=10.0, slippage_bps=5.0, gross_cap=1.0)
    daily = run_backtest(signals, prices, cfg).daily
    gross = [0.0] + [
        HELD_A[d] * _ret(CLOSE_A, d) + HELD_B[d] * _ret(CLOSE_B, d) for d in range(1, 10)
    ]
    # spot checks written out in full
    assert gross[1] == pytest.approx(1.0 * 0.0)
    assert gross[2] == pytest.approx((1 / 3) * (102 / 101 - 1) + (2 / 3) * 0.02)
    assert gross[7] == pytest.approx(-0.5 * (103 / 102 - 1) + 0.5 * (50 / 49 - 1))
    np.testing.assert_allclose(daily["gross_return"].to_numpy(), gross, rtol=0, atol=1e-15)
    np.testing.assert_allclose(daily["turnover"].to_numpy(), TURNOVER, atol=1e-15)
    np.testing.assert_allclose(daily["cost"].to_numpy(), np.array(TURNOVER) * RATE, atol=1e-15)
    net = np.array(gross) - np.array(TURNOVER) * RATE
    np.testing.assert_allclose(daily["net_return"].to_numpy(), net, atol=1e-15)
    np.testing.assert_allclose(daily["equity"].to_numpy(), np.cumprod(1 + net), atol=1e-14)
    exposure = np.abs(HELD_A) + np.abs(HELD_B)
    np.testing.assert_allclose(daily["gross_exposure"].to_numpy(), exposure, atol=1e-15)
    np.testing.assert_allclose(daily["net_exposure"].to_numpy(), np.add(HELD_A, HELD_B), atol=1e-15)
    equity = np.cumprod(1 + net)
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    np.testing.assert_allclose(daily["drawdown"].to_numpy(), equity / peak - 1, atol=1e-14)


def test_trades_match_the_hand_computation() -> None:
    signals, prices = _frames()
    cfg = BacktestConfig(cost_bps=10.0, slippage_bps=5.0)
    trades = run_backtest(signals, prices, cfg).trades
    assert trades.select("ticker", "side", "entry_date", "exit_date", "holding_days").rows() == [
        ("A", "LONG", DAYS[2], DAYS[4], 3),
        ("A", "SHORT", DAYS[7], DAYS[8], 2),
        ("B", "LONG", DAYS[1], DAYS[3], 3),
        ("B", "LONG", DAYS[6], DAYS[7], 2),
    ]
    a_long = (
        (1 / 3) * (102 / 101 - 1) + (1 / 3) * (100 / 102 - 1) + 0.5 * (99 / 100 - 1)
        - RATE * (1 / 3 + 1 / 6 + 0.5)  # open 1/3, add 1/6, close 1/2
    )  # fmt: skip
    a_short = -0.5 * (103 / 102 - 1) - 0.5 * (101 / 103 - 1) - RATE * (0.5 + 0.5)
    b_first = 1.0 * 0.0 + (2 / 3) * 0.02 + (2 / 3) * (52 / 51 - 1) - RATE * (1 + 1 / 3 + 2 / 3)
    b_second = 0.5 * (49 / 50 - 1) + 0.5 * (50 / 49 - 1) - RATE * (0.5 + 0.5)
    np.testing.assert_allclose(
        trades["pnl"].to_numpy(), [a_long, a_short, b_first, b_second], atol=1e-15
    )
    a_long_ret = (102 / 101) * (100 / 102) * (99 / 100) - 1
    a_short_ret = (1 - (103 / 102 - 1)) * (1 - (101 / 103 - 1)) - 1
    np.testing.assert_allclose(
        trades["return_pct"].to_numpy()[:2], [a_long_ret * 100, a_short_ret * 100], atol=1e-12
    )
    # the trades' pnl and the flat days' costs add up to the summed daily net returns
    daily = run_backtest(signals, prices, cfg).daily
    assert trades["pnl"].sum() == pytest.approx(daily["net_return"].sum(), abs=1e-15)


def test_long_only_drops_the_short_and_the_cap_scales_only_down() -> None:
    signals, prices = _frames()
    result = run_backtest(signals, prices, BacktestConfig(allow_short=False, gross_cap=2.0))
    assert "SHORT" not in result.trades["side"].to_list()
    daily = result.daily
    # under a cap of 2 nothing is scaled: day 2 holds A 0.5 and B 1.0
    assert daily["gross_exposure"][2] == pytest.approx(1.5)
    assert daily["gross_exposure"][7] == pytest.approx(0.5)  # B only, A's short dropped


def test_a_position_earns_from_the_next_day_only() -> None:
    """The whole position is decided on day 0 and held on day 1: day 0 earns nothing."""
    prices = pl.DataFrame({"ticker": ["A"] * 3, "date": DAYS[:3], "close": [100.0, 200.0, 100.0]})
    signals = prices.select("ticker", "date", pl.Series("s", [1.0, 0.0, 0.0]))
    daily = run_backtest(signals, prices, BacktestConfig(cost_bps=0.0)).daily
    assert daily["gross_return"].to_list() == [0.0, 1.0, 0.0]


def _random_walk(n_tickers: int = 20, n_days: int = 500, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.01, size=(n_tickers, n_days))
    closes = 100.0 * np.cumprod(1.0 + returns, axis=1)
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(n_days)]
    return pl.DataFrame(
        {
            "ticker": np.repeat([f"T{i:02d}" for i in range(n_tickers)], n_days),
            "date": days * n_tickers,
            "close": closes.ravel(),
        }
    )


def test_a_leaky_signal_scores_an_impossible_sharpe() -> None:
    """Tomorrow's return as today's signal: the harness shows an absurd Sharpe, while the
    same information one day late (today's return, known at the close) shows nothing."""
    prices = _random_walk()
    ret = pl.col("close") / pl.col("close").shift(1) - 1.0
    signals = prices.with_columns(
        ret.shift(-1).over("ticker").sign().fill_null(0.0).alias("leaky"),
        ret.over("ticker").sign().fill_null(0.0).alias("honest"),
    ).drop("close")
    # no costs: the honest signal flips daily and would otherwise just pay them
    result = run_backtest(signals, prices, BacktestConfig(cost_bps=0.0))
    sharpe = {
        name: performance_metrics(
            result.daily.filter(pl.col("strategy") == name),
            result.trades.filter(pl.col("strategy") == name),
        )["sharpe"]
        for name in ("leaky", "honest")
    }
    assert sharpe["leaky"] > 20.0
    assert abs(sharpe["honest"]) < 3.0


def test_missing_price_and_missing_column_are_errors() -> None:
    signals, prices = _frames()
    with pytest.raises(SchemaError, match="no price row"):
        run_backtest(signals, prices.filter(pl.col("date") != DAYS[3]))
    with pytest.raises(SchemaError, match="nope"):
        run_backtest(signals, prices, strategies=["nope"])
    with pytest.raises(SchemaError, match="no rows"):
        run_backtest(signals.head(0), prices)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0, None])
def test_a_bad_close_is_refused_not_spread_through_the_equity(bad: float | None) -> None:
    signals, prices = _frames()
    broken = prices.with_columns(
        pl.when((pl.col("ticker") == "B") & (pl.col("date") == DAYS[4]))
        .then(pl.lit(bad, dtype=pl.Float64))
        .otherwise(pl.col("close"))
        .alias("close")
    )
    with pytest.raises(SchemaError, match=r"1 price row.*B 2024-01-05"):
        run_backtest(signals, broken)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cost_bps": -1.0}, "cost_bps"),
        ({"gross_cap": 0.0}, "gross_cap"),
        ({"allow_short": 1}, "allow_short"),
        ({"slippage_bps": math.inf}, "slippage_bps"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BacktestConfig(**kwargs)  # type: ignore[arg-type]


def _daily(returns: list[float]) -> pl.DataFrame:
    r = np.array(returns)
    equity = np.cumprod(1 + r)
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return pl.DataFrame(
        {
            "net_return": r,
            "equity": equity,
            "drawdown": equity / peak - 1,
            "turnover": np.full(r.size, 0.1),
            "gross_exposure": np.full(r.size, 0.8),
            "net_exposure": np.full(r.size, 0.2),
            "cost": np.full(r.size, 0.0001),
        }
    )


def test_performance_metrics_on_a_known_series() -> None:
    returns = [0.01, -0.02, 0.01, 0.005, -0.01, 0.03] * 42  # 252 days
    trades = pl.DataFrame({"pnl": [0.1, -0.05, 0.02, 0.0], "holding_days": [1, 3, 5, 7]})
    m = performance_metrics(_daily(returns), trades)
    r = np.array(returns)
    total = float(np.prod(1 + r) - 1)
    assert m["total_return"] == pytest.approx(total)
    assert m["cagr"] == pytest.approx(total)  # exactly one year
    assert m["ann_vol"] == pytest.approx(r.std(ddof=1) * math.sqrt(252))
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt(float(np.mean(np.minimum(r, 0) ** 2)))
    assert m["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(252))
    assert m["hit_rate"] == pytest.approx(0.5)
    assert m["avg_holding_days"] == pytest.approx(4.0)
    assert m["turnover"] == pytest.approx(0.1 * 252)
    assert m["exposure"] == pytest.approx(0.8)
    assert m["calmar"] == pytest.approx(m["cagr"] / -m["max_drawdown"])


def test_max_drawdown_and_its_duration() -> None:
    # up 10%, down to 0.88 (-20% from the peak), back above the peak on the 5th day after it
    returns = [0.10, -0.10, -0.1111111111111111, 0.1, 0.1, 0.05, 0.01]
    m = performance_metrics(_daily(returns), pl.DataFrame({"pnl": [], "holding_days": []}))
    equity = np.cumprod(1 + np.array(returns))
    assert m["max_drawdown"] == pytest.approx(equity[2] / equity[0] - 1)
    assert m["max_drawdown"] == pytest.approx(-0.2)
    assert m["max_drawdown_days"] == 4  # days 1-4 below the day-0 peak of 1.10
    assert m["hit_rate"] is None


OPEN_A = [99.0, 100.5, 101.0, 101.5, 99.5, 99.0, 101.0, 102.5, 102.0, 100.5]
OPEN_B = [49.5, 50.5, 50.5, 51.5, 51.5, 50.5, 49.5, 49.5, 50.5, 51.5]


def test_next_open_execution_earns_open_to_open_from_the_next_day() -> None:
    signals, prices = _frames()
    prices = prices.with_columns(open=pl.Series(OPEN_A + OPEN_B))
    cfg = BacktestConfig(cost_bps=10.0, slippage_bps=5.0, execution="next_open")
    daily = run_backtest(signals, prices, cfg).daily

    def forward(opens: list[float], d: int) -> float:
        return opens[d + 1] / opens[d] - 1.0 if d + 1 < len(opens) else 0.0

    # the same held weights and turnover as at the close; each day's return runs from its
    # open to the next open (the last day has no next open: nothing is earned)
    gross = [HELD_A[d] * forward(OPEN_A, d) + HELD_B[d] * forward(OPEN_B, d) for d in range(10)]
    assert gross[1] == pytest.approx(1.0 * (50.5 / 50.5 - 1))
    assert gross[7] == pytest.approx(-0.5 * (102.0 / 102.5 - 1) + 0.5 * (50.5 / 49.5 - 1))
    np.testing.assert_allclose(daily["gross_return"].to_numpy(), gross, atol=1e-15)
    np.testing.assert_allclose(daily["turnover"].to_numpy(), TURNOVER, atol=1e-15)
    with pytest.raises(SchemaError, match="open"):
        run_backtest(signals, prices.drop("open"), cfg)
    bad = prices.with_columns(open=pl.when(pl.col("close") == 102.0).then(0.0).otherwise("open"))
    with pytest.raises(SchemaError, match="non-positive open"):
        run_backtest(signals, bad, cfg)


def test_shorts_pay_the_borrow_fee_every_day_they_are_held() -> None:
    signals, prices = _frames()
    fee = 252.0  # bps a year: 1e-4 of the short weight a day
    result = run_backtest(signals, prices, BacktestConfig(cost_bps=0.0, borrow_bps=fee))
    short = np.minimum(np.array(HELD_A), 0.0) + np.minimum(np.array(HELD_B), 0.0)
    np.testing.assert_allclose(result.daily["cost"].to_numpy(), -short * 1e-4, atol=1e-18)
    # the short trade's pnl carries its fee, so trades and days still add up
    total_pnl = result.trades["pnl"].sum()
    assert total_pnl == pytest.approx(result.daily["net_return"].sum(), abs=1e-15)
    a_short = result.trades.filter(pl.col("side") == "SHORT")
    gross_short = -0.5 * _ret(CLOSE_A, 7) - 0.5 * _ret(CLOSE_A, 8)
    assert a_short["pnl"].item() == pytest.approx(gross_short - 2 * 0.5 * 1e-4, abs=1e-15)


def test_execution_and_borrow_are_checked() -> None:
    with pytest.raises(ConfigError, match="`execution` must be one of"):
        BacktestConfig(execution="vwap")
    with pytest.raises(ConfigError, match="`borrow_bps` must be >= 0"):
        BacktestConfig(borrow_bps=-1.0)


def test_metrics_of_a_sub_period_restart_the_equity_at_one() -> None:
    days = [date(2024, 1, d) for d in (2, 3, 4, 5, 8)]
    prices = pl.DataFrame(
        {"ticker": ["A"] * 5, "date": days, "close": [100.0, 110.0, 99.0, 108.9, 108.9]}
    )
    signals = pl.DataFrame({"ticker": ["A"] * 5, "date": days, "w": [1.0] * 5})
    result = run_backtest(signals, prices, BacktestConfig(cost_bps=0.0))
    # net returns by day: 0, +10%, -10%, +10%, 0; one trade entered on the first day
    whole = result.metrics()["w"]
    assert whole["total_return"] == pytest.approx(1.1 * 0.9 * 1.1 - 1.0)
    later = result.metrics(after=days[1])["w"]  # -10%, +10%, 0 from an equity of 1
    assert (later["n_days"], later["n_trades"]) == (3, 0)
    assert later["total_return"] == pytest.approx(0.9 * 1.1 - 1.0)
    assert later["max_drawdown"] == pytest.approx(-0.1)
    early = result.metrics(until=days[2])["w"]  # 0, +10%, -10%
    assert (early["n_days"], early["n_trades"]) == (3, 1)
    assert early["total_return"] == pytest.approx(1.1 * 0.9 - 1.0)
    assert early["max_drawdown"] == pytest.approx(0.99 / 1.1 - 1.0)
    assert result.metrics(after=days[1], until=days[2])["w"]["n_days"] == 1
