"""No traceback reaches a CLI user for a bad input: every command, given bad arguments, exits
2 with one clear line that names the option, and prints nothing as rich markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from m002.cli import main
from m002.cli._common import _cli_words
from m002.data import write_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli_errors") / "data"
    write_synthetic(folder, n_tickers=2, n_days=300, seed=3)
    return folder


def _bad_calls(synth: Path, tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, a fragment the one error line must hold)."""
    missing = str(tmp / "no_such_folder")
    not_model = tmp / "not_a_model"
    not_model.mkdir(exist_ok=True)
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("[regime]\nseq_len = 5000\nhiden_size = 3\n")
    return [
        (["data", "check", missing], "no_such_folder"),
        (["data", "check", str(synth), "--start", "2012-13-01"], "`--start` must be a date"),
        (["data", "synth", "--out", str(tmp / "s"), "--tickers", "0"], "tickers"),
        (["data", "synth", "--out", str(tmp / "s"), "--start", "tomorrow"], "`--start`"),
        (["features", missing, "--out", str(tmp / "f.parquet")], "no_such_folder"),
        (["features", str(synth), "--out", str(tmp / "f.txt")], ".parquet or .csv"),
        (["features", str(synth), "--out", str(tmp / "f.csv"), "--end", "x"], "`--end`"),
        (["labels", str(synth), "--lookahead", "-1"], "`--lookahead` must be >= 0"),
        (["train", missing, "--out", str(tmp / "m")], "no_such_folder"),
        (["train", str(synth), "--out", str(synth)], "not an m002 model folder"),
        (["train", str(synth), "--out", str(tmp / "m"), "--config", str(bad_toml)], "hidden"),
        (["predict", str(not_model), str(synth), "--out", str(tmp / "p.csv")], "not a saved"),
        (["predict", missing, str(synth), "--out", str(tmp / "p.csv")], "not a saved"),
        (["walkforward", str(synth), "--out", str(synth)], "not an m002 run folder"),
        (["walkforward", str(synth), "--out", str(tmp / "r"), "--retrain-every", "9x"], "1y"),
        (["walkforward", str(synth), "--out", str(tmp / "r"), "--first-test-date", "x"], "date"),
        (["backtest", missing], "not a walk-forward run"),
        (["backtest", str(not_model)], "not a walk-forward run"),
        (["report", missing, "--out", str(tmp / "r.html")], "does not exist"),
        (["report", str(not_model), "--out", str(tmp / "r.txt")], ".html"),
        (["cache", "clear", "--stage", "../etc"], "`--stage` must be 1-100 characters"),
        (["cache", "prune", "--max-size", "lots"], "--max-size"),
        (["cache", "prune", "--older-than", "-3d"], "--older-than"),
    ]


def test_every_command_with_bad_arguments_is_one_line_and_exit_2(
    synth: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    for args, fragment in _bad_calls(synth, tmp_path):
        result = runner.invoke(main, args)
        where = f"m002 {' '.join(args)}:\n{result.output}"
        assert result.exit_code == 2, where
        assert "Traceback" not in result.output, where
        assert result.exception is None or isinstance(result.exception, SystemExit), where
        assert fragment in result.output, where
        errors = [line for line in result.output.splitlines() if "error" in line.lower()]
        assert len(errors) == 1, where


def test_library_words_become_option_words_inside_a_command() -> None:
    @main.command("_words_probe", hidden=True)
    @__import__("click").option("--first-test-date", default=None)
    @__import__("click").option("--validate", default=None)
    def probe(first_test_date: str | None, validate: str | None) -> None:
        print(_cli_words("`first_test_date` must be a date, got `first_test_date='x'`"))
        print(_cli_words("read it with validate='strict' (m002.data's check_silver())"))
        print(_cli_words("`seq_len` must be >= 2"))  # a config key, no option: unchanged

    try:
        result = CliRunner().invoke(main, ["_words_probe"])
    finally:
        main.commands.pop("_words_probe")
    assert result.output.splitlines() == [
        "`--first-test-date` must be a date, got `--first-test-date 'x'`",
        "read it with --validate strict (m002.data's check_silver())",
        "`seq_len` must be >= 2",
    ]


def test_error_text_is_never_read_as_markup(tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "AAA.csv").write_text(
        "date,open,high,low,close,volume\n2020-01-02,10,11,9,12.5,100\n"
    )
    result = CliRunner().invoke(main, ["features", str(folder), "--out", str(tmp_path / "f.csv")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    # rich markup would have eaten both bracketed parts
    assert "outside [low 9, high 11] [rule close_outside_range]" in result.output
    assert "rerun with --validate lenient" in result.output  # the option, not Python's name
    assert "check_silver" not in result.output
