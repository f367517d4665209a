"""`tune_run` and `m002 tune`: nested honesty, resuming, concurrent writers, the config file."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import optuna
import polars as pl
import pytest
from click.testing import CliRunner

from m002.cli import main
from m002.cli._common import _read_run_config
from m002.evaluation._run import _check_decisions, read_run_json
from m002.exceptions import ConfigError
from m002.tuning import TuneConfig, objective_value, space_from_dict, tune_run

FEW = TuneConfig(trials=4, pbo_blocks=4)


def test_objectives_by_hand() -> None:
    net = np.array([0.01, -0.02, 0.015, 0.005])
    mean = (0.01 - 0.02 + 0.015 + 0.005) / 4  # 0.0025
    sd = math.sqrt(sum((x - mean) ** 2 for x in net) / 3)
    assert objective_value(net, "sharpe", dd_limit=0.2) == pytest.approx(mean / sd * math.sqrt(252))
    downside = math.sqrt(0.02**2 / 4)
    assert objective_value(net, "sortino", dd_limit=0.2) == pytest.approx(
        mean / downside * math.sqrt(252)
    )
    equity = [1.01, 1.01 * 0.98, 1.01 * 0.98 * 1.015, 1.01 * 0.98 * 1.015 * 1.005]
    drawdown = 0.98 - 1.0  # from the peak 1.01 to 1.01 * 0.98
    cagr = equity[-1] ** (252 / 4) - 1
    assert objective_value(net, "calmar", dd_limit=0.2) == pytest.approx(cagr / -drawdown)
    assert objective_value(net, "return_with_dd_limit", dd_limit=0.2) == pytest.approx(cagr)
    assert objective_value(net, "return_with_dd_limit", dd_limit=0.005) == pytest.approx(
        cagr - 2 * (0.02 - 0.005)
    )
    assert objective_value(np.zeros(10), "sharpe", dd_limit=0.2) == 0.0


def test_each_block_is_tuned_on_earlier_folds_only(fake_run: Path, tmp_path: Path) -> None:
    result = tune_run(fake_run, out=tmp_path / "tuned.toml", config=FEW)
    blocks = result.summary["blocks"]
    assert [b["fold"] for b in blocks] == [2, 3, 4]
    for block in blocks:
        assert block["tuned_on"] == list(range(block["fold"]))
        assert max(block["tuned_on"]) < block["fold"]
    assert result.summary["reported_after"] == str(
        pl.read_parquet(fake_run / "predictions.parquet").filter(pl.col("fold") == 1)["date"].max()
    )


def test_a_block_does_not_see_the_folds_it_decides(fake_run: Path, tmp_path: Path) -> None:
    """Changing every price and prediction from fold 3 on leaves fold 2's choice as it was."""
    first = tune_run(fake_run, out=tmp_path / "a.toml", config=FEW).summary["blocks"]
    rows = pl.read_parquet(fake_run / "predictions.parquet")
    later = pl.col("fold") >= 3
    changed = rows.with_columns(
        pl.when(later)
        .then(-pl.col("pred_expected_ret_pct"))
        .otherwise(pl.col("pred_expected_ret_pct"))
        .alias("pred_expected_ret_pct"),
        pl.when(later).then(pl.col("close") * 1.5).otherwise(pl.col("close")).alias("close"),
    )
    changed.write_parquet(fake_run / "predictions.parquet")
    second = tune_run(fake_run, out=tmp_path / "b.toml", config=FEW).summary["blocks"]
    assert second[0]["changes"] == first[0]["changes"]
    assert second[0]["in_sample"] == first[0]["in_sample"]
    assert second[-1]["in_sample"] != first[-1]["in_sample"]  # the change did reach fold 4's


def test_a_resumed_study_continues_its_trial_count(fake_run: Path, tmp_path: Path) -> None:
    storage = f"journal:///{tmp_path / 'study.log'}"
    tune_run(fake_run, out=tmp_path / "a.toml", config=FEW, storage=storage, study="s")
    with pytest.raises(ConfigError, match="pass --resume"):
        tune_run(fake_run, out=tmp_path / "b.toml", config=FEW, storage=storage, study="s")
    more = TuneConfig(trials=7, pbo_blocks=4)
    tune_run(
        fake_run, out=tmp_path / "c.toml", config=more, storage=storage, study="s", resume=True
    )
    store = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log"))
    )
    for name in ("s", "s.fold2", "s.fold3", "s.fold4"):
        trials = optuna.load_study(study_name=name, storage=store).trials
        assert [t.number for t in trials] == list(range(7)), name
    with pytest.raises(ConfigError, match="another objective or search space"):
        tune_run(
            fake_run,
            out=tmp_path / "d.toml",
            config=TuneConfig(trials=7, objective="calmar", pbo_blocks=4),
            storage=storage,
            study="s",
            resume=True,
        )


_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from m002.tuning import TuneConfig, tune_run
    from m002.tuning._evaluate import Evaluator  # compile before the barrier
    run, out, storage, ready, other = sys.argv[1:]
    Path(ready).touch()
    deadline = time.time() + 120
    while not Path(other).exists() and time.time() < deadline:
        time.sleep(0.01)
    tune_run(run, out=out, config=TuneConfig(trials=60, pbo_blocks=4), storage=storage,
             study="shared", resume=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_processes_add_trials_to_one_study(tmp_path: Path, kind: str) -> None:
    from tests.tuning.conftest import write_fake_run

    runs = [write_fake_run(tmp_path / f"run{i}") for i in range(2)]
    storage = (
        f"journal:///{tmp_path / 'study.log'}"
        if kind == "journal"
        else f"sqlite:///{tmp_path / 'study.db'}"
    )
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                str(runs[i]),
                str(tmp_path / f"t{i}.toml"),
                storage,
                str(ready[i]),
                str(ready[1 - i]),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    if kind == "journal":
        store = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log"))
        )
    else:
        store = f"sqlite:///{tmp_path / 'study.db'}"
    trials = optuna.load_study(study_name="shared.fold2", storage=store).trials
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) >= 60
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # both processes added trials
    assert len({t.number for t in trials}) == len(trials)


def test_the_config_file_reads_back_for_every_command(fake_run: Path, tmp_path: Path) -> None:
    result = tune_run(fake_run, out=tmp_path / "tuned.toml", config=FEW)
    text = (tmp_path / "tuned.toml").read_text()
    assert text.startswith("# Written by `m002 tune`")
    assert "tuned_nested Sharpe" in text
    assert "Deflated Sharpe ratio" in text
    tuned = _read_run_config(tmp_path / "tuned.toml")
    assert tuned.pipeline.policy == result.policy
    assert tuned.pipeline.portfolio == result.portfolio
    # only [policy] and [portfolio] differ from the run's: `m002 backtest --config` takes it
    _check_decisions(read_run_json(fake_run)["config"], tuned.pipeline)
    summary = result.summary
    assert (fake_run / "tuning" / "tuning.json").is_file()
    assert summary["overfitting"]["dsr"]["n_trials"] == 4
    assert 0.0 <= summary["overfitting"]["pbo"]["pbo"] <= 1.0
    assert set(summary["comparison"]) == {"10bps", "20bps"}
    rows = summary["comparison"]["10bps"]
    assert {"untuned", "tuned_nested", "buy_and_hold", "m002_spec"} <= set(rows)
    assert rows["untuned"]["n_days"] == rows["buy_and_hold"]["n_days"] == 3 * 40


def test_the_command_prints_the_honest_table(fake_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "tuned.toml"
    result = CliRunner().invoke(
        main, ["tune", str(fake_run), "--out", str(out), "--trials", "3", "--jobs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "tuned_nested" in result.output
    assert "deflated Sharpe ratio" in result.output
    assert out.is_file()
    refused = CliRunner().invoke(main, ["tune", str(fake_run), "--out", str(out), "--resume"])
    assert refused.exit_code == 2
    assert "--resume needs --storage" in refused.output


def test_a_space_file_narrows_the_search(fake_run: Path, tmp_path: Path) -> None:
    space = tmp_path / "space.toml"
    space.write_text('[space]\nsizing = "topk"\ntrade_rate = {low = 0.2, high = 0.3}\n')
    out = tmp_path / "tuned.toml"
    result = CliRunner().invoke(
        main, ["tune", str(fake_run), "--out", str(out), "--trials", "3", "--space", str(space)]
    )
    assert result.exit_code == 0, result.output
    tuned = _read_run_config(out).pipeline.portfolio
    assert tuned.sizing == "topk"
    assert 0.2 <= tuned.trade_rate <= 0.3
    space.write_text("[spaces]\nsizing = 1\n")
    bad = CliRunner().invoke(
        main, ["tune", str(fake_run), "--out", str(out), "--space", str(space)]
    )
    assert bad.exit_code == 2
    assert "one [space] table" in bad.output


def test_a_space_without_valid_configurations_stops_with_the_reason(
    fake_run: Path, tmp_path: Path
) -> None:
    # a gross target above the leverage cap: every trial is invalid
    space, fixed = space_from_dict({"max_leverage": 1.0, "gross_target": {"low": 1.5, "high": 2.0}})
    with pytest.raises(ConfigError, match="`gross_target` must be <= `max_leverage`"):
        tune_run(fake_run, out=tmp_path / "t.toml", config=FEW, space=space, fixed=fixed)


def test_two_objectives_give_a_front_and_the_turnover_cap_chooses(
    fake_run: Path, tmp_path: Path
) -> None:
    config = TuneConfig(trials=8, pbo_blocks=4, pareto=True, max_turnover=20.0)
    summary = tune_run(fake_run, out=tmp_path / "t.toml", config=config).summary
    front = summary["pareto_front"]
    assert front
    history = {t["trial"]: t for t in summary["history"]}
    for point in front:  # no trial of the history beats a front trial on both objectives
        assert not any(
            t["value"] > point["value"] and t["turnover"] < point["turnover"]
            for t in history.values()
        )
    within = [t for t in history.values() if t["turnover"] <= 20.0]
    beyond = [t for t in history.values() if t["turnover"] > 20.0]
    assert within  # both sides of the cap are drawn, so the cap decides something
    assert beyond
    chosen = summary["chosen"]
    assert chosen["turnover_in_sample"] <= 20.0
    assert chosen["in_sample"] == max(t["value"] for t in within)


def test_next_open_fills_leave_the_decided_folds_first_open_out(
    fake_run: Path, tmp_path: Path
) -> None:
    """Trading at the next open books the last tuning date's return up to the first open of
    the fold being decided: that date is left out, so changing that open changes nothing."""
    run = json.loads((fake_run / "run.json").read_text())
    run["config"]["backtest"]["execution"] = "next_open"
    (fake_run / "run.json").write_text(json.dumps(run))
    first = tune_run(fake_run, out=tmp_path / "a.toml", config=FEW).summary["blocks"][0]
    rows = pl.read_parquet(fake_run / "predictions.parquet")
    opening = rows.filter(pl.col("fold") == 2)["date"].min()
    rows.with_columns(
        pl.when(pl.col("date") == opening).then(pl.col("open") * 3.0).otherwise(pl.col("open"))
    ).write_parquet(fake_run / "predictions.parquet")
    second = tune_run(fake_run, out=tmp_path / "b.toml", config=FEW).summary["blocks"][0]
    assert second["changes"] == first["changes"]
    assert second["in_sample"] == first["in_sample"]


def test_too_few_folds_for_a_nested_block_is_refused(fake_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs more than `first_block=5` test folds"):
        tune_run(fake_run, out=tmp_path / "t.toml", config=TuneConfig(first_block=5))
    assert not (tmp_path / "t.toml").exists()
    # a short run (two folds, as the demo's) tunes one block with --first-block 1
    out = tmp_path / "one.toml"
    args = ["tune", str(fake_run), "--out", str(out), "--trials", "3", "--first-block", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "fold 1: tuned on folds 0-0" in result.output


def test_an_interrupted_tuning_resumes_where_it_stopped(
    fake_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from m002.tuning import _tune

    storage = f"journal:///{tmp_path / 'study.log'}"
    calls = {"n": 0}
    timed = _tune._timed

    def interrupted(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:  # the fourth evaluation: a Ctrl-C mid-study
            raise KeyboardInterrupt
        return timed(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_tune, "_timed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune_run(fake_run, out=tmp_path / "a.toml", config=FEW, storage=storage, study="s")
    store = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log"))
    )
    states = {t.state for t in optuna.load_study(study_name="s.fold2", storage=store).trials}
    assert optuna.trial.TrialState.RUNNING not in states  # nothing left "running"
    monkeypatch.setattr(_tune, "_timed", timed)
    tune_run(fake_run, out=tmp_path / "b.toml", config=FEW, storage=storage, study="s",
             resume=True)  # fmt: skip
    for name in ("s", "s.fold2", "s.fold3", "s.fold4"):
        trials = optuna.load_study(study_name=name, storage=store).trials
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(complete) == 4, name


def test_a_storage_that_cannot_be_opened_is_named(fake_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--storage 'foo://bar' is not a storage"):
        tune_run(fake_run, out=tmp_path / "t.toml", config=FEW, storage="foo://bar")
    assert not (tmp_path / "t.toml").exists()
    assert not (fake_run / "tuning").exists()


def test_a_run_whose_config_toml_cannot_hold_is_refused_first(
    fake_run: Path, tmp_path: Path
) -> None:
    run = json.loads((fake_run / "run.json").read_text())
    run["config"]["portfolio"]["max_weight"] = None  # off, where the default is on
    (fake_run / "run.json").write_text(json.dumps(run))
    with pytest.raises(
        ConfigError, match=r"cannot be written to tuned.toml: \[portfolio\] max_weight"
    ):
        tune_run(fake_run, out=tmp_path / "t.toml", config=FEW)
    assert not (tmp_path / "t.toml").exists()
    assert not (fake_run / "tuning").exists()


def test_studies_in_worker_processes_choose_what_they_choose_here(
    fake_run: Path, tmp_path: Path
) -> None:
    from m002.evaluation import ExecutorConfig

    here = tune_run(fake_run, out=tmp_path / "a.toml", config=FEW).summary
    there = tune_run(
        fake_run,
        out=tmp_path / "b.toml",
        config=FEW,
        executor=ExecutorConfig("processes", workers=2),
    ).summary
    for key in ("blocks", "chosen", "history", "comparison", "overfitting"):
        # as JSON text: a NaN metric (no trade) is equal to itself there
        assert json.dumps(there[key]) == json.dumps(here[key]), key
    assert there["timing"]["evaluations"] == here["timing"]["evaluations"] == 4 * 4
    assert (tmp_path / "a.toml").read_text().split("\n", 1)[1] == (
        (tmp_path / "b.toml").read_text().split("\n", 1)[1]
    )
