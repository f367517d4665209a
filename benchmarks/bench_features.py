"""Throughput and peak memory of `load_silver` + `build_dataset(feature_set="m002")`.

Scenarios, each in a fresh subprocess so that its peak RSS is its own:

- ``sample``: the real S&P 500 sample (../shared/data/sp500_sample, ~465k rows), skipped with a
  note where absent;
- ``synthetic``: a synthetic universe (default 2,000 tickers x 2,500 days = 5M rows) written as
  per-ticker parquet files to a temporary folder first (writing is not timed).

Timed per scenario: loading + validation (``load_silver(...).collect()``), features on the
loaded frame (``add_features(...).collect()``), and both together as ``build_dataset`` runs
them. Prints one JSON line.

    python benchmarks/bench_features.py                 # both scenarios
    python benchmarks/bench_features.py --tickers 200   # a smaller synthetic universe
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"


def run_scenario(path: Path, repeats: int) -> dict[str, object]:
    """Load + validate, then m002 features; the best of ``repeats`` runs of each step."""
    import polars as pl

    from m002.data import load_silver
    from m002.features import add_features, feature_names, longest_warmup

    load_times, feature_times = [], []
    frame = out = pl.DataFrame()
    for _ in range(repeats):
        t0 = time.perf_counter()
        frame = load_silver(path, min_rows=longest_warmup("m002") + 1).collect()
        t1 = time.perf_counter()
        out = add_features(frame, "m002", assume_sorted=True).collect()
        t2 = time.perf_counter()
        load_times.append(t1 - t0)
        feature_times.append(t2 - t1)
        del out
    out = add_features(frame, "m002", assume_sorted=True).collect()
    load_s, feat_s = min(load_times), min(feature_times)
    rows = frame.height
    out_bytes = out.estimated_size()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {
        "rows": rows,
        "tickers": frame["ticker"].n_unique(),
        "features": len(feature_names("m002")),
        "load_validate_s": round(load_s, 3),
        "features_s": round(feat_s, 3),
        "total_s": round(load_s + feat_s, 3),
        "rows_per_s_total": round(rows / (load_s + feat_s)),
        "rows_per_s_features": round(rows / feat_s),
        "output_mb": round(out_bytes / 2**20, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_rss_over_output": round(peak / out_bytes, 2),
        "repeats": repeats,
    }


def child(path: Path, repeats: int) -> None:
    print(json.dumps(run_scenario(path, repeats)))


def spawn(path: Path, repeats: int) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", str(path), "--repeats", str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.repeats)
        return

    import platform

    import polars as pl

    from m002 import __version__
    from m002.data import write_synthetic

    result: dict[str, object] = {
        "benchmark": "features",
        "m002": __version__,
        "polars": pl.__version__,
        "python": platform.python_version(),
        "cpus": __import__("os").cpu_count(),
    }
    if SAMPLE.is_dir():
        print(f"sample: {SAMPLE}", file=sys.stderr)
        result["sample"] = spawn(SAMPLE, args.repeats)
    else:
        result["sample"] = {"skipped": f"{SAMPLE} is absent"}
    with tempfile.TemporaryDirectory(prefix="m002_bench_") as tmp:
        print(f"writing {args.tickers} x {args.days} synthetic rows to {tmp}", file=sys.stderr)
        write_synthetic(tmp, n_tickers=args.tickers, n_days=args.days, seed=0)
        result["synthetic"] = spawn(Path(tmp), args.repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
