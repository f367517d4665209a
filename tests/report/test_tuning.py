"""The tuning section: shown from ``tuning/tuning.json`` where ``m002 tune`` wrote one, absent
(and the page as before) where it did not, a clear error where the file is damaged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from m002.exceptions import DamagedFileError, SchemaError
from m002.report import render_report
from m002.report._payload import COMPARISON_METRICS, _running_best
from tests.report.conftest import (
    TUNING_CHART_IDS,
    TUNING_HISTORY,
    TUNING_RUNNING_BEST,
    embedded_data,
    fake_tuning,
    write_fake_tuning,
)


@pytest.fixture(scope="module")
def page(tuned_report_file: Path) -> str:
    return tuned_report_file.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tuning(page: str) -> dict[str, Any]:
    data: dict[str, Any] = embedded_data(page)["tuning"]
    return data


@pytest.fixture(scope="module")
def file(tuned_run_dir: Path) -> dict[str, Any]:
    content: dict[str, Any] = json.loads((tuned_run_dir / "tuning" / "tuning.json").read_text())
    return content


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def section_of(page: str) -> str:
    start = page.index('<section id="tuning">')
    return page[start : page.index("</section>", start)]


def table_of(page: str, table_id: str) -> str:
    start = page.index(f'<table id="{table_id}"')
    return page[start : page.index("</table>", start)]


def test_the_comparison_holds_the_files_numbers_tuned_first(
    tuning: dict[str, Any], file: dict[str, Any]
) -> None:
    comparison = tuning["comparison"]
    assert comparison["costs"] == ["10bps", "20bps"]
    assert comparison["strategies"] == ["tuned_nested", "untuned", "buy_and_hold", "regime_rule"]
    assert comparison["metrics"] == list(COMPARISON_METRICS)
    for cost, rows in file["comparison"].items():
        for name, metrics in rows.items():
            expected = [metrics[key] for key in COMPARISON_METRICS]
            assert comparison["values"][cost][name] == expected
    assert comparison["values"]["20bps"]["buy_and_hold"][1] is None


def test_overfitting_chosen_and_blocks_are_the_files(
    tuning: dict[str, Any], file: dict[str, Any]
) -> None:
    assert tuning["objective"] == "sharpe"
    assert tuning["reported_after"] == "2012-03-30"
    assert tuning["dsr"] == file["overfitting"]["dsr"]
    assert tuning["pbo"] == file["overfitting"]["pbo"]
    assert tuning["chosen"] == file["chosen"]
    keys = ("fold", "tuned_on", "trial", "in_sample", "turnover_in_sample")
    assert tuning["blocks"] == [{key: b[key] for key in keys} for b in file["blocks"]]
    assert tuning["importances"] == {
        "names": ["risk_aversion", "sizing", "cooldown_days", "topk"],
        "values": [0.5, 0.3, 0.15, 0.05],
    }
    assert tuning["pareto"] is None


def test_history_and_its_running_best(tuning: dict[str, Any]) -> None:
    history = tuning["history"]
    assert history["trial"] == [trial for trial, _, _, _ in TUNING_HISTORY]
    assert history["value"] == [value for _, value, _, _ in TUNING_HISTORY]
    assert history["turnover"] == [turnover for _, _, turnover, _ in TUNING_HISTORY]
    assert history["best"] == list(TUNING_RUNNING_BEST)


def test_running_best_skips_nulls() -> None:
    assert _running_best([]) == []
    assert _running_best([None, 0.2, -1.0, None, 0.5, 0.5]) == [None, 0.2, 0.2, 0.2, 0.5, 0.5]
    assert _running_best([-3.0, -2.0, -2.5]) == [-3.0, -2.0, -2.0]


def test_parallel_axes_are_the_parameters_of_every_trial_then_the_objective(
    tuning: dict[str, Any],
) -> None:
    parallel = tuning["parallel"]
    assert parallel["trials"] == [0, 1, 2, 3, 4, 5]
    axes = {d["label"]: d for d in parallel["dimensions"]}
    # theta_long, enter_quantile and topk are set in some trials only: left out
    assert list(axes) == ["sizing", "long_only", "risk_aversion", "cooldown_days", "sharpe"]
    assert axes["sizing"]["ticktext"] == ["rank", "spec", "topk"]
    assert axes["sizing"]["tickvals"] == [0, 1, 2]
    assert axes["sizing"]["values"] == [1, 0, 1, 2, 0, 0]
    assert axes["long_only"] == {
        "label": "long_only",
        "values": [1, 0, 0, 1, 1, 0],
        "tickvals": [0, 1],
        "ticktext": ["false", "true"],
    }
    assert axes["risk_aversion"]["values"] == [0.05, 0.2, 0.0123457, 0.9, 0.4, 0.03]
    assert axes["cooldown_days"]["values"] == [3, 5, 2, 9, 4, 7]
    assert "ticktext" not in axes["cooldown_days"]
    assert parallel["dimensions"][-1]["values"] == [value for _, value, _, _ in TUNING_HISTORY]


def test_the_page_has_the_section_its_charts_and_a_nav_link(page: str) -> None:
    assert '<a href="#tuning">Tuning</a>' in page
    section = section_of(page)
    for chart in TUNING_CHART_IDS:
        assert f'<div id="{chart}" class="chart"></div>' in section
    assert 'id="tuning-pareto-chart"' not in page  # a one-objective study has no front
    assert '<p class="na">' not in page
    for table in ("tuning-comparison-table", "tuning-changes-table", "tuning-blocks-table"):
        assert f'<table id="{table}"' in section


def test_the_comparison_table_says_what_days_it_is_over(page: str, file: dict[str, Any]) -> None:
    section = section_of(page)
    sentence = section.index("Over the days after 2012-03-30 only (folds 2-3)")
    assert "tuned on the folds before it only" in section[sentence:]
    table = table_of(page, "tuning-comparison-table")
    assert sentence < section.index('<table id="tuning-comparison-table"')
    assert '<th colspan="5" class="group">10bps</th>' in table
    assert '<th colspan="5" class="group">20bps</th>' in table
    positions = [
        table.index(f"<strong>{name}</strong>")
        for name in ("tuned_nested", "untuned", "buy_and_hold", "regime_rule")
    ]
    assert positions == sorted(positions)
    tuned_row = table[positions[0] : positions[1]]
    for cost in ("10bps", "20bps"):
        metrics = file["comparison"][cost]["tuned_nested"]
        cells = (
            f"<td>{metrics['sharpe']:.2f}</td><td>{metrics['cagr']:.2%}</td>"
            f"<td>{metrics['max_drawdown']:.2%}</td><td>{metrics['turnover']:.2f}</td>"
            f"<td>{metrics['net_exposure']:.2%}</td>"
        )
        assert cells in tuned_row
    assert "<td>—</td>" in table[positions[2] : positions[3]]  # buy_and_hold's null CAGR
    assert "Equal-weight buy and hold of every ticker" in table  # run.json's description


def test_the_overfitting_statistics_and_the_in_sample_figure(page: str) -> None:
    section = section_of(page)
    assert "<dt>Deflated Sharpe ratio</dt><dd><strong>0.432</strong>" in section
    assert "the best of 5 trials with no skill" in section
    assert "annual Sharpe 0.440 (in sample) against 0.400 expected" in section
    assert "over 1,234 days; 1 trial without a Sharpe ratio not counted" in section
    assert "<strong>0.312</strong>, the share of 70 splits of 8 blocks" in section
    assert "the best of 6 trials in sample ranks below the median" in section
    assert "loses money out of sample in 0.250 of them" in section
    assert "sharpe 0.440 <strong>in sample</strong>" in section
    assert "optimistic" in section
    changes = table_of(page, "tuning-changes-table")
    assert "<tr><td>sizing</td><td>rank</td></tr>" in changes
    assert "<tr><td>long_only</td><td>false</td></tr>" in changes
    assert "<tr><td>enter_quantile</td><td>0.7</td></tr>" in changes


def test_the_nested_choices_table(page: str) -> None:
    blocks = table_of(page, "tuning-blocks-table")
    assert "<tr><td>2</td><td>0-1</td><td>4</td><td>0.612</td><td>4.50</td></tr>" in blocks
    assert "<tr><td>3</td><td>0-2</td><td>1</td><td>0.457</td><td>7.25</td></tr>" in blocks


def test_a_run_without_tuning_has_no_section(report_file: Path) -> None:
    page = report_file.read_text(encoding="utf-8")
    assert embedded_data(page)["tuning"] is None
    assert 'id="tuning' not in page
    assert 'href="#tuning"' not in page
    # the placeholders leave nothing behind: the page is the one of an untuned run
    assert '<a href="#features">Features by regime</a>\n</nav>' in page
    assert "</section>\n</main>" in page


def test_a_pareto_study_draws_its_front(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    write_fake_tuning(run, pareto=True)
    page = render_report(run, tmp_path / "r.html").read_text()
    assert '<div id="tuning-pareto-chart" class="chart"></div>' in section_of(page)
    assert embedded_data(page)["tuning"]["pareto"] == {
        "trial": [3, 4, 2, 5],
        "value": [0.0, 0.28, 0.31, 0.44],
        "turnover": [0.0, 3.0, 8.0, 9.5],
    }


def test_missing_importances_and_too_few_common_parameters_say_so(
    run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(run_dir, tmp_path)
    content = fake_tuning()
    content["importances"] = None
    conditional = {"theta_long", "enter_quantile", "topk"}
    for trial in content["history"]:  # `sizing` is the one parameter of every trial
        params = trial["params"]
        trial["params"] = {k: v for k, v in params.items() if k == "sizing" or k in conditional}
    write_fake_tuning(run, content)
    page = render_report(run, tmp_path / "r.html").read_text()
    data = embedded_data(page)["tuning"]
    assert data["importances"] is None
    assert data["parallel"] is None
    section = section_of(page)
    assert '<p class="na">Parameter importances not available' in section
    assert '<p class="na">Parallel coordinates not available' in section
    assert 'id="tuning-importance-chart"' not in page
    assert 'id="tuning-parallel-chart"' not in page
    assert '<div id="tuning-history-chart" class="chart"></div>' in section


def test_nan_and_a_missing_pbo_become_dashes(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    content = fake_tuning()
    content["overfitting"]["dsr"]["dsr"] = float("nan")
    content["overfitting"]["pbo"] = None
    content["history"][1]["value"] = float("nan")
    file = write_fake_tuning(run, content)
    assert "NaN" in file.read_text()  # as Python's json writes it; m002 tune writes null
    page = render_report(run, tmp_path / "r.html").read_text()
    data = embedded_data(page)["tuning"]
    assert data["dsr"]["dsr"] is None
    assert data["history"]["value"][1] is None
    assert data["history"]["best"] == [0.12, 0.12, 0.31, 0.31, 0.31, 0.44]
    assert data["parallel"]["trials"] == [0, 2, 3, 4, 5]  # a trial without a value: left out
    section = section_of(page)
    assert "<dt>Deflated Sharpe ratio</dt><dd><strong>—</strong>" in section
    assert "<dt>Probability of backtest overfitting</dt><dd>— (not computed" in section


@pytest.mark.parametrize("key", ["comparison", "history", "overfitting", "reported_after"])
def test_a_tuning_json_without_a_key_is_a_schema_error(
    run_dir: Path, tmp_path: Path, key: str
) -> None:
    run = copy_run(run_dir, tmp_path)
    content = fake_tuning()
    del content[key]
    write_fake_tuning(run, content)
    target = tmp_path / "r.html"
    with pytest.raises(SchemaError, match=rf"tuning/tuning\.json lacks the key\(s\) \['{key}'\]"):
        render_report(run, target)
    assert not target.exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("comparison", [1, 2], r'"comparison" must map each cost level'),
        ("comparison", {"10bps": {"untuned": 3}}, r'"comparison" must map each cost level'),
        (
            "history",
            [{"trial": 0, "value": "high", "params": {}}],
            r'every "history" trial must hold',
        ),
        ("history", [{"trial": 0, "value": 0.1}], r'"history" must be a list of objects'),
        (
            "blocks",
            [{"fold": 2, "tuned_on": 1, "in_sample": 0.1}],
            r'every "blocks" entry must hold',
        ),
        ("chosen", {"trial": 1}, r'"chosen" must hold'),
        ("overfitting", {"dsr": 0.5, "pbo": None}, r'"overfitting" must hold "dsr" and "pbo"'),
        ("pareto_front", [{"trial": 1}], r'"pareto_front" must be a list of objects'),
        ("importances", [0.1], r'"importances" must be null'),
    ],
)
def test_a_malformed_tuning_json_is_a_schema_error_naming_it(
    run_dir: Path, tmp_path: Path, key: str, value: Any, message: str
) -> None:
    run = copy_run(run_dir, tmp_path)
    content = fake_tuning()
    content[key] = value
    write_fake_tuning(run, content)
    with pytest.raises(SchemaError, match=rf"tuning/tuning\.json: {message}"):
        render_report(run, tmp_path / "r.html")


def test_a_tuning_json_that_is_not_json_is_a_damaged_file_error(
    run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(run_dir, tmp_path)
    file = write_fake_tuning(run)
    file.write_text(file.read_text()[:200])
    target = tmp_path / "r.html"
    with pytest.raises(DamagedFileError, match=r"tuning/tuning\.json is damaged .*`m002 tune"):
        render_report(run, target)
    assert not target.exists()


def test_a_tuning_json_that_is_not_an_object_is_a_schema_error(
    run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(run_dir, tmp_path)
    write_fake_tuning(run, [1, 2, 3])
    with pytest.raises(SchemaError, match=r"tuning/tuning\.json must hold a JSON object, got list"):
        render_report(run, tmp_path / "r.html")


def test_a_tuning_folder_without_its_file_is_a_damaged_file_error(
    run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(run_dir, tmp_path)
    write_fake_tuning(run).unlink()
    with pytest.raises(DamagedFileError, match=r"tuning/tuning\.json is missing.*`m002 tune"):
        render_report(run, tmp_path / "r.html")
