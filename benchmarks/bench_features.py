"""Throughput and peak memory of `load_silver` + `build_dataset(feature_set="m002")`.

Scenarios, each in a fresh subprocess so that its peak RSS is its own:

- ``sample``: the real S&P 500 sample (../shared/data/sp500_sample, ~465k rows), skipped with a
  note where absent;
- ``synthetic``: a synthetic universe (default 2,000 tickers x 2,500 days = 5M rows) written as
  per-ticker parquet files to a temporary folder first (writing is not timed).

Timed per scenario (best of ``--repeats``): loading + validation (``load_silver(...).collect()``)
and the m002 features on the loaded frame, collected with ``engine="in-memory"`` (what m002
itself uses) and with polars' default engine. Memory: a fresh process runs one
``build_dataset(path, "m002")`` and collects it; its peak RSS (VmHWM) is set against the size
of the output frame, with the interpreter's RSS after the imports beside it. Prints one JSON
line.

    python benchmarks/bench_features.py                 # both scenarios
    python benchmarks/bench_features.py --tickers 200   # a smaller synthetic universe
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


def time_scenario(path: Path, repeats: int) -> dict[str, object]:
    """Best of ``repeats``: load + validate, then the m002 features with each polars engine."""
    import polars as pl

    from m002.data import load_silver
    from m002.features import add_features, feature_names, longest_warmup

    best: dict[str, float] = {"load": float("inf"), "in-memory": float("inf"), "auto": float("inf")}
    frame = pl.DataFrame()
    for _ in range(repeats):
        t0 = time.perf_counter()
        frame = load_silver(path, min_rows=longest_warmup("m002") + 1).collect()
        best["load"] = min(best["load"], time.perf_counter() - t0)
        for engine in ("in-memory", "auto"):
            t0 = time.perf_counter()
            out = add_features(frame, "m002", assume_sorted=True).collect(engine=engine)
            best[engine] = min(best[engine], time.perf_counter() - t0)
            del out
    rows = frame.height
    total = best["load"] + best["in-memory"]
    return {
        "rows": rows,
        "tickers": frame["ticker"].n_unique(),
        "features": len(feature_names("m002")),
        "load_validate_s": round(best["load"], 3),
        "features_s": round(best["in-memory"], 3),
        "features_default_engine_s": round(best["auto"], 3),
        "total_s": round(total, 3),
        "rows_per_s_total": round(rows / total),
        "rows_per_s_features": round(rows / best["in-memory"]),
        "rows_per_s_total_default_engine": round(rows / (best["load"] + best["auto"])),
        "repeats": repeats,
    }


def peak_scenario(path: Path, engine: str) -> dict[str, object]:
    """One `build_dataset(path, "m002")` collected, in this fresh process: its peak RSS."""
    from m002.features import build_dataset

    after_imports = _status_mb("VmRSS")
    out = build_dataset(path, "m002").collect(engine=engine)  # type: ignore[call-overload]
    peak = _status_mb("VmHWM")
    out_mb = out.estimated_size() / 2**20
    return {
        "engine": engine,
        "output_mb": round(out_mb, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_after_imports_mb": round(after_imports, 1),
        "peak_rss_over_output": round(peak / out_mb, 2),
    }


def spawn(path: Path, mode: str, arg: str) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", mode, arg, str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(path: Path, repeats: int) -> dict[str, object]:
    return {
        **spawn(path, "time", str(repeats)),
        "memory": spawn(path, "peak", "in-memory"),
        "memory_default_engine": spawn(path, "peak", "auto"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        mode, arg, path = args.child
        if mode == "time":
            print(json.dumps(time_scenario(Path(path), int(arg))))
        else:
            print(json.dumps(peak_scenario(Path(path), arg)))
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
        result["sample"] = measure(SAMPLE, args.repeats)
    else:
        result["sample"] = {"skipped": f"{SAMPLE} is absent"}
    with tempfile.TemporaryDirectory(prefix="m002_bench_") as tmp:
        print(f"writing {args.tickers} x {args.days} synthetic rows to {tmp}", file=sys.stderr)
        write_synthetic(tmp, n_tickers=args.tickers, n_days=args.days, seed=0)
        result["synthetic"] = measure(Path(tmp), args.repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
