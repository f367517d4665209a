"""`m002 tune` on a walk-forward run: speed of one trial, trials per second by storage, and
what nested tuning earns on the folds that did not choose it.

1. One evaluation: the compiled pass (policy -> portfolio -> backtest) for the run's own
   configuration and one of each sizing, median of ``--repeat`` calls, beside one numpy
   pass over the same columns (the policy's score and size and the backtest's daily sums,
   vectorised over every row: what the pass must read at least once).
2. A whole `tune_run` per storage (memory, journal file, SQLite), ``--trials`` per study:
   trials per second end to end, and the time split between the sampler (Optuna's ask,
   suggest and tell) and the evaluation. With one job and one seed every storage must find
   the same trials.
3. From the in-memory run: the table of the untuned run, the nested-tuned strategy and the
   baselines on the unseen folds at 10 and 20 bps, with the deflated Sharpe ratio and the
   probability of backtest overfitting.

Run it alone: two cores shared with other work halve every figure.

    python benchmarks/bench_tune.py RUN_DIR [--trials 200] [--jobs 1]
        [--storages memory journal sqlite] [--repeat 20] [--work /tmp/m002_bench_tune]
        [--executor local|processes|ray] [--workers N]

With ``--executor processes`` the studies run in worker processes (``--workers``, default
one per core), each with ``--jobs`` evaluation threads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def _one_evaluation(run_dir: Path, repeat: int) -> dict[str, Any]:
    import polars as pl

    from m002.evaluation import read_run_json, run_config_from_dict
    from m002.portfolio import PortfolioConfig
    from m002.tuning import Evaluator, encode

    config = run_config_from_dict(read_run_json(run_dir)["config"])
    pipeline = config.pipeline
    predictions = pl.read_parquet(run_dir / "predictions.parquet")
    started = time.perf_counter()
    evaluator = Evaluator(predictions, pipeline.policy, pipeline.portfolio, config.backtest)
    load = time.perf_counter() - started
    variants = {
        "run's own": pipeline.portfolio,
        "rank, two-sided": PortfolioConfig(long_only=False),
        "top-10 long-only": PortfolioConfig(sizing="topk"),
        "spec sizing": PortfolioConfig(sizing="spec", long_only=False),
    }
    out: dict[str, Any] = {"rows": predictions.height, "dates": evaluator.n_dates,
                           "load_s": round(load, 3)}  # fmt: skip
    for name, portfolio in variants.items():
        params = encode(pipeline.policy, portfolio)
        evaluator.daily(params)  # compiled on the first call (cached on disk after)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            evaluator.daily(params)
            times.append(time.perf_counter() - t0)
        out[name] = round(statistics.median(times) * 1000, 2)
    columns = predictions.select(
        "pred_rebound_prob", "pred_expected_ret_pct", "pred_expected_dd_pct", "atr_smooth",
        "I_vr_and_vs", "I_bd_late", "I_bd_early", "state_prob_Peak", "close",
    ).fill_null(0.0).to_numpy()  # fmt: skip
    dates = predictions["date"].rank("dense").cast(pl.Int64).to_numpy() - 1
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        p, r, d, vol, ovh, late, early, peak, close = columns.T
        score = p * r / 100.0 - 0.05 * np.maximum(-d / 100.0, 0.0)
        score = np.where(score > 0, score * np.where(ovh == 1, 0.8, 1.0) * np.where(late == 1,
                         1.1, 1.0), score)  # fmt: skip
        gate = (early == 1) | (peak >= 0.5)
        size = np.clip(2.0 * score / np.maximum(vol, 1e-9), -1.0, 1.0) * (gate | (score > 0))
        np.bincount(dates, weights=size * close)
        times.append(time.perf_counter() - t0)
    out["numpy pass"] = round(statistics.median(times) * 1000, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--storages", nargs="+", default=["memory", "journal", "sqlite"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/m002_bench_tune"))
    parser.add_argument("--executor", default="local")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()

    from m002.evaluation import ExecutorConfig
    from m002.tuning import TuneConfig, tune_run

    single = _one_evaluation(args.run_dir, args.repeat)
    print(f"[bench_tune] {single['rows']} rows, {single['dates']} dates; grids read in "
          f"{single['load_s']} s")  # fmt: skip
    print("| one evaluation | ms (median) | x numpy pass |\n|---|---|---|")
    for name in ("run's own", "rank, two-sided", "top-10 long-only", "spec sizing", "numpy pass"):
        ratio = single[name] / single["numpy pass"]
        print(f"| {name} | {single[name]} | {ratio:.1f} |")

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    results: dict[str, dict[str, Any]] = {}
    for storage in args.storages:
        run = args.work / f"run_{storage}"
        shutil.copytree(args.run_dir, run, ignore=shutil.ignore_patterns("tuning", "backtest*"))
        url = {
            "memory": None,
            "journal": f"journal:///{args.work / 'study.log'}",
            "sqlite": f"sqlite:///{args.work / 'study.db'}",
        }[storage]
        summary = tune_run(
            run,
            out=args.work / f"tuned_{storage}.toml",
            config=TuneConfig(trials=args.trials, jobs=args.jobs),
            storage=url,
            progress=lambda line, s=storage: print(f"[bench_tune] {s}: {line}", flush=True),
            executor=ExecutorConfig(args.executor, args.workers),
        ).summary
        results[storage] = summary
        timing = summary["timing"]
        print(f"[bench_tune] {storage}: {timing['evaluations']} trials in "
              f"{timing['seconds']:.1f} s", flush=True)  # fmt: skip

    print("\n| storage | trials | seconds | trials/s | sampler s | evaluation s | same choice "
          "as memory |\n|---|---|---|---|---|---|---|")  # fmt: skip
    first = next(iter(results.values()))
    for storage, summary in results.items():
        t = summary["timing"]
        same = summary["chosen"]["changes"] == first["chosen"]["changes"] and [
            b["changes"] for b in summary["blocks"]
        ] == [b["changes"] for b in first["blocks"]]
        print(f"| {storage} | {t['evaluations']} | {t['seconds']:.1f} | "
              f"{t['trials_per_second']:.1f} | {t['sampler_seconds']:.1f} | "
              f"{t['evaluation_seconds']:.1f} | {same} |")  # fmt: skip

    summary = first
    costs = list(summary["comparison"])
    print(f"\nunseen folds (the days after {summary['reported_after']}), net of costs:")
    print("| strategy | " + " | ".join(f"Sharpe {c} | CAGR {c} | turnover/y | net exp."
                                        for c in costs) + " |")  # fmt: skip
    print("|---" * (1 + 4 * len(costs)) + "|")
    for name in summary["comparison"][costs[0]]:
        cells = []
        for cost in costs:
            m = summary["comparison"][cost][name]
            sharpe = "" if m.get("sharpe") is None else f"{m['sharpe']:+.2f}"
            cells += [sharpe, f"{m['cagr']:+.1%}", f"{m['turnover']:.1f}",
                      f"{m['net_exposure']:+.2f}"]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")
    chosen, over = summary["chosen"], summary["overfitting"]
    dsr, pbo = over["dsr"], over["pbo"]
    print(
        f"\nchosen on every fold: trial {chosen['trial']}, Sharpe {chosen['in_sample']:.3f} "
        f"in sample, turnover {chosen['turnover_in_sample']:.1f}/y: {chosen['changes']}"
    )
    print(
        f"deflated Sharpe ratio {dsr['dsr']:.3f} (Sharpe {dsr['sharpe_annual']:.2f} against "
        f"{dsr['expected_max_sharpe_annual']:.2f} expected from {dsr['n_trials']} trials)"
    )
    if pbo is not None:
        print(
            f"probability of backtest overfitting {pbo['pbo']:.3f} "
            f"({pbo['n_combinations']} splits), out-of-sample loss in "
            f"{pbo['prob_oos_loss']:.1%} of them"
        )
    for block in summary["blocks"]:
        print(
            f"fold {block['fold']}: tuned on {block['tuned_on'][0]}-{block['tuned_on'][-1]}, "
            f"in-sample {block['in_sample']:.3f}: {block['changes']}"
        )
    print(json.dumps({"single_ms": single, "timing": {s: r["timing"] for s, r in
                      results.items()}, "dsr": dsr.get("dsr"),
                      "pbo": None if pbo is None else pbo["pbo"]}))  # fmt: skip


if __name__ == "__main__":
    main()
