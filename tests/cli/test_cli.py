from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from m002.cli import main
from m002.features import feature_names


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("syn")
    result = CliRunner().invoke(
        main, ["data", "synth", "--out", str(folder), "--tickers", "4", "--days", "200"]
    )
    assert result.exit_code == 0, result.output
    return folder


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "data", "features"):
        assert command in result.output


def test_synth_writes_one_file_per_ticker_and_the_ground_truth(synth_dir: Path) -> None:
    assert len(list(synth_dir.glob("SYN*.parquet"))) == 4
    assert (synth_dir / "_regimes.parquet").is_file()


def test_data_check_clean_folder_exits_0(synth_dir: Path) -> None:
    result = CliRunner().invoke(main, ["data", "check", str(synth_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # progress lines go to stderr
    assert report["rows_in"] == report["rows_out"] == 800


def test_data_check_reports_bad_rows_and_exits_1(tmp_path: Path, synth_dir: Path) -> None:
    good = pl.read_parquet(synth_dir / "SYN0000.parquet")
    bad = good.with_columns(
        high=pl.when(pl.int_range(pl.len()) == 100).then(pl.col("low") * 0.5).otherwise("high")
    )
    bad.write_parquet(tmp_path / "BAD.parquet")
    (tmp_path / "BF.B.csv").write_text('{"Error Message": "Invalid API call"}\n')
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "high_below_low" in result.output
    assert "BF.B" in result.output


def test_features_writes_parquet_with_every_feature(tmp_path: Path, synth_dir: Path) -> None:
    out = tmp_path / "f.parquet"
    result = CliRunner().invoke(
        main, ["features", str(synth_dir), "--out", str(out), "--warmup", "drop"]
    )
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert set(feature_names("m002")) <= set(frame.columns)
    assert frame.height == 4 * (200 - 60)
    assert frame.select(pl.col(feature_names("m002")).null_count().sum()).row(0) == tuple(
        [0] * len(feature_names("m002"))
    )


@pytest.mark.parametrize("name", ["alpha158", "m002+alpha158"])
def test_features_builds_every_registered_set(tmp_path: Path, synth_dir: Path, name: str) -> None:
    out = tmp_path / "f.parquet"
    args = ["features", str(synth_dir), "--set", name, "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert set(feature_names(name)) <= set(pl.read_parquet(out).columns)


def test_features_csv_and_filters(tmp_path: Path, synth_dir: Path) -> None:
    out = tmp_path / "f.csv"
    args = ["features", str(synth_dir), "--set", "v1", "--out", str(out),
            "--tickers", "SYN0001", "--start", "2010-06-01"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out, try_parse_dates=True)
    assert frame["ticker"].unique().to_list() == ["SYN0001"]
    assert str(frame["date"].min()) >= "2010-06-01"
    # history before --start was read, so the first row already has its 20-day volatility
    assert frame["volatility_20"][0] is not None


def test_bad_inputs_are_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["features", str(tmp_path / "nope"), "--out", "x.parquet"])
    assert missing.exit_code == 2
    assert "nope" in missing.output
    assert "Traceback" not in missing.output
    wrong_suffix = runner.invoke(main, ["features", str(tmp_path), "--out", "x.txt"])
    assert wrong_suffix.exit_code == 2
    assert ".parquet or .csv" in wrong_suffix.output


def test_demo_features_only_on_a_small_universe() -> None:
    result = CliRunner().invoke(
        main, ["demo", "--tickers", "3", "--days", "150", "--features-only"]
    )
    assert result.exit_code == 0, result.output
    assert "rows after warm-up" in result.output
    assert "3 tickers" in result.output


def test_labels_prints_states_overall_and_per_year(synth_dir: Path) -> None:
    result = CliRunner().invoke(main, ["labels", str(synth_dir), "--lookahead", "3"])
    assert result.exit_code == 0, result.output
    for state in ("Peak", "Accumulation", "EarlyUp", "LateDown", "Distribution", "unlabelled"):
        assert state in result.stdout
    assert "lookahead 3 days" in result.stdout
    assert "2010" in result.stdout  # the per-year table


def test_labels_bad_lookahead_is_a_clear_error(synth_dir: Path) -> None:
    result = CliRunner().invoke(main, ["labels", str(synth_dir), "--lookahead", "-1"])
    assert result.exit_code == 2
    assert "`--lookahead` must be >= 0" in result.output  # the option, not the parameter
