"""`predict` in daily use and in research use, on synthetic universes larger than the sample.

Measured, each in a fresh process so that its peak RSS is its own:

- daily use: a model trained on the sample (default config, layer 1 fitted for one epoch
  only: predict computes the same things whatever the training length) is loaded, then
  `predict(..., asof="latest")` runs on a synthetic universe of ``--daily-tickers``
  tickers (500) read from parquet files: the load time and the predict time after it,
  in-process, twice (the first call of a process, then the second), in ``--daily-runs``
  fresh processes (5), reported as min / median / max;
- research use: `predict` over every date of ``--research-tickers`` x ``--research-days``
  (403 x 4,800: 1.93M rows), in chunks of at most `PREDICT_CHUNK_ROWS` rows, and once more
  with one chunk for every ticker (how `predict` worked before it chunked): wall time, peak
  RSS, and whether the two outputs are equal.

    python benchmarks/bench_predict.py [--source ../shared/data/sp500_sample]
        [--daily-tickers 500] [--daily-runs 5] [--research-tickers 403]
        [--research-days 4800] [--work DIR]

Peak RSS is each child's VmHWM (its own high-water mark; ``ru_maxrss`` would carry the
parent's over). ``--work DIR`` keeps the trained model and the synthetic data for a rerun.
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


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM): unlike ``ru_maxrss``, which Linux carries over from
    the parent across fork and exec, it starts afresh with the new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def _train(source: Path, model_dir: Path) -> None:
    """The default model, its layer 1 fitted for one epoch only: what `predict` computes,
    and so its time and memory, does not depend on how long the LSTM trained."""
    import dataclasses

    from m002.pipeline import M002Config, M002FullArchitecture

    config = M002Config()
    config = dataclasses.replace(config, regime=dataclasses.replace(config.regime, max_epochs=1))
    M002FullArchitecture(config, verbose=False).train(source).save(model_dir)


def _daily(model_dir: Path, data: Path) -> dict[str, float]:
    from m002.pipeline import M002FullArchitecture

    t0 = time.perf_counter()
    model = M002FullArchitecture.load(model_dir, use_cache=False, verbose=False)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    today = model.predict(data, asof="latest")
    predict_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = model.predict(data, asof="latest")
    second_s = time.perf_counter() - t0
    assert again.equals(today)
    return {
        "load_s": round(load_s, 2),
        "predict_latest_s": round(predict_s, 2),
        "predict_latest_again_s": round(second_s, 2),
        "rows": today.height,
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def _research(model_dir: Path, data: Path, out: Path, chunk: int) -> dict[str, float]:
    from m002.pipeline import M002FullArchitecture, _architecture

    if chunk:
        _architecture.PREDICT_CHUNK_ROWS = chunk  # type: ignore[misc]
    model = M002FullArchitecture.load(model_dir, use_cache=False, verbose=False)
    t0 = time.perf_counter()
    frame = model.predict(data)
    seconds = time.perf_counter() - t0
    frame.write_parquet(out)
    return {
        "chunk_rows": chunk or _architecture.PREDICT_CHUNK_ROWS,
        "seconds": round(seconds, 1),
        "rows": frame.height,
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def _child(*args: str) -> dict[str, float]:
    """Run one measurement in a fresh process; its JSON line."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _spread(runs: list[dict[str, float]]) -> dict[str, object]:
    """The daily runs' figures: each timing as min / median / max over the runs (a first
    call's time moves by a tenth of a second from one process to the next on 2 cores)."""
    out: dict[str, object] = {"runs": len(runs)}
    for key in runs[0]:
        values = sorted(run[key] for run in runs)
        if key.endswith("_s"):
            out[key] = {"min": values[0], "median": values[len(values) // 2], "max": values[-1]}
        else:
            out[key] = values[-1]  # rows, peak RSS: the largest
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--daily-tickers", type=int, default=500)
    parser.add_argument(
        "--daily-runs", type=int, default=5, help="fresh processes timing the daily use"
    )
    parser.add_argument("--research-tickers", type=int, default=403)
    parser.add_argument("--research-days", type=int, default=4800)
    parser.add_argument("--work", type=Path, default=None, help="keep the model and data here")
    parser.add_argument("--child", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "daily":
            print(json.dumps(_daily(Path(rest[0]), Path(rest[1]))))
        else:
            print(json.dumps(_research(Path(rest[0]), Path(rest[1]), Path(rest[2]), int(rest[3]))))
        return
    if not args.source.exists():
        print(json.dumps({"benchmark": "predict", "skipped": f"{args.source} is absent"}))
        return

    import polars as pl

    from m002 import __version__
    from m002.data import write_synthetic

    with tempfile.TemporaryDirectory(prefix="m002_bench_predict_") as tmp:
        root = args.work or Path(tmp)
        model_dir = root / "model"
        t0 = time.perf_counter()
        if not model_dir.exists():
            _train(args.source, model_dir)
        train_s = time.perf_counter() - t0
        daily_data, research_data = root / "daily", root / "research"
        if not daily_data.exists():
            write_synthetic(daily_data, n_tickers=args.daily_tickers, n_days=1500, seed=1)
        if not research_data.exists():
            write_synthetic(
                research_data, n_tickers=args.research_tickers, n_days=args.research_days, seed=2
            )
        daily = _spread(
            [_child("daily", str(model_dir), str(daily_data)) for _ in range(args.daily_runs)]
        )
        chunked = _child("research", str(model_dir), str(research_data), str(root / "a.pq"), "0")
        whole = _child(
            "research",
            str(model_dir),
            str(research_data),
            str(root / "b.pq"),
            str(args.research_tickers * args.research_days),  # every row in one chunk
        )
        same = pl.read_parquet(root / "a.pq").equals(pl.read_parquet(root / "b.pq"))
    summary = {
        "benchmark": "predict",
        "m002_version": __version__,
        "train_s (or read back)": round(train_s, 1),
        "daily": {"tickers": args.daily_tickers, **daily},
        "research": {
            "tickers": args.research_tickers,
            "days": args.research_days,
            "chunked": chunked,
            "one_chunk": whole,
            "identical_output": same,
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
