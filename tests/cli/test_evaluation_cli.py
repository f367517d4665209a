"""`m002 walkforward`, `m002 backtest` and `m002 report` on a small synthetic folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from m002.cli import main

CONFIG = """
[regime]
max_epochs = 2
hidden_size = 16

[head]
n_estimators = 30

[crossfit]
block = "200d"
min_fit_dates = 150

[walkforward]
retrain_every = "200d"
min_train_dates = 400

[backtest]
cost_bps = 5
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_wf")
    data, config = root / "data", root / "run.toml"
    runner = CliRunner()
    synth = ["data", "synth", "--out", str(data), "--tickers", "8", "--days", "800"]
    assert runner.invoke(main, synth).exit_code == 0
    config.write_text(CONFIG)
    args = ["walkforward", str(data), "--out", str(root / "run"), "--config", str(config)]
    result = runner.invoke(main, [*args, "--cache-dir", str(root / "cache")])
    assert result.exit_code == 0, result.output
    assert "buy_and_hold" in result.stdout
    assert "m002_no_state_probs" in result.stdout
    assert "5 bps" in result.stdout  # the config's [backtest] section was used
    return root / "run"


def test_walkforward_writes_the_run(run_dir: Path) -> None:
    run = json.loads((run_dir / "run.json").read_text())
    assert run["config"]["walkforward"]["retrain_every"] == "200d"
    assert run["config"]["regime"]["max_epochs"] == 2
    assert (run_dir / "backtest" / "metrics.json").is_file()
    # the folds and layer 1's fits ran in worker processes, one per core, by default
    assert run["executor"] == {"kind": "processes", "workers": 0, "address": ""}


def test_backtest_reruns_with_other_costs(run_dir: Path, tmp_path: Path) -> None:
    args = ["backtest", str(run_dir), "--costs-bps", "30", "--long-only", "--out", str(tmp_path)]
    args += ["--execution", "next_open", "--borrow-bps", "50"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "30 bps" in result.stdout
    assert "shorts off" in result.stdout
    # the table prints whole even though the test's console is 80 columns wide
    assert re.search(r"buy_and_hold\s+│\s+[+-]\d+\.\d%\s+│", result.stdout), result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["costs"] == {
        "cost_bps": 30.0,
        "slippage_bps": 0.0,
        "gross_cap": 1.0,
        "allow_short": False,
        "execution": "next_open",
        "borrow_bps": 50.0,
    }
    assert "traded at the next open" in result.stdout
    # both executions are summarised, the configured one equal to the full table
    assert set(metrics["executions"]) == {"close", "next_open"}
    for name, row in metrics["executions"]["next_open"].items():
        assert row["sharpe"] == metrics["strategies"][name]["sharpe"]
    close, next_open = (metrics["executions"][e]["buy_and_hold"] for e in ("close", "next_open"))
    assert close["cagr"] != next_open["cagr"]
    assert "Sharpe next_open" in result.stdout
    # the run's own backtest is left as it was
    own = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert own["costs"]["cost_bps"] == 5.0


def test_report_writes_one_html_file(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(target)])
    assert result.exit_code == 0, result.output
    html = target.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "SYN0000" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "{missing}"], "m002 walkforward"),
        (["backtest", "{run}", "--costs-bps", "-5"], "cost_bps"),
        (["report", "{missing}", "--out", "{tmp}/r.html"], "m002 walkforward"),
        (["walkforward", "{missing}", "--out", "{tmp}/x"], "{missing}"),
    ],
)
def test_errors_are_one_clear_line(
    run_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    values = {"missing": str(tmp_path / "nope"), "run": str(run_dir), "tmp": str(tmp_path)}
    argv = [a.format(**values) for a in args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert message.format(**values) in result.output


def test_backtest_decides_the_run_anew_from_a_config_file(run_dir: Path, tmp_path: Path) -> None:
    decisions = tmp_path / "decide.toml"
    decisions.write_text(
        CONFIG.replace("[backtest]", '[policy]\nscore_form = "spec"\nrisk_aversion = 0.5\n\n'
                       "[portfolio]\nlong_only = false\ntrade_rate = 0.5\n\n[backtest]")
    )  # fmt: skip
    out = tmp_path / "bt"
    args = ["backtest", str(run_dir), "--config", str(decisions), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["decisions"]["portfolio"]["long_only"] is False
    assert (out / "signals.parquet").is_file()
    # a section that made the predictions cannot change here: one line, exit 2
    changed = tmp_path / "changed.toml"
    changed.write_text(CONFIG.replace("n_estimators = 30", "n_estimators = 31"))
    args = ["backtest", str(run_dir), "--config", str(changed), "--out", str(tmp_path / "no")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "[head] of the config differ from the run's" in result.output
