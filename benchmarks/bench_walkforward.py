"""Purged walk-forward of the whole M002 system on the real S&P 500 sample.

Yearly re-training, test years 2008 to 2021 (the sample ends 2021-04-21), expanding window,
default config (10 bps per side). Measured: wall time of the walk-forward (cold cache unless
``--cache-dir`` points at a warm one), peak RSS, the layer-1 models fitted and read back from
the stage cache, the time of a backtest re-run at another cost (the cost-sensitivity path: no
re-training), and the strategy / baseline / ablation table. ``--compare RUN_DIR`` prints the
out-of-sample prediction metrics and the strategy's Sharpe next to an earlier run's (same
test years), and per metric the mean difference fold by fold with its standard error over
folds, for the years up to ``--split`` and after it: what a rule for a default (decide on
the early folds, report the later ones) reads; ``--warm-start-epochs N`` runs with
layer 1's warm start, ``--max-windows-per-epoch N`` with its epochs capped at N windows,
``--sampling NAME`` with another of its samplers (``weighted_batch``), ``--hidden-size N``
with another width of its network, ``--lr X``, ``--lr-schedule NAME`` and ``--max-epochs N``
with another learning rate, schedule of it (``cosine``) or number of epochs.
Each table is printed for every test year, and for the years up to ``--split`` and after it
(the default configuration was chosen on the first, `benchmarks/bench_portfolio.py`); then one
JSON line. The run directory is kept for `m002 report`.

    python benchmarks/bench_walkforward.py [--source ../shared/data/sp500_sample]
        [--out /tmp/m002_walkforward_run] [--cache-dir DIR] [--split 2013-12-31]
        [--compare RUN_DIR] [--warm-start-epochs N] [--max-windows-per-epoch N] [--sampling NAME]
        [--hidden-size N] [--lr X] [--lr-schedule constant|cosine] [--max-epochs N]
        [--executor local|processes|ray]
        [--workers N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from bench_head_ic import block_mean_se

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"
COLUMNS = ("cagr", "ann_vol", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate",
           "avg_holding_days", "turnover", "exposure", "net_exposure")  # fmt: skip


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def _table(metrics: dict[str, dict[str, float | None]]) -> str:
    lines = ["| strategy | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in metrics.items():
        cells = [f"{row[c]:.3f}" if row.get(c) is not None else "-" for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--out", type=Path, default=Path("/tmp/m002_walkforward_run"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--first-test-date", default="2008-01-01")
    parser.add_argument("--split", default="2013-12-31")
    parser.add_argument("--compare", type=Path, default=None)
    parser.add_argument("--warm-start-epochs", type=int, default=None)
    parser.add_argument("--max-windows-per-epoch", type=int, default=None)
    parser.add_argument("--sampling", default=None, help="layer 1's [regime] sampling")
    parser.add_argument("--hidden-size", type=int, default=None, help="[regime] hidden_size")
    parser.add_argument("--lr", type=float, default=None, help="[regime] lr")
    parser.add_argument("--lr-schedule", default=None, help="[regime] lr_schedule")
    parser.add_argument("--max-epochs", type=int, default=None, help="[regime] max_epochs")
    parser.add_argument("--executor", default="local")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    if not args.source.exists():
        print(json.dumps({"benchmark": "walkforward", "skipped": f"{args.source} is absent"}))
        return

    from m002 import __version__
    from m002.evaluation import (
        BacktestConfig,
        ExecutorConfig,
        RunConfig,
        WalkForwardConfig,
        backtest_run,
        run_walkforward,
    )

    config = RunConfig(
        walkforward=WalkForwardConfig(retrain_every="1y", first_test_date=args.first_test_date)
    )
    if args.warm_start_epochs is not None:
        pipeline = config.pipeline
        crossfit = dataclasses.replace(pipeline.crossfit, warm_start_epochs=args.warm_start_epochs)
        config = dataclasses.replace(
            config, pipeline=dataclasses.replace(pipeline, crossfit=crossfit)
        )
    regime_changes = {
        key: value
        for key, value in (
            ("max_windows_per_epoch", args.max_windows_per_epoch),
            ("sampling", args.sampling),
            ("hidden_size", args.hidden_size),
            ("lr", args.lr),
            ("lr_schedule", args.lr_schedule),
            ("max_epochs", args.max_epochs),
        )
        if value is not None
    }
    if regime_changes:
        pipeline = config.pipeline
        regime = dataclasses.replace(pipeline.regime, **regime_changes)
        config = dataclasses.replace(config, pipeline=dataclasses.replace(pipeline, regime=regime))
    with tempfile.TemporaryDirectory(prefix="m002_bench_wf_") as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        t0 = time.perf_counter()
        run = run_walkforward(
            args.source,
            args.out,
            config,
            cache_dir=cache,
            verbose=True,
            executor=ExecutorConfig(args.executor, args.workers),
        )
        walkforward_s = time.perf_counter() - t0
        peak = peak_rss_mb()
        t0 = time.perf_counter()
        at_20, _ = backtest_run(
            args.out, BacktestConfig(cost_bps=20.0), out_dir=Path(tmp) / "backtest_20bps"
        )
        rerun_s = time.perf_counter() - t0
        at_10, _ = backtest_run(args.out, out_dir=Path(tmp) / "backtest_10bps")
        before = None
        if args.compare is not None:
            compared = Path(tmp) / "compare_10bps"
            before = _compare(args.compare, run, at_10, compared, date.fromisoformat(args.split))

    split = date.fromisoformat(args.split)
    periods = {"": {}, f" up to {split}": {"until": split}, f" after {split}": {"after": split}}
    tables: dict[str, dict[str, Any]] = {}
    for label, bounds in periods.items():
        for cost, result in ((10, at_10), (20, at_20)):
            metrics = result.metrics(**bounds)
            tables[f"{cost}bps{label.replace(' ', '_')}"] = metrics
            print(f"\nout of sample{label}, {cost} bps per side:\n" + _table(metrics))
    folds = run["evaluation"]["folds"]
    print(
        "\n| fold | test | AP | base rate | rank IC | ICIR | regime F1 labelled | all rows |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    keys = (
        "ap",
        "base_rate",
        "rank_ic_mean",
        "rank_ic_ir",
        "regime_macro_f1",
        "regime_all_rows_macro_f1",
    )
    for f in folds:
        cells = [f.get(k) for k in keys]
        text = " | ".join(f"{c:.3f}" if c is not None else "-" for c in cells)
        print(f"| {f['fold']} | {f['test_start']} to {f['test_end']} | {text} |")
    summary = {
        "benchmark": "walkforward",
        "m002_version": __version__,
        "folds": len(run["folds"]),
        "test_range": [run["folds"][0]["test_start"], run["folds"][-1]["test_end"]],
        "walkforward_s": round(walkforward_s, 1),
        "fold_train_s": [f["timings"]["train_s"] for f in run["folds"]],
        "lstm_fits": sum(f["train"]["cache"].get("regime_models_fitted", 0) for f in run["folds"]),
        "lstm_models_read_back": sum(
            f["train"]["cache"].get("regime_models_read_back", 0) for f in run["folds"]
        ),
        "crossfit": dataclasses.asdict(config.pipeline.crossfit),
        "executor": run.get("executor"),
        "layer1_models": run.get("layer1_models"),
        "fold_stages_s": [f["timings"].get("stages_s") for f in run["folds"]],
        "compared_with": before,
        "peak_rss_mb": round(peak, 1),
        "backtest_rerun_s": round(rerun_s, 2),
        "overall_predictions": run["evaluation"]["overall"],
        "strategies": tables,
        "run_dir": str(args.out),
    }
    print(json.dumps(summary))


_COMPARED = ("ap", "base_rate", "rank_ic_mean", "rank_ic_ir", "regime_macro_f1",
             "regime_all_rows_macro_f1")  # fmt: skip


def _compare(
    earlier: Path, run: dict[str, Any], at_10: Any, out: Path, split: date
) -> dict[str, Any]:
    """Print this run's out-of-sample metrics beside ``earlier``'s, overall and fold by fold
    (`paired_folds`); return the earlier ones and the paired differences."""
    from m002.evaluation import backtest_run

    evaluation = json.loads((earlier / "evaluation.json").read_text())
    result, _ = backtest_run(earlier, out_dir=out)
    rows = {
        "earlier": {**evaluation["overall"], "sharpe_10bps": result.metrics()["m002"]["sharpe"]},
        "this run": {
            **run["evaluation"]["overall"],
            "sharpe_10bps": at_10.metrics()["m002"]["sharpe"],
        },
    }
    keys = (*_COMPARED, "sharpe_10bps")
    print(
        f"\nagainst {earlier}:\n| run | "
        + " | ".join(keys)
        + " |\n"
        + "|---" * (len(keys) + 1)
        + "|"
    )
    for name, row in rows.items():
        cells = " | ".join(f"{row[k]:.4f}" if row.get(k) is not None else "-" for k in keys)
        print(f"| {name} | {cells} |")
    paired = paired_folds(evaluation["folds"], run["evaluation"]["folds"], split)
    return {**{k: rows["earlier"].get(k) for k in keys}, "paired_folds": paired}


_PAIRED = ("regime_macro_f1", "regime_all_rows_macro_f1", "regime_all_rows_log_loss", "ap",
           "rank_ic_mean", "rank_ic_next_mean")  # fmt: skip


def paired_folds(
    earlier: list[dict[str, Any]], folds: list[dict[str, Any]], split: date
) -> dict[str, dict[str, dict[str, float]]]:
    """Per metric and period (test years up to ``split``, after it): the mean over folds of
    this run's value minus the earlier run's on the same fold, its standard error over
    folds, and how many folds got better (lower, for a log loss); printed as a table. The
    earlier run must have the same folds."""
    if [f["test_start"] for f in earlier] != [f["test_start"] for f in folds]:
        msg = "--compare needs a run with the same test folds"
        raise SystemExit(msg)
    periods = {f"up to {split}": True, f"after {split}": False}
    out: dict[str, dict[str, dict[str, float]]] = {}
    print("\n| metric | test years | earlier | this run | this - earlier (+- SE) | better |")
    print("|---|---|---|---|---|---|")
    for key in _PAIRED:
        for period, early in periods.items():
            pairs = [
                (a[key], b[key])
                for a, b in zip(earlier, folds, strict=True)
                if (date.fromisoformat(b["test_end"]) <= split) == early
                and a.get(key) is not None
                and b.get(key) is not None
            ]
            if not pairs:
                continue
            diffs = [b - a for a, b in pairs]
            n = len(diffs)
            mean, se = block_mean_se(np.array(diffs), block=1)  # folds are the blocks
            better = sum((d < 0) if key.endswith("log_loss") else (d > 0) for d in diffs)
            row = {
                "earlier": sum(a for a, _ in pairs) / n,
                "this_run": sum(b for _, b in pairs) / n,
                "difference": mean,
                "standard_error": se,
                "better_folds": better,
                "folds": n,
            }
            out.setdefault(key, {})[period] = row
            print(
                f"| {key} | {period} | {row['earlier']:.4f} | {row['this_run']:.4f} | "
                f"{mean:+.4f} +- {se:.4f} | {better}/{n} |"
            )
    return out


if __name__ == "__main__":
    main()
