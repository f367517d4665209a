"""`render_report`: one self-contained HTML file for a walk-forward run directory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from plotly.offline import get_plotlyjs

from m002 import __version__
from m002._io import atomic_file
from m002.report._html import (
    escape,
    experiment_section,
    fill_template,
    fold_table,
    header,
    not_available,
    options,
    outcome_table,
    read_asset,
    strategy_table,
    tuning_section,
)
from m002.report._payload import available_tickers, build_payload, script_json, select_tickers
from m002.report._rundir import (
    EVALUATION_JSON,
    PREDICTIONS,
    Experiment,
    RunDir,
    read_experiment,
    read_run_dir,
)

__all__ = ["DEFAULT_NAME", "render_report"]

DEFAULT_NAME: Final = "report.html"
"""File name `render_report` writes when ``out`` is an existing directory."""


def render_report(
    run_dir: str | Path,
    out: str | Path,
    *,
    tickers: Sequence[str] | None = None,
) -> Path:
    """Write one self-contained HTML report of a walk-forward run directory.

    The page holds the strategy metrics of the backtest (with the conventions they follow),
    equity and drawdown curves, prediction metrics per fold (layer 1 on the labelled rows and
    on every row with a known outcome), a per-ticker explorer (prices with the policy's
    actions, regime probabilities, position size, event flags), the regime confusion matrix,
    layer 1's reliability diagram per outcome, the head's calibration curve and feature
    distributions by regime. A run tuned by ``m002 tune`` adds its tuning section: the tuned
    and untuned strategies on the folds that did not choose them, the deflated Sharpe ratio
    and the probability of backtest overfitting, the chosen changes, the search's history,
    parameter importances, parallel coordinates, Pareto front, and the nested choices.
    plotly.js and the data are embedded, so the file opens from disk with no server and no
    network. Every number comes from the run directory; the report only reshapes and rounds.

    Parameters
    ----------
    run_dir : str or Path
        Run directory written by ``m002 walkforward`` (``run.json``, ``predictions.parquet``,
        ``evaluation.json``) and ``m002 backtest`` (``backtest/daily.parquet``,
        ``backtest/metrics.json``); where it has ``tuning/tuning.json`` (``m002 tune``), the
        page shows it too. An experiment folder of ``m002 experiment`` (``experiment.json``)
        gives the page of its first arm's run with the experiment's comparison on top.
    out : str or Path
        The HTML file to write (parent folders are created), or an existing directory to
        write ``report.html`` into. An existing file is replaced.
    tickers : sequence of str, optional
        Restrict the ticker explorer to these tickers, in this order (the default: all
        tickers of ``predictions.parquet``). Each ticker adds about 60 bytes per day.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileNotFoundError
        ``run_dir`` or a file of it is missing; the message names the command that writes it
        (``m002 backtest RUN_DIR`` for ``backtest/``).
    SchemaError
        A file lacks a key or column the report needs.
    DamagedFileError
        A JSON file is not valid JSON, or the ``tuning/`` folder lacks ``tuning.json``.
    ConfigError
        ``tickers`` is empty or names a ticker that ``predictions.parquet`` does not hold.

    Examples
    --------
    >>> from m002.report import render_report
    >>> render_report("runs/sp500", "runs/sp500/report.html")  # doctest: +SKIP
    PosixPath('runs/sp500/report.html')
    """
    experiment = read_experiment(run_dir)
    run = read_run_dir(run_dir if experiment is None else experiment.first_run)
    available = available_tickers(run)
    chosen = select_tickers(tickers, available, source=run.path / PREDICTIONS)
    payload = build_payload(run, chosen)
    page = fill_template(
        read_asset("_template.html"),
        {**_parts(run, payload, n_tickers=len(available)), **_experiment_parts(experiment)},
    )
    target = _target(Path(out))
    # a reader (a browser left open on the report) never sees half a file
    with atomic_file(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


def _parts(run: RunDir, payload: dict[str, Any], *, n_tickers: int) -> dict[str, str]:
    evaluation = run.evaluation
    where = run.path / EVALUATION_JSON
    explorer = payload["explorer"]
    features = payload["features"]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "title": f"m002 walk-forward report: {escape(run.path.resolve().name)}",
        "header": header(
            run.run,
            run.metrics.get("costs") or {},
            n_tickers=n_tickers,
            shown=len(explorer["series"]),
        ),
        "strategy_table": strategy_table(run.metrics, run.run.get("strategies") or {}),
        "conventions": escape(run.metrics["conventions"]),
        "equity": (
            '<div id="equity-chart" class="chart"></div>\n'
            '<div id="drawdown-chart" class="chart"></div>'
            if payload["backtest"]["strategies"]
            else not_available("Equity curves", f"{run.path / 'backtest/daily.parquet'} is empty")
        ),
        "fold_table": fold_table(evaluation, run.run.get("folds") or []),
        "explorer": (
            options(explorer["tickers"], select_id="ticker-select", label="Ticker")
            + '\n<div id="ticker-chart" class="chart"></div>'
            if explorer["series"]
            else not_available("Ticker explorer", "predictions.parquet has no rows")
        ),
        "confusion": (
            '<div id="confusion-chart" class="chart"></div>'
            if payload["confusion"]
            else not_available("Confusion matrix", f'{where} has no "confusion_matrix"')
        ),
        "confusion_rows": escape(
            (payload["confusion"] or {}).get("rows") or "the labelled test rows"
        ),
        "reliability": (
            '<div id="reliability-chart" class="chart"></div>\n'
            + outcome_table(payload["reliability"])
            if payload["reliability"]
            else not_available(
                "Reliability", f'{where} has no "regime_reliability" (a run of an older m002)'
            )
        ),
        "calibration": (
            '<div id="calibration-chart" class="chart"></div>'
            if payload["calibration"]
            else not_available("Calibration", f'{where} has no "calibration" bins')
        ),
        "features": (
            options(features["features"], select_id="feature-select", label="Feature")
            + '\n<div id="feature-chart" class="chart"></div>'
            if features
            else not_available("Feature distributions", f'{where} has no "feature_by_regime"')
        ),
        # only a tuned run has the section: the page of any other is as it was
        "tuning_nav": '\n  <a href="#tuning">Tuning</a>' if payload["tuning"] else "",
        "tuning": (
            "\n\n" + tuning_section(payload["tuning"], run.run.get("strategies") or {})
            if payload["tuning"]
            else ""
        ),
        "footer": f"generated by m002 {escape(__version__)} on {generated}",
        "data": script_json(payload),
        "plotly": str(get_plotlyjs()),
        "script": read_asset("_report.js"),
    }


def _experiment_parts(experiment: Experiment | None) -> dict[str, str]:
    # only an experiment's page has the section: a run's page is as it was
    if experiment is None:
        return {"experiment_nav": "", "experiment": ""}
    return {
        "experiment_nav": '  <a href="#experiment">Experiment</a>\n',
        "experiment": experiment_section(experiment.table) + "\n\n",
    }


def _target(out: Path) -> Path:
    return out / DEFAULT_NAME if out.is_dir() else out
