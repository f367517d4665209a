"""Throughput and peak memory of `load_silver` + `build_dataset(feature_set=...)`, for the m002
set and Qlib's Alpha158 (``--sets``; default both).

Scenarios, each in a fresh subprocess so that its peak RSS is its own:

- ``sample``: the real S&P 500 sample (../shared/data/sp500_sample, ~465k rows), skipped with a
  note where absent;
- ``synthetic``: a synthetic universe (default 2,000 tickers x 2,500 days = 5M rows) written as
  per-ticker parquet files to a temporary folder first (writing is not timed).

Timed per scenario and set (best of ``--repeats``): loading + validation
(``load_silver(...).collect()``) and the set's features on the loaded frame (``add_features``
computes them, with polars' in-memory engine, in slices of whole tickers). Memory: a fresh
process runs one ``build_dataset(path, set)`` and collects it; its peak RSS (VmHWM) is set
against the size of the output frame, with the interpreter's RSS after the imports beside it.
Prints one JSON line: per scenario the m002 figures as before, and those of every other set
under its name.

    python benchmarks/bench_features.py                     # both scenarios, both sets
    python benchmarks/bench_features.py --tickers 200       # a smaller synthetic universe
    python benchmarks/bench_features.py --sets alpha158     # Alpha158 only
    POLARS_MAX_THREADS=2 taskset -c 0,1 python benchmarks/bench_features.py   # on 2 cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status in MiB: VmRSS (now) or VmHWM (peak of this process;
    unlike ru_maxrss it does not carry over the parent's peak through fork + exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    msg = f"{field} not in /proc/self/status"
    raise RuntimeError(msg)


def time_scenario(path: Path, repeats: int, set_name: str = "m002") -> dict[str, object]:
    """Best of ``repeats``: load + validate, then the set's features with each polars engine."""
    import polars as pl

    from m002.data import load_silver
    from m002.features import add_features, feature_names, longest_warmup

    best: dict[str, float] = {"load": float("inf"), "features": float("inf")}
    frame = pl.DataFrame()
    for _ in range(repeats):
        t0 = time.perf_counter()
        frame = load_silver(path, min_rows=longest_warmup(set_name) + 1).collect()
        best["load"] = min(best["load"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = add_features(frame, set_name, assume_sorted=True).collect()
        best["features"] = min(best["features"], time.perf_counter() - t0)
        del out
    rows = frame.height
    total = best["load"] + best["features"]
    return {
        "rows": rows,
        "tickers": frame["ticker"].n_unique(),
        "set": set_name,
        "features": len(feature_names(set_name)),
        "load_validate_s": round(best["load"], 3),
        "features_s": round(best["features"], 3),
        "total_s": round(total, 3),
        "rows_per_s_total": round(rows / total),
        "rows_per_s_features": round(rows / best["features"]),
        "repeats": repeats,
    }


def peak_scenario(path: Path, set_name: str = "m002") -> dict[str, object]:
    """One `build_dataset(path, set_name)` collected, in this fresh process: its peak RSS."""
    from m002.features import build_dataset

    after_imports = _status_mb("VmRSS")
    out = build_dataset(path, set_name).collect()
    peak = _status_mb("VmHWM")
    out_mb = out.estimated_size() / 2**20
    return {
        "output_mb": round(out_mb, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_after_imports_mb": round(after_imports, 1),
        "peak_rss_over_output": round(peak / out_mb, 2),
    }


def spawn(path: Path, mode: str, arg: str, set_name: str = "m002") -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", mode, arg, str(path), set_name]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure_set(path: Path, repeats: int, set_name: str) -> dict[str, object]:
    return {
        **spawn(path, "time", str(repeats), set_name),
        "memory": spawn(path, "peak", "-", set_name),
    }


def measure(path: Path, repeats: int, sets: list[str]) -> dict[str, object]:
    """The m002 figures at the top level (as before ``--sets``), every other set under its
    name."""
    out: dict[str, object] = {}
    for set_name in sets:
        print(f"  {set_name}", file=sys.stderr)
        figures = measure_set(path, repeats, set_name)
        if set_name == "m002":
            out.update(figures)
        else:
            out[set_name] = figures
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sets", nargs="+", default=["m002", "alpha158"])
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        mode, arg, path, set_name = args.child
        if mode == "time":
            print(json.dumps(time_scenario(Path(path), int(arg), set_name)))
        else:
            print(json.dumps(peak_scenario(Path(path), set_name)))
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
        "cpus_usable": len(__import__("os").sched_getaffinity(0)),
        "polars_threads": pl.thread_pool_size(),
        "load_average_1min": __import__("os").getloadavg()[0],
    }
    if SAMPLE.is_dir():
        print(f"sample: {SAMPLE}", file=sys.stderr)
        result["sample"] = measure(SAMPLE, args.repeats, args.sets)
    else:
        result["sample"] = {"skipped": f"{SAMPLE} is absent"}
    with tempfile.TemporaryDirectory(prefix="m002_bench_") as tmp:
        print(f"writing {args.tickers} x {args.days} synthetic rows to {tmp}", file=sys.stderr)
        write_synthetic(tmp, n_tickers=args.tickers, n_days=args.days, seed=0)
        result["synthetic"] = measure(Path(tmp), args.repeats, args.sets)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
