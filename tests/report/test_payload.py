from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from m002.exceptions import ConfigError
from m002.report._payload import (
    available_tickers,
    build_payload,
    script_json,
    select_tickers,
)
from m002.report._rundir import EVENT_FLAGS, STATE_PROB_COLUMNS, read_run_dir
from tests.report.conftest import write_fake_run


@pytest.fixture(scope="module")
def payload(run_dir: Path) -> dict[str, Any]:
    run = read_run_dir(run_dir)
    return build_payload(run, available_tickers(run))


@pytest.fixture(scope="module")
def predictions(run_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "predictions.parquet")


def undo_gaps(date0: str, gaps: list[int]) -> list[dt.date]:
    start = dt.date.fromisoformat(date0)
    return [start + dt.timedelta(days=int(day)) for day in np.cumsum(gaps)]


def test_dates_round_trip_through_the_day_gaps(
    payload: dict[str, Any], predictions: pl.DataFrame
) -> None:
    for ticker, series in payload["explorer"]["series"].items():
        expected = predictions.filter(pl.col("ticker") == ticker)["date"].to_list()
        assert undo_gaps(payload["date0"], series["d"]) == expected


def test_prices_keep_five_significant_digits(
    payload: dict[str, Any], predictions: pl.DataFrame
) -> None:
    for ticker, series in payload["explorer"]["series"].items():
        rows = predictions.filter(pl.col("ticker") == ticker)
        for key, column in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close")):
            np.testing.assert_allclose(series[key], rows[column].to_numpy(), rtol=1e-4)
            assert all(len(f"{v:.10g}".replace(".", "").lstrip("0")) <= 5 for v in series[key])


def test_probabilities_are_thousandths_and_nulls_stay_null(
    payload: dict[str, Any], predictions: pl.DataFrame
) -> None:
    series = payload["explorer"]["series"]["T000"]
    rows = predictions.filter(pl.col("ticker") == "T000")
    for k, column in enumerate(STATE_PROB_COLUMNS):
        values = series["p"][k]
        assert values[:3] == [None, None, None]  # the fixture's warm-up rows
        expected = np.round(rows[column].cast(pl.Float64).to_numpy()[3:] * 1000)
        np.testing.assert_array_equal(np.array(values[3:], dtype=float), expected)
        assert all(isinstance(v, int) for v in values[3:])


def test_action_and_flags_are_one_character_per_day(
    payload: dict[str, Any], predictions: pl.DataFrame
) -> None:
    series = payload["explorer"]["series"]["T001"]
    rows = predictions.filter(pl.col("ticker") == "T001")
    expected = "".join({"LONG": "L", "SHORT": "S", "FLAT": "F"}[a] for a in rows["action"])
    assert series["act"] == expected
    for k, flag in enumerate(EVENT_FLAGS):
        codes = series["flags"][k]
        assert codes == "".join("-" if v is None else str(v) for v in rows[flag].to_list())
    assert series["pos"] == [round(v, 4) for v in rows["position_size"].to_list()]


def test_nulls_and_non_finite_values_become_null(tmp_path: Path) -> None:
    run_path = write_fake_run(tmp_path / "run", n_tickers=1, n_days=10, n_folds=1)
    file = run_path / "predictions.parquet"
    frame = pl.read_parquet(file).with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(float("nan"))
        .otherwise(pl.col("close"))
        .alias("close"),
        pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("action")).alias("action"),
        pl.when(pl.int_range(pl.len()) == 3)
        .then(float("inf"))
        .otherwise(pl.col("position_size"))
        .alias("position_size"),
    )
    frame.write_parquet(file)
    run = read_run_dir(run_path)
    series = build_payload(run, ["T000"])["explorer"]["series"]["T000"]
    assert series["c"][1] is None
    assert series["act"][2] == "-"
    assert series["pos"][3] is None
    json.loads(script_json(build_payload(run, ["T000"])))


def test_backtest_follows_the_metrics_order(payload: dict[str, Any], run_dir: Path) -> None:
    order = json.loads((run_dir / "backtest" / "metrics.json").read_text())["order"]
    assert [s["name"] for s in payload["backtest"]["strategies"]] == order
    daily = pl.read_parquet(run_dir / "backtest" / "daily.parquet")
    first = payload["backtest"]["strategies"][0]
    expected = daily.filter(pl.col("strategy") == first["name"]).sort("date")
    assert undo_gaps(payload["date0"], first["d"]) == expected["date"].to_list()
    np.testing.assert_allclose(first["equity"], expected["equity"].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(first["drawdown"], expected["drawdown"].to_numpy(), atol=1e-5)


def test_confusion_shares_are_row_shares_of_the_counts(payload: dict[str, Any]) -> None:
    confusion = payload["confusion"]
    for counts, shares in zip(confusion["counts"], confusion["shares"], strict=True):
        if sum(counts) == 0:
            assert shares == [None] * len(counts)
        else:
            np.testing.assert_allclose(shares, np.array(counts) / sum(counts))


def test_script_json_cannot_end_the_script_element() -> None:
    text = script_json({"name": "</script><!--", "x": float("nan")})
    assert "<" not in text
    assert json.loads(text) == {"name": "</script><!--", "x": None}


def test_select_tickers(tmp_path: Path) -> None:
    source = tmp_path / "predictions.parquet"
    available = ["A", "B", "C"]
    assert select_tickers(None, available, source=source) == available
    assert select_tickers(["C", "A", "C"], available, source=source) == ["C", "A"]
    assert select_tickers("B", available, source=source) == ["B"]
    with pytest.raises(ConfigError, match=r"\['D'\]; it holds 3: A, B, C"):
        select_tickers(["A", "D"], available, source=source)
