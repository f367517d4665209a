"""Policy and portfolio configurations on a walk-forward run's out-of-sample predictions:
chosen on the early test years, reported on the later ones.

No layer is re-trained: the run's predictions (layer 1's probabilities and the head's three
outputs, out of sample) go through each candidate policy and portfolio, and each book is
backtested at 10 and 20 bps per side. The book runs once over every test date in order; the
scores are split by date. The candidate with the best net Sharpe at 10 bps on the dates up to
``--choose-until`` is the one chosen, and its figures on the dates after it are the honest
ones (nobody looked at them to choose). The spec policy alone and equal-weight buy-and-hold
are shown on the same dates and costs.

    python benchmarks/bench_portfolio.py RUN_DIR [--source ../shared/data/sp500_sample]
        [--choose-until 2013-12-31]

Prints a table per period and one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"
COSTS = (10.0, 20.0)


def _candidates() -> dict[str, tuple[Any, Any]]:
    """name -> (PolicyConfig, PortfolioConfig)."""
    from m002.policy import PolicyConfig
    from m002.portfolio import PortfolioConfig, Sizing

    policies = {
        "spec": PolicyConfig(),
        "sym": PolicyConfig(score_form="symmetric"),
        "sym_scoregate": PolicyConfig(score_form="symmetric", short_gate="score"),
    }
    out: dict[str, tuple[Any, Any]] = {}
    for p_name, policy in policies.items():
        out[f"{p_name}|spec_sizing"] = (policy, PortfolioConfig.passthrough())
    books = {
        "rank": {"sizing": Sizing.RANK},
        "rank_long": {"sizing": Sizing.RANK, "long_only": True},
        "top10": {"sizing": Sizing.TOPK, "topk": 10, "n_drop": 2},
        "top10_long": {"sizing": Sizing.TOPK, "topk": 10, "n_drop": 2, "long_only": True},
    }
    scores = {"score": "policy_score", "ret": "pred_expected_ret_pct"}
    for s_name, column in scores.items():
        for p_name, policy in policies.items():
            if s_name == "ret" and p_name != "spec":
                continue  # the head's expected return does not depend on the policy
            for b_name, book in books.items():
                for rate in (0.1, 0.25):
                    config = PortfolioConfig(score_column=column, trade_rate=rate, **book)
                    out[f"{p_name}|{b_name}|{s_name}|rate{rate}"] = (policy, config)
    return out


def _period_metrics(result: Any, lo: date | None, hi: date | None) -> dict[str, Any]:
    """Metrics of one backtest's days in (lo, hi], equity restarted at 1."""
    from m002.evaluation import performance_metrics

    daily, trades = result.daily, result.trades
    if lo is not None:
        daily, trades = daily.filter(pl.col("date") > lo), trades.filter(pl.col("entry_date") > lo)
    if hi is not None:
        daily = daily.filter(pl.col("date") <= hi)
        trades = trades.filter(pl.col("entry_date") <= hi)
    daily = daily.with_columns((1.0 + pl.col("net_return")).cum_prod().alias("equity"))
    daily = daily.with_columns(
        (pl.col("equity") / pl.max_horizontal(pl.col("equity").cum_max(), pl.lit(1.0)) - 1.0)
        .alias("drawdown")
    )  # fmt: skip
    m = performance_metrics(daily, trades)
    return {k: m.get(k) for k in ("cagr", "sharpe", "max_drawdown", "turnover", "net_exposure")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--choose-until", default="2013-12-31")
    args = parser.parse_args()

    from m002._polars import collect
    from m002.evaluation import BacktestConfig, run_backtest
    from m002.features import add_features
    from m002.pipeline import read_prices
    from m002.policy import apply_policy
    from m002.portfolio import build_portfolio

    until = date.fromisoformat(args.choose_until)
    started = time.perf_counter()
    predictions = pl.read_parquet(args.run_dir / "predictions.parquet")
    prices = read_prices(args.source, validate="off")
    # the policy reads atr_smooth, which the run folder does not keep: recomputed (causal)
    atr = collect(
        add_features(prices, "m002", assume_sorted=True).select("ticker", "date", "atr_smooth")
    )
    rows = (
        predictions.drop("atr_smooth", strict=False)
        .join(atr, on=["ticker", "date"], how="left")
        .sort("ticker", "date")
    )
    closes = rows.select("ticker", "date", "close")
    periods = {"choose": (None, until), "report": (until, None)}
    table: dict[str, dict[str, Any]] = {}
    books: dict[str, pl.DataFrame] = {
        "buy_and_hold": rows.select("ticker", "date", pl.lit(1.0).alias("w"))
    }
    for name, (policy, portfolio) in _candidates().items():
        decided = apply_policy(rows, policy)
        weights = build_portfolio(decided, portfolio)
        books[name] = weights.select("ticker", "date", pl.col("target_weight").alias("w"))
    for name, book in books.items():
        table[name] = {}
        for cost in COSTS:
            result = run_backtest(book, closes, BacktestConfig(cost_bps=cost), strategies=["w"])
            for period, (lo, hi) in periods.items():
                table[name][f"{period}_{int(cost)}bps"] = _period_metrics(result, lo, hi)
    chosen = max(
        (n for n in table if n != "buy_and_hold"),
        key=lambda n: table[n]["choose_10bps"]["sharpe"] or float("-inf"),
    )
    elapsed = time.perf_counter() - started
    for period in periods:
        print(f"\n{period} period ({'up to' if period == 'choose' else 'after'} {until}):")
        print("| candidate | Sharpe 10 | CAGR 10 | Sharpe 20 | turnover/y | net exp | max DD |")
        print("|---|---|---|---|---|---|---|")
        for name, row in sorted(
            table.items(), key=lambda kv: -(kv[1]["choose_10bps"]["sharpe"] or -9)
        ):
            a, b = row[f"{period}_10bps"], row[f"{period}_20bps"]
            mark = " (chosen)" if name == chosen else ""

            def f(v: float | None, spec: str) -> str:
                return "-" if v is None else format(v, spec)

            print(
                f"| {name}{mark} | {f(a['sharpe'], '+.2f')} | {f(a['cagr'], '+.1%')} | "
                f"{f(b['sharpe'], '+.2f')} | {f(a['turnover'], '.1f')} | "
                f"{f(a['net_exposure'], '+.2f')} | {f(a['max_drawdown'], '.1%')} |"
            )
    chosen_policy, chosen_portfolio = _candidates()[chosen]
    print(
        json.dumps(
            {
                "benchmark": "portfolio",
                "run_dir": str(args.run_dir),
                "choose_until": str(until),
                "chosen": chosen,
                "chosen_policy": dataclasses.asdict(chosen_policy),
                "chosen_portfolio": dataclasses.asdict(chosen_portfolio),
                "candidates": len(table) - 1,
                "seconds": round(elapsed, 1),
                "table": table,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
