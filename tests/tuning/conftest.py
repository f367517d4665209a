"""A small walk-forward run folder for the tuner: random predictions with the policy's inputs,
prices, folds, and missing rows (a ticker that starts late, one with a gap)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from m002.evaluation import RunConfig

N_TICKERS = 9
N_FOLDS = 5
FOLD_DATES = 40


def fake_predictions(seed: int = 0) -> pl.DataFrame:
    """Rows of ``N_FOLDS`` consecutive test blocks of ``FOLD_DATES`` business days each."""
    rng = np.random.default_rng(seed)
    dates = pl.date_range(dt.date(2020, 1, 1), dt.date(2021, 12, 31), "1d", eager=True)
    dates = dates.filter(dates.dt.weekday() <= 5)[: N_FOLDS * FOLD_DATES]
    frames = []
    for t in range(N_TICKERS):
        n = dates.len()
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
        frame = pl.DataFrame(
            {
                "ticker": [f"T{t}"] * n,
                "date": dates,
                "open": close * np.exp(rng.normal(0, 0.005, n)),
                "close": close,
                "pred_rebound_prob": rng.uniform(0.1, 0.7, n),
                "pred_expected_ret_pct": rng.normal(0.1, 1.5, n),
                "pred_expected_dd_pct": -np.abs(rng.normal(2.0, 1.0, n)),
                "atr_smooth": rng.uniform(0.01, 0.04, n),
                "I_vr_and_vs": rng.binomial(1, 0.1, n),
                "I_bd_late": rng.binomial(1, 0.1, n),
                "I_bd_early": rng.binomial(1, 0.15, n),
                "state_prob_Peak": rng.uniform(0, 1, n),
                "fold": np.repeat(np.arange(N_FOLDS), FOLD_DATES).astype(np.int32),
            }
        )
        frames.append(frame)
    rows = pl.concat(frames)
    # missing values as the walk-forward leaves them: predictions and a Peak probability
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 5)
        .then(None)
        .otherwise(pl.col("pred_expected_ret_pct"))
        .alias("pred_expected_ret_pct"),
        pl.when(pl.int_range(pl.len()) % 53 == 7)
        .then(None)
        .otherwise(pl.col("state_prob_Peak"))
        .alias("state_prob_Peak"),
    )
    late_start = (pl.col("ticker") == "T3") & (pl.col("date") < dates[30])
    gap = (pl.col("ticker") == "T5") & pl.col("date").is_between(dates[70], dates[75])
    return rows.filter(~late_start & ~gap)


def write_fake_run(folder: Path, seed: int = 0) -> Path:
    """``run.json``, ``predictions.parquet`` and ``signals.parquet`` of a fake run."""
    folder.mkdir(parents=True, exist_ok=True)
    predictions = fake_predictions(seed)
    predictions.write_parquet(folder / "predictions.parquet")
    predictions.select(
        "ticker",
        "date",
        "fold",
        pl.lit(1.0).alias("buy_and_hold"),
        (pl.col("pred_expected_ret_pct") > 0).cast(pl.Float64).alias("m002_spec"),
    ).write_parquet(folder / "signals.parquet")
    run = {"config": RunConfig().to_dict(), "strategies": {"buy_and_hold": "", "m002_spec": ""}}
    (folder / "run.json").write_text(json.dumps(run, default=str))
    return folder


@pytest.fixture
def fake_run(tmp_path: Path) -> Path:
    return write_fake_run(tmp_path / "run")


@pytest.fixture(scope="module")
def predictions() -> pl.DataFrame:
    return fake_predictions()
