"""The default decisions, chosen on the early test years of walk-forward runs and reported on
the later ones: head target x score x book x trade rate.

No layer is re-trained. Each RUN_DIR is a walk-forward run of the same data and folds that
differ only in what the head learns (`head.target`, read from its ``run.json``); its
out-of-sample predictions go through every candidate score and book, and each book is
backtested at 10 and 20 bps per side. A book runs once over every test date in order; its
days are split by date. The chosen candidate has the best net Sharpe at 10 bps on the dates
up to ``--choose-until`` among those that trade at most ``--max-turnover`` times a year there;
its figures after that date are the honest ones (nobody looked at them to choose). The spec
policy alone and equal-weight buy-and-hold are shown on the same dates and costs, and the
head's rank IC per run and period.

Candidates per run (26): the score is the head's ``pred_expected_ret_pct`` (``ret``), the
spec policy's score (``spec``) or the symmetric policy's at ``risk_aversion`` 0.05 (``sym``);
the book is the rank
book, dollar-neutral (``rank``) or long-only (``rank_long``), or top-10 with dropout 2, two
sided (``top10``) or long-only (``top10_long``); the trade rate 0.1 or 0.25; plus the spec
and symmetric policies' own sizes (``spec_sizing``).

    python benchmarks/bench_portfolio.py RUN_DIR [RUN_DIR ...]
        [--source ../shared/data/sp500_sample] [--choose-until 2013-12-31] [--max-turnover 25]
        [--synthetic SYN_RUN_DIR ... [--min-exposure 0.5]]

``--synthetic``: walk-forward runs on the demo's synthetic universe (`bench_synthetic.py`'s
``seed<n>/run`` folders, their prices in ``seed<n>/data``), made with the same head targets.
A candidate whose book holds on average less than ``--min-exposure`` of gross exposure over
those runs' test dates (of its head target) cannot be chosen: a rule that empties the book
on another universe is not a default.

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
    """name -> (PolicyConfig, PortfolioConfig), for one run's predictions."""
    from m002.policy import PolicyConfig
    from m002.portfolio import PortfolioConfig, Sizing

    spec = PolicyConfig.spec()  # the spec's layer 3, whatever the shipped defaults are
    policies = {
        "spec": spec,
        # at the spec's lambda of 0.5 no name keeps an edge after its adverse move (on the
        # S&P sample's early test years P*R/|D| is below 0.085 on 99% of rows): every
        # symmetric score is 0 and every book empty; 0.05 leaves about a tenth of the names
        "sym": PolicyConfig(score_form="symmetric", risk_aversion=0.05),
    }
    out: dict[str, tuple[Any, Any]] = {
        "spec|spec_sizing": (spec, PortfolioConfig.passthrough()),
        "sym_scoregate|spec_sizing": (
            PolicyConfig(score_form="symmetric", short_gate="score", risk_aversion=0.05),
            PortfolioConfig.passthrough(),
        ),
    }
    books: dict[str, dict[str, Any]] = {
        # every book says which side it takes: the shipped default is long-only
        "rank": {"sizing": Sizing.RANK, "long_only": False},
        "rank_long": {"sizing": Sizing.RANK, "long_only": True},
        "top10": {"sizing": Sizing.TOPK, "topk": 10, "n_drop": 2, "long_only": False},
        "top10_long": {"sizing": Sizing.TOPK, "topk": 10, "n_drop": 2, "long_only": True},
    }
    # the head's expected return does not depend on the policy: scored once
    scores = {
        "ret": (spec, "pred_expected_ret_pct"),
        **{name: (policy, "policy_score") for name, policy in policies.items()},
    }
    for s_name, (policy, column) in scores.items():
        for b_name, book in books.items():
            for rate in (0.1, 0.25):
                config = PortfolioConfig(score_column=column, trade_rate=rate, **book)
                out[f"{s_name}|{b_name}|rate{rate}"] = (policy, config)
    return out


KEYS = ("cagr", "sharpe", "max_drawdown", "turnover", "exposure", "net_exposure")


def _rows(run_dir: Path, atr: pl.DataFrame) -> pl.DataFrame:
    """A run's out-of-sample predictions with ``atr_smooth``, sorted by ticker and date."""
    predictions = pl.read_parquet(run_dir / "predictions.parquet")
    return (
        predictions.drop("atr_smooth", strict=False)
        .join(atr, on=["ticker", "date"], how="left")
        .sort("ticker", "date")
    )


def _head_target(run_dir: Path) -> str:
    from m002.evaluation import read_run_json

    head = read_run_json(run_dir)["config"]["head"]
    return str(head.get("target", "raw"))


def _synthetic(values: list[float] | None) -> str:
    return "-" if not values else f"{sum(values) / len(values):.2f}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _evaluate(
    run_dirs: list[Path], source: Path, periods: dict[str, tuple[date | None, date | None]]
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[Any, Any, str]], dict[str, Any]]:
    """Every candidate of every run, backtested at each cost and measured per period:
    ``(table, configs, rank_ic)`` keyed ``"<head target>|<candidate>"`` (and
    ``"buy_and_hold"``)."""
    from m002._polars import collect
    from m002.evaluation import BacktestConfig, fold_prediction_metrics, run_backtest
    from m002.features import add_features
    from m002.pipeline import read_prices
    from m002.policy import apply_policy
    from m002.portfolio import build_portfolio

    prices = read_prices(source, validate="off")
    # the policy reads atr_smooth, which the run folder does not keep: recomputed (causal)
    atr = collect(
        add_features(prices, "m002", assume_sorted=True).select("ticker", "date", "atr_smooth")
    )
    table: dict[str, dict[str, Any]] = {}
    rank_ic: dict[str, dict[str, float | None]] = {}
    configs: dict[str, tuple[Any, Any, str]] = {}
    for run_dir in run_dirs:
        target = _head_target(run_dir)
        rows = _rows(run_dir, atr)
        closes = rows.select("ticker", "date", "close")
        rank_ic[target] = {
            period: fold_prediction_metrics(_within(rows, lo, hi))["overall"]["rank_ic_mean"]
            for period, (lo, hi) in periods.items()
        }
        books: dict[str, pl.DataFrame] = {}
        if not table:
            books["buy_and_hold"] = rows.select("ticker", "date", pl.lit(1.0).alias("w"))
        for name, (policy, portfolio) in _candidates().items():
            weights = build_portfolio(apply_policy(rows, policy), portfolio)
            key = f"{target}|{name}"
            books[key] = weights.select("ticker", "date", pl.col("target_weight").alias("w"))
            configs[key] = (policy, portfolio, target)
        for name, book in books.items():
            table[name] = {}
            for cost in COSTS:
                result = run_backtest(book, closes, BacktestConfig(cost_bps=cost), strategies=["w"])
                for period, (lo, hi) in periods.items():
                    m = result.metrics(after=lo, until=hi)["w"]
                    table[name][f"{period}_{int(cost)}bps"] = {k: m.get(k) for k in KEYS}
        print(f"[bench_portfolio] {run_dir} ({target}): {len(books)} books", flush=True)
    return table, configs, rank_ic


def _within(rows: pl.DataFrame, lo: date | None, hi: date | None) -> pl.DataFrame:
    if lo is not None:
        rows = rows.filter(pl.col("date") > lo)
    return rows if hi is None else rows.filter(pl.col("date") <= hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--choose-until", default="2013-12-31")
    parser.add_argument("--max-turnover", type=float, default=25.0)
    parser.add_argument("--synthetic", type=Path, nargs="*", default=None)
    parser.add_argument("--min-exposure", type=float, default=0.5)
    args = parser.parse_args()

    until = date.fromisoformat(args.choose_until)
    started = time.perf_counter()
    periods = {"choose": (None, until), "report": (until, None)}
    table, configs, rank_ic = _evaluate(args.run_dirs, args.source, periods)
    exposure: dict[str, list[float]] = {}
    for run_dir in args.synthetic or []:
        seen, _, _ = _evaluate([run_dir], run_dir.parent / "data", {"all": (None, None)})
        for name, row in seen.items():
            exposure.setdefault(name, []).append(row["all_10bps"]["exposure"] or 0.0)

    def sharpe(name: str, period: str = "choose") -> float:
        return table[name][f"{period}_10bps"]["sharpe"] or float("-inf")

    def holds_a_book(name: str) -> bool:
        # no synthetic run of this candidate's head target: nothing to check it on
        values = exposure.get(name)
        return not values or sum(values) / len(values) >= args.min_exposure

    allowed = [
        n
        for n in configs
        if (table[n]["choose_10bps"]["turnover"] or 0.0) <= args.max_turnover and holds_a_book(n)
    ]
    chosen = max(allowed, key=sharpe)
    elapsed = time.perf_counter() - started
    print("\nhead's rank IC of pred_expected_ret_pct (mean over dates):")
    print("| head target | up to " + str(until) + " | after |\n|---|---|---|")
    for target, ic in rank_ic.items():
        print(f"| {target} | {_fmt(ic['choose'], '+.4f')} | {_fmt(ic['report'], '+.4f')} |")
    order = sorted(table, key=lambda n: -sharpe(n))
    for period in periods:
        print(f"\n{period} period ({'up to' if period == 'choose' else 'after'} {until}):")
        print(
            "| candidate | Sharpe 10 | CAGR 10 | Sharpe 20 | turnover/y | net exp | max DD "
            "| synthetic gross |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name in order:
            a, b = table[name][f"{period}_10bps"], table[name][f"{period}_20bps"]
            mark = " (chosen)" if name == chosen else ""
            print(
                f"| {name}{mark} | {_fmt(a['sharpe'], '+.2f')} | {_fmt(a['cagr'], '+.1%')} | "
                f"{_fmt(b['sharpe'], '+.2f')} | {_fmt(a['turnover'], '.1f')} | "
                f"{_fmt(a['net_exposure'], '+.2f')} | {_fmt(a['max_drawdown'], '.1%')} | "
                f"{_synthetic(exposure.get(name))} |"
            )
    chosen_policy, chosen_portfolio, chosen_target = configs[chosen]
    print(
        json.dumps(
            {
                "benchmark": "portfolio",
                "run_dirs": [str(d) for d in args.run_dirs],
                "choose_until": str(until),
                "max_turnover": args.max_turnover,
                "chosen": chosen,
                "chosen_head_target": chosen_target,
                "chosen_policy": dataclasses.asdict(chosen_policy),
                "chosen_portfolio": dataclasses.asdict(chosen_portfolio),
                "candidates": len(configs),
                "allowed": len(allowed),
                "synthetic_exposure": {
                    name: sum(values) / len(values) for name, values in exposure.items()
                },
                "rank_ic": rank_ic,
                "seconds": round(elapsed, 1),
                "table": table,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
