"""Layer 1 on the real S&P 500 sample: speed, memory and out-of-time quality against baselines.

Steps: load + m002 features + labels, `build_sequences` (its memory next to the size of the
feature matrix), `RegimeClassifier.fit` with the default parameters (``--epochs`` sets
``max_epochs``; time per epoch, windows per second), and on the same later, unseen
validation windows: the LSTM's macro F1 and balanced accuracy next to the majority class and
a logistic regression on each window's last day.
Prints one JSON line.

    python benchmarks/bench_regime.py [--epochs N] [--source ../shared/data/sp500_sample]
        [--sampling balanced_batch|weighted_batch|...] [--hidden-size 32] [--model lstm]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import cast

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"


def rss_mb() -> float:
    """Current resident set size (MiB), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--epochs", type=int, default=None, help="[regime] max_epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampling", default="balanced_batch", help="[regime] sampling")
    parser.add_argument("--hidden-size", type=int, default=32, help="[regime] hidden_size")
    parser.add_argument("--model", default="lstm", help="[regime] model (lstm, transformer)")
    args = parser.parse_args()
    if not args.source.exists():
        print(json.dumps({"benchmark": "regime", "skipped": f"{args.source} is absent"}))
        return

    import numpy as np
    import torch

    from m002 import __version__
    from m002.features import build_dataset
    from m002.labels import REGIME_STATE_ID, assign_regime_labels, label_distribution
    from m002.regime import (
        DEFAULT_SEQUENCE_FEATURES,
        RegimeClassifier,
        build_sequences,
        last_day_logistic_baseline,
        majority_baseline,
        time_split,
    )

    t0 = time.perf_counter()
    frame = assign_regime_labels(build_dataset(args.source, "m002")).collect()
    prepare_s = time.perf_counter() - t0
    shares = label_distribution(frame).select("regime_state", "share")

    max_epochs = {} if args.epochs is None else {"max_epochs": args.epochs}
    model = RegimeClassifier(
        **max_epochs,
        seed=args.seed,
        sampling=args.sampling,
        hidden_size=args.hidden_size,
        model=args.model,
        verbose=False,
    )
    columns = list(DEFAULT_SEQUENCE_FEATURES)
    before = rss_mb()
    t0 = time.perf_counter()
    seqs = build_sequences(frame, columns, label_column=REGIME_STATE_ID)
    build_s = time.perf_counter() - t0
    build_rss = rss_mb() - before
    matrix_mb = seqs.features.nbytes / 2**20

    t0 = time.perf_counter()
    model.fit(frame)
    fit_s = time.perf_counter() - t0
    epochs = len(model.history_)
    train_windows = sum(model.metrics_["sequences_per_class"]["train"].values())

    calendar = seqs.keys["date"].unique().sort()
    positions = np.searchsorted(calendar.to_numpy(), seqs.end_dates().to_numpy())
    train, valid, _ = time_split(
        positions, calendar.len(), valid_fraction=model.valid_fraction,
        gap=cast(int, model.split_["gap_dates"]),
    )  # fmt: skip
    majority = majority_baseline(seqs.subset(train), seqs.subset(valid), model.classes_)
    logistic = last_day_logistic_baseline(seqs.subset(train), seqs.subset(valid), model.classes_)

    t0 = time.perf_counter()
    probs = model.predict_probabilities(frame)
    predict_s = time.perf_counter() - t0

    def pick(m: dict[str, object]) -> dict[str, float]:
        return {k: round(float(m[k]), 4) for k in ("macro_f1", "balanced_accuracy", "accuracy")}  # type: ignore[arg-type]

    result = {
        "benchmark": "regime",
        "m002": __version__,
        "torch": torch.__version__,
        "fit_threads": model.threads,  # torch threads while fitting ([regime] threads)
        "sampling": args.sampling,
        "hidden_size": args.hidden_size,
        "model": args.model,
        "rows": frame.height,
        "tickers": frame["ticker"].n_unique(),
        "label_shares": {r: round(s, 4) for r, s in shares.iter_rows()},
        "prepare_s": round(prepare_s, 2),
        "sequences": {
            "labelled_windows": len(seqs),
            "feature_matrix_mb": round(matrix_mb, 1),
            "build_s": round(build_s, 2),
            "build_rss_growth_mb": round(build_rss, 1),
            "rss_growth_over_matrix": round(build_rss / matrix_mb, 2),
        },
        "fit": {
            "epochs_run": epochs,
            "best_epoch": model.best_epoch_,
            "fit_s": round(fit_s, 1),
            "s_per_epoch": round(fit_s / epochs, 1),
            "train_windows": train_windows,
            "train_windows_per_s": round(train_windows * epochs / fit_s),
            "split": model.split_,
            "history": [{k: round(v, 4) for k, v in h.items()} for h in model.history_],
        },
        "valid_windows": int(valid.sum()),
        "lstm": pick(model.metrics_),
        "majority": pick(majority),
        "last_day_logistic": pick(logistic),
        "predict_all_s": round(predict_s, 2),
        "predicted_rows": int(probs.drop_nulls().height),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
