"""Synthetic recovery: how much of the regime structure planted in the demo's universe the
default system turns into P&L out of sample, beside an oracle that trades the true regimes.

For each seed: the demo's synthetic universe (`m002.data.write_synthetic`, the generator's
regime parameters unchanged; 50 tickers x 1500 days as `m002 demo`), then the walk-forward
with the default configuration and two-year test blocks, as `m002 demo` runs it. Prints, per
strategy, the net Sharpe at 10 bps per side for each seed and their mean, with turnover and
net exposure, then one JSON line. Every run folder is kept under ``--out`` for `m002 report`.

    python benchmarks/bench_synthetic.py [--seeds 0 1 2] [--tickers 50] [--days 1500]
        [--config FILE.toml] [--out /tmp/m002_synthetic]

``--config``: a run config (as `m002 walkforward --config`) instead of the defaults; its
``[walkforward] retrain_every`` is kept if given, else two-year blocks as the demo. A strategy
with no Sharpe ratio (a book that never held anything) shows "-" and is left out of the mean.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

ROWS = ("m002", "m002_spec", "m002_rank", "m002_topk", "m002_rank_long_only",
        "m002_no_state_probs", "regime_rule", "reversal_5d", "buy_and_hold",
        "oracle_regime", "oracle_regime_long_only")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tickers", type=int, default=50)
    parser.add_argument("--days", type=int, default=1500)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/m002_synthetic"))
    args = parser.parse_args()

    import dataclasses
    import tomllib

    from m002.data import write_synthetic
    from m002.evaluation import RunConfig, WalkForwardConfig, run_config_from_dict, run_walkforward

    config = RunConfig(walkforward=WalkForwardConfig(retrain_every="2y"))
    if args.config is not None:
        data = tomllib.loads(args.config.read_text())
        config = run_config_from_dict(data)
        if "retrain_every" not in data.get("walkforward", {}):
            two_years = dataclasses.replace(config.walkforward, retrain_every="2y")
            config = dataclasses.replace(config, walkforward=two_years)
    runs: dict[int, dict[str, Any]] = {}
    seconds: dict[int, float] = {}
    for seed in args.seeds:
        folder = args.out / f"seed{seed}"
        data = folder / "data"
        write_synthetic(data, n_tickers=args.tickers, n_days=args.days, seed=seed)
        t0 = time.perf_counter()
        runs[seed] = run_walkforward(data, folder / "run", config, cache_dir=folder / "cache")
        seconds[seed] = round(time.perf_counter() - t0, 1)
        print(f"[bench_synthetic] seed {seed}: {seconds[seed]} s", flush=True)

    header = " | ".join(f"seed {s}" for s in args.seeds)
    print(f"\nnet Sharpe at 10 bps per side, out of sample:\n| strategy | {header} | mean | "
          "turnover/y (mean) | net exposure (mean) |")  # fmt: skip
    print("|---" * (len(args.seeds) + 4) + "|")
    table: dict[str, dict[str, Any]] = {}
    for name in ROWS:
        rows = [runs[s]["backtest"]["strategies"].get(name) for s in args.seeds]
        if any(row is None for row in rows):
            continue
        sharpes = [row["sharpe"] for row in rows]
        defined = [x for x in sharpes if x is not None]
        table[name] = {
            "sharpe": sharpes,
            "mean_sharpe": statistics.fmean(defined) if defined else None,
            "turnover": statistics.fmean(row["turnover"] for row in rows),
            "net_exposure": statistics.fmean(row["net_exposure"] for row in rows),
        }
        cells = " | ".join("-" if x is None else f"{x:+.2f}" for x in sharpes)
        t = table[name]
        mean = "-" if t["mean_sharpe"] is None else f"{t['mean_sharpe']:+.2f}"
        print(f"| {name} | {cells} | {mean} | {t['turnover']:.1f} | "
              f"{t['net_exposure']:+.2f} |")  # fmt: skip
    first = runs[args.seeds[0]]["folds"]
    print(
        json.dumps(
            {
                "benchmark": "synthetic",
                "seeds": args.seeds,
                "tickers": args.tickers,
                "days": args.days,
                "test_range": [first[0]["test_start"], first[-1]["test_end"]],
                "seconds": seconds,
                "table": table,
                "out": str(args.out),
            }
        )
    )


if __name__ == "__main__":
    main()
