"""The whole M002 system on the real S&P 500 sample: train, re-run, predict; one JSON line.

Measured: wall time and peak RSS of `train` (cold cache, default config; layer 1's models
fitted by ``--executor``, worker processes by default as in `m002 train`), a second `train`
with only the policy changed (layers 1 and 2 read back from the stage cache), `predict` for
the latest date over all tickers (from a loaded model folder), and the out-of-time head
metrics of the first training: average precision next to the base rate, daily IC and rank IC.

    python benchmarks/bench_pipeline.py [--source ../shared/data/sp500_sample]
        [--executor processes] [--workers 0]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS of this process, or (``RUSAGE_CHILDREN``) of its largest finished child."""
    return resource.getrusage(who).ru_maxrss / 2**10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--executor", choices=["local", "processes", "ray"], default="processes")
    parser.add_argument("--workers", type=int, default=0, help="0: one per core")
    args = parser.parse_args()
    if not args.source.exists():
        print(json.dumps({"benchmark": "pipeline", "skipped": f"{args.source} is absent"}))
        return

    from m002 import __version__
    from m002.evaluation import ExecutorConfig
    from m002.pipeline import M002Config, M002FullArchitecture
    from m002.policy import PolicyConfig

    with tempfile.TemporaryDirectory(prefix="m002_bench_") as tmp:
        cache, model_dir = Path(tmp) / "cache", Path(tmp) / "model"
        t0 = time.perf_counter()
        executor = ExecutorConfig(args.executor, args.workers)
        model = M002FullArchitecture(cache_dir=cache, verbose=False).train(
            args.source, executor=executor
        )
        train_s = time.perf_counter() - t0
        train_peak = peak_rss_mb()
        model.save(model_dir)

        policy_only = M002Config(policy=PolicyConfig(risk_aversion=0.25))
        t0 = time.perf_counter()
        again = M002FullArchitecture(policy_only, cache_dir=cache, verbose=False).train(args.source)
        rerun_s = time.perf_counter() - t0

        loaded = M002FullArchitecture.load(model_dir, use_cache=False, verbose=False)
        t0 = time.perf_counter()
        today = loaded.predict(args.source, asof="latest")
        predict_s = time.perf_counter() - t0

    state = model.trained_state
    held = state["head"]["held_out"]
    result = {
        "benchmark": "pipeline",
        "m002": __version__,
        "rows": state["rows"],
        "tickers": state["tickers"],
        "executor": {"kind": executor.kind, "workers": executor.worker_count()},
        "train_s": round(train_s, 1),
        "train_timings": state["timings"],
        "train_peak_rss_mb": round(train_peak, 1),
        "train_peak_rss_worker_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
        "policy_only_rerun_s": round(rerun_s, 2),
        "rerun_fraction_of_train": round(rerun_s / train_s, 4),
        "rerun_cache": again.trained_state["cache"],
        "predict_latest_s": round(predict_s, 2),
        "predict_latest_rows": today.height,
        "predict_latest_actions": today["action"].value_counts().sort("action").rows(),
        "regime": state["regime"]["validation"],
        "regime_crossfit": state["regime"]["crossfit"],
        "head_split": state["head"]["split"],
        "head_held_out": {
            "n_rows": held["n_rows"],
            "average_precision": round(held["average_precision"], 4),
            "base_rate": round(held["base_rate"], 4),
            "roc_auc": round(held["roc_auc"], 4),
            "mae_ret_pct": round(held["mae_ret_pct"], 3),
            "mae_dd_pct": round(held["mae_dd_pct"], 3),
            "ic": {k: round(v, 4) if isinstance(v, float) else v for k, v in held["ic"].items()},
        },
        "policy_held_out": state["policy"],
        "policy_held_out_rerun": again.trained_state["policy"],
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
