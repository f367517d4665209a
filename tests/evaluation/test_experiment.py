"""`run_experiment` and `m002 experiment`: arms on the same folds and costs, one shared cache,
one comparison table whose numbers are the arms' own runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from m002.cli import main
from m002.data import write_synthetic
from m002.evaluation import (
    EXPERIMENT_FILE,
    Arm,
    RunConfig,
    WalkForwardConfig,
    config_changes,
    describe_change,
    run_experiment,
)
from m002.exceptions import ConfigError, OutputExistsError
from m002.pipeline import HeadParams
from tests.evaluation.test_walkforward import small_config

SMALL_TOML = """
[regime]
max_epochs = 2
hidden_size = 16
batch_size = 256

[head]
n_estimators = 30
{head}

[crossfit]
block = "200d"
min_fit_dates = 150

[walkforward]
retrain_every = "200d"
min_train_dates = 400
"""


def rank_config() -> RunConfig:
    config = small_config()
    head = dataclasses.replace(config.pipeline.head, target="rank")
    return dataclasses.replace(config, pipeline=dataclasses.replace(config.pipeline, head=head))


@pytest.fixture(scope="module")
def experiment(
    prices: pl.DataFrame, cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("experiment")
    arms = [Arm("base", small_config()), Arm("rank", rank_config())]
    result = run_experiment(prices, folder, arms, cache_dir=cache, verbose=False)
    return folder, result


def test_rows_are_the_arms_own_runs(experiment: tuple[Path, dict[str, Any]]) -> None:
    folder, result = experiment
    assert [row["name"] for row in result["arms"]] == ["base", "rank"]
    assert json.loads((folder / EXPERIMENT_FILE).read_text()) == result
    for row in result["arms"]:
        run = folder / "runs" / row["name"]
        overall = json.loads((run / "evaluation.json").read_text())["overall"]
        assert row["head"]["rank_ic"] == overall["rank_ic_mean"]
        assert row["head"]["ap"] == overall["ap"]
        assert row["layer1"]["macro_f1_all_rows"] == overall["regime_all_rows_macro_f1"]
        assert row["wall_s"] > 0
    # the two heads learn different targets (the default excess return, its rank)
    assert result["arms"][0]["head"]["rank_ic"] != result["arms"][1]["head"]["rank_ic"]


def test_the_arms_share_layer_one_through_the_cache(
    experiment: tuple[Path, dict[str, Any]],
) -> None:
    base, ranked = experiment[1]["arms"]
    assert base["layer1"]["models_fitted"] > 0
    assert ranked["layer1"]["models_fitted"] == 0  # same [regime]: every model read back
    # and the same layer-1 probabilities reached both heads
    runs = experiment[0] / "runs"
    columns = ["ticker", "date", "state_prob_Peak", "state_prob_EarlyUp"]
    one = pl.read_parquet(runs / "base" / "predictions.parquet", columns=columns)
    two = pl.read_parquet(runs / "rank" / "predictions.parquet", columns=columns)
    assert one.equals(two)


def test_each_row_names_its_changes(experiment: tuple[Path, dict[str, Any]]) -> None:
    base, ranked = experiment[1]["arms"]
    assert base["changes"] == {}
    assert ranked["changes"] == {"head.target": "rank"}
    assert config_changes(small_config(), rank_config()) == {"head.target": "excess"}


def test_an_arm_runs_as_a_walkforward_alone_would(
    experiment: tuple[Path, dict[str, Any]],
    prices: pl.DataFrame,
    cache: Path,
    tmp_path: Path,
) -> None:
    from m002.evaluation import run_walkforward

    run_walkforward(prices, tmp_path / "alone", rank_config(), cache_dir=cache, verbose=False)
    alone = pl.read_parquet(tmp_path / "alone" / "predictions.parquet")
    inside = pl.read_parquet(experiment[0] / "runs" / "rank" / "predictions.parquet")
    assert alone.equals(inside)


def test_arms_must_share_folds_costs_and_have_names(prices: pl.DataFrame, tmp_path: Path) -> None:
    other_folds = dataclasses.replace(
        small_config(), walkforward=WalkForwardConfig(retrain_every="100d", min_train_dates=400)
    )
    with pytest.raises(ConfigError, match=r"\[walkforward\] \(retrain_every\)"):
        run_experiment(prices, tmp_path / "x", [Arm("a", small_config()), Arm("b", other_folds)])
    with pytest.raises(ConfigError, match="two configurations are named 'a'"):
        run_experiment(prices, tmp_path / "x", [Arm("a", small_config())] * 2)
    with pytest.raises(ConfigError, match="not a folder name"):
        run_experiment(prices, tmp_path / "x", [Arm("../a", small_config())])
    with pytest.raises(ConfigError, match="at least one"):
        run_experiment(prices, tmp_path / "x", [])
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_not_an_experiment_is_refused(
    prices: pl.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not an m002 output"):
        run_experiment(prices, tmp_path, [Arm("a", small_config())], verbose=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_cli_compares_config_files(cache: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_synthetic(data, n_tickers=10, n_days=800, seed=11)
    small = tmp_path / "small.toml"
    small.write_text(SMALL_TOML.format(head=""))
    ranked = tmp_path / "rank.toml"
    ranked.write_text(SMALL_TOML.format(head='target = "rank"'))
    args = ["experiment", str(data), str(small), str(ranked), "--no-default"]
    args += ["--out", str(tmp_path / "exp"), "--cache-dir", str(cache)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "head.target = rank" in result.output

    assert describe_change("head.feature_set", None) == "head.feature_set unset"
    assert describe_change("head.target", "rank") == "head.target = rank"
    assert "buy_and_hold" in result.output
    written = json.loads((tmp_path / "exp" / EXPERIMENT_FILE).read_text())
    assert [row["name"] for row in written["arms"]] == ["small", "rank"]
    # files that disagree on the folds are refused before anything runs
    other = tmp_path / "other.toml"
    other.write_text(SMALL_TOML.format(head="").replace('"200d"\nmin_train', '"100d"\nmin_train'))
    args = ["experiment", str(data), str(small), str(other), "--no-default"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "exp2")])
    assert result.exit_code == 2
    assert "[walkforward]" in result.output
    assert not (tmp_path / "exp2").exists()


def test_the_report_of_an_experiment_shows_the_arms(
    experiment: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    from m002.report import render_report

    folder, result = experiment
    page = render_report(folder, tmp_path / "experiment.html").read_text()
    assert 'id="experiment-table"' in page
    assert '<a href="#experiment">' in page
    assert "head.target = rank" in page
    sharpe = result["arms"][1]["backtest"]["sharpe"]
    assert f"<td>{sharpe:.2f}</td>" in page
    # a key the arm leaves out reads "unset", not None or a dash
    from m002.report._html import experiment_section

    unset = {**result, "arms": [{**result["arms"][1], "changes": {"head.feature_set": None}}]}
    assert "head.feature_set unset" in experiment_section(unset)
    # the rest of the page is the first arm's run; a run's own page has no such section
    alone = render_report(folder / "runs" / "base", tmp_path / "run.html").read_text()
    assert 'id="experiment"' not in alone
    assert alone.count("<section") == page.count("<section") - 1


def test_head_params_reach_the_config_changes() -> None:
    config = dataclasses.replace(
        small_config(),
        pipeline=dataclasses.replace(small_config().pipeline, head=HeadParams(n_estimators=31)),
    )
    assert config_changes(config, small_config()) == {"head.n_estimators": 31}
