"""Model folders are verified before use, predictions key on the weights, and one-day
decisions never silently miss a ticker or a day (the reliability rules of DESIGN.md)."""

from __future__ import annotations

import json
import re
import warnings
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import torch
from click.testing import CliRunner

from m002.cli import main
from m002.data import generate_synthetic
from m002.exceptions import DamagedFileError, DecisionWarning, OutputExistsError, SchemaError
from m002.pipeline import (
    HeadParams,
    M002Config,
    M002FullArchitecture,
    RegimeParams,
)

SMALL = M002Config(
    regime=RegimeParams(max_epochs=2, hidden_size=8), head=HeadParams(n_estimators=30)
)
BOOSTER = "head/head_rebound.txt"


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return generate_synthetic(n_tickers=8, n_days=800, seed=11).prices


@pytest.fixture(scope="module")
def cutoff(prices: pl.DataFrame) -> date:
    return prices["date"].unique().sort()[650]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def model_dir(
    prices: pl.DataFrame, cutoff: date, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    model = M002FullArchitecture(SMALL, cache_dir=cache_dir, verbose=False)
    model.train(prices.filter(pl.col("date") <= cutoff))
    return model.save(tmp_path_factory.mktemp("models") / "model")


@pytest.fixture
def copy_dir(model_dir: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(model_dir, tmp_path / "copy"))


def _load(folder: Path, cache_dir: Path) -> M002FullArchitecture:
    return M002FullArchitecture.load(folder, cache_dir=cache_dir, verbose=False)


def test_manifest_lists_every_file_with_its_checksum(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    on_disk = {
        p.relative_to(model_dir).as_posix()
        for p in model_dir.rglob("*")
        if p.is_file() and p.name not in ("manifest.json", ".m002")
    }
    assert set(manifest["files"]) == on_disk
    assert BOOSTER in on_disk
    assert "regime/regime_model.pt" in on_disk
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())


def test_truncated_booster_is_named_instead_of_crashing(copy_dir: Path, cache_dir: Path) -> None:
    booster = copy_dir / BOOSTER
    booster.write_bytes(booster.read_bytes()[:200])
    with pytest.raises(DamagedFileError, match=r"head/head_rebound\.txt is truncated"):
        _load(copy_dir, cache_dir)


def test_edited_booster_of_the_same_length_is_refused(copy_dir: Path, cache_dir: Path) -> None:
    booster = copy_dir / BOOSTER
    text = booster.read_bytes()
    position = text.index(b"leaf_value=") + len(b"leaf_value=")
    digit = text[position : position + 1]
    other = b"1" if digit != b"1" else b"2"
    booster.write_bytes(text[:position] + other + text[position + 1 :])
    assert len(booster.read_bytes()) == len(text)
    with pytest.raises(DamagedFileError, match=r"head/head_rebound\.txt was altered"):
        _load(copy_dir, cache_dir)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda m: m.write_text(m.read_text()[:40]), "model manifest .* is damaged"),
        (lambda m: m.write_text(json.dumps({"m002_version": "0.1.0"})), "no file checksums"),
        (lambda m: m.write_text("[]"), "is damaged"),
    ],
)
def test_damaged_manifest_is_one_clear_error(
    copy_dir: Path, cache_dir: Path, damage: object, message: str
) -> None:
    damage(copy_dir / "manifest.json")  # type: ignore[operator]
    with pytest.raises(DamagedFileError, match=message):
        _load(copy_dir, cache_dir)


def test_cli_predict_on_a_damaged_model_exits_2_without_traceback(
    copy_dir: Path, tmp_path: Path
) -> None:
    (copy_dir / BOOSTER).write_bytes(b"tree\n")
    data = tmp_path / "prices.parquet"
    generate_synthetic(n_tickers=2, n_days=300, seed=1).prices.write_parquet(data)
    result = CliRunner().invoke(
        main, ["predict", str(copy_dir), str(data), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "head/head_rebound.txt is truncated" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.csv").exists()


def test_other_weights_never_read_the_first_models_cached_probabilities(
    model_dir: Path, cache_dir: Path, prices: pl.DataFrame, tmp_path: Path
) -> None:
    original = _load(model_dir, cache_dir)
    first = original.predict(prices, asof="latest")
    altered = _load(model_dir, cache_dir)
    with torch.no_grad():
        for weight in altered.regime_.model_.parameters():
            weight.add_(0.5)
    altered.save(tmp_path / "altered")
    second = _load(tmp_path / "altered", cache_dir).predict(prices, asof="latest")
    assert not second["state_prob_Peak"].equals(first["state_prob_Peak"])
    # and the original still reads its own entries back
    assert original.predict(prices, asof="latest").equals(first)


def test_in_sample_flags_the_training_period(
    model_dir: Path, cache_dir: Path, prices: pl.DataFrame, cutoff: date
) -> None:
    out = _load(model_dir, cache_dir).predict(prices)
    assert out["in_sample"].dtype == pl.Boolean
    assert out["in_sample"].to_list() == (out["date"] <= cutoff).to_list()


def test_a_weekend_asof_gives_the_last_trading_day_and_says_so(
    model_dir: Path, cache_dir: Path, prices: pl.DataFrame
) -> None:
    friday = next(d for d in reversed(prices["date"].unique().sort()) if d.weekday() == 4)
    sunday = friday + timedelta(days=2)
    model = _load(model_dir, cache_dir)
    with pytest.warns(DecisionWarning, match=f"asof={sunday} is not a trading day.*{friday}"):
        out = model.predict(prices.filter(pl.col("date") <= sunday), asof=sunday)
    assert out["date"].unique().to_list() == [friday]
    assert out.height == prices["ticker"].n_unique()
    assert model.last_predict_["asof"] == str(sunday)
    assert model.last_predict_["day"] == str(friday)
    assert model.last_predict_["left_out"] == []


def test_stale_and_short_tickers_are_listed_with_the_reason(
    model_dir: Path, cache_dir: Path, prices: pl.DataFrame
) -> None:
    last = prices["date"].max()
    stale = prices.filter((pl.col("ticker") != "SYN0000") | (pl.col("date") < last - timedelta(6)))
    young = prices.filter(pl.col("ticker") == "SYN0001").tail(30).with_columns(ticker=pl.lit("NEW"))
    model = _load(model_dir, cache_dir)
    with pytest.warns(DecisionWarning, match=r"2 ticker\(s\) have no decision") as record:
        out = model.predict(pl.concat([stale, young]), asof="latest")
    assert "SYN0000 (stale: last price on" in str(record[0].message)
    reasons = {e["ticker"]: e["reason"] for e in model.last_predict_["left_out"]}
    assert set(reasons) == {"SYN0000", "NEW"}
    assert reasons["SYN0000"].startswith("stale: last price on")
    assert reasons["NEW"].startswith("too little history")
    assert "SYN0000" not in out["ticker"].to_list()
    assert out.filter(pl.col("ticker") == "NEW")["action"].to_list() == ["FLAT"]


def test_a_clean_latest_predict_warns_nothing(
    model_dir: Path, cache_dir: Path, prices: pl.DataFrame
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DecisionWarning)
        _load(model_dir, cache_dir).predict(prices, asof="latest")


def test_train_out_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "AAA.csv").write_text("date,open,high,low,close,volume\n")
    result = CliRunner().invoke(main, ["train", str(prices), "--out", str(prices)])
    assert result.exit_code == 2
    assert "--out" in result.output
    assert "not an m002 output" in result.output
    assert [p.name for p in prices.iterdir()] == ["AAA.csv"]


def test_saving_over_another_model_replaces_it_and_over_a_run_does_not(
    model_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    model = _load(model_dir, cache_dir)
    target = model.save(tmp_path / "m")
    (target / "head" / "stale_extra.txt").write_text("from an older save")
    model.save(target)
    assert not (target / "head" / "stale_extra.txt").exists()
    run = tmp_path / "run"
    run.mkdir()
    (run / ".m002").write_text('{"kind": "run"}')
    (run / "run.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="an m002 run folder, not an m002 model"):
        model.save(run)


def test_cli_predict_bad_asof_keeps_the_old_output(model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "prices.parquet"
    generate_synthetic(n_tickers=2, n_days=300, seed=1).prices.write_parquet(data)
    target = tmp_path / "today.csv"
    target.write_text("yesterday's decisions\n")
    for asof in ("2012-13-01", "yesterday"):
        result = CliRunner().invoke(
            main, ["predict", str(model_dir), str(data), "--asof", asof, "--out", str(target)]
        )
        assert result.exit_code == 2, result.output
        assert f"`--asof` must be a date YYYY-MM-DD, got `--asof '{asof}'`" in result.output
        assert "Traceback" not in result.output
    early = CliRunner().invoke(
        main, ["predict", str(model_dir), str(data), "--asof", "1990-01-01", "--out", str(target)]
    )
    assert early.exit_code == 2, early.output
    assert "no price rows" in early.output
    assert target.read_text() == "yesterday's decisions\n"
    # the model's load time is reported beside the prediction's
    assert re.search(r"done loading the model .*?\(\d+\.\d s\)", early.output, re.S), early.output


def test_a_window_longer_than_the_history_names_seq_len(prices: pl.DataFrame) -> None:
    config = M002Config(regime=RegimeParams(seq_len=5000, max_epochs=1, hidden_size=8))
    model = M002FullArchitecture(config, use_cache=False, verbose=False)
    with pytest.raises(SchemaError, match=r"`seq_len=5000`.*longest usable run"):
        model.train(prices)


def test_a_ticker_younger_than_the_warm_up_does_not_stop_training(
    prices: pl.DataFrame, cache_dir: Path
) -> None:
    young = prices.filter(pl.col("ticker") == "SYN0001").tail(24).with_columns(ticker=pl.lit("NEW"))
    model = M002FullArchitecture(SMALL, cache_dir=cache_dir, verbose=False)
    model.train(pl.concat([prices, young]))
    assert model.trained_state["tickers"] == prices["ticker"].n_unique() + 1
