"""`m002 walkforward`, `m002 experiment`, `m002 backtest`, `m002 report`: the evaluation
commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from m002.cli._app import main
from m002.cli._common import (
    _config_option,
    _fmt,
    _friendly_errors,
    _print_wide,
    _read_run_config,
    _step,
    _tickers,
    _tickers_option,
    _with_cache_options,
    _with_executor_options,
    out,
)

_METRIC_COLUMNS = (
    ("cagr", "CAGR", "+.1%"),
    ("ann_vol", "vol", ".1%"),
    ("sharpe", "Sharpe", "+.2f"),
    ("sortino", "Sortino", "+.2f"),
    ("max_drawdown", "max DD", ".1%"),
    ("max_drawdown_days", "DD days", "d"),
    ("calmar", "Calmar", "+.2f"),
    ("hit_rate", "hit", ".0%"),
    ("avg_holding_days", "hold d", ".1f"),
    ("turnover", "turnover/y", ".1f"),
    ("exposure", "exposure", ".0%"),
)


def _strategy_table(metrics: dict[str, Any]) -> Table:
    costs = metrics["costs"]
    title = (
        f"out of sample, {costs['cost_bps']:g} bps + {costs['slippage_bps']:g} bps slippage per "
        f"side, gross cap {costs['gross_cap']:g}, shorts {'on' if costs['allow_short'] else 'off'}"
        f" (borrow {costs.get('borrow_bps', 0.0):g} bps/y), traded at the "
        f"{'next open' if costs.get('execution') == 'next_open' else 'close'}"
    )
    table = Table(title=title, caption=metrics["conventions"], caption_justify="left")
    table.add_column("strategy", no_wrap=True)
    for _, header, _ in _METRIC_COLUMNS:
        table.add_column(header, justify="right")
    for name in metrics["order"]:
        row = metrics["strategies"][name]
        table.add_row(name, *(_fmt(row.get(key), spec) for key, _, spec in _METRIC_COLUMNS))
    return table


def _executions_table(metrics: dict[str, Any]) -> Table:
    """Sharpe and CAGR of each strategy traded at the close and at the next open."""
    table = Table(title="the same signals traded at the close and at the next open")
    table.add_column("strategy", no_wrap=True)
    executions = metrics.get("executions", {})
    for execution in executions:
        for header in ("CAGR", "Sharpe"):
            table.add_column(f"{header} {execution}", justify="right")
    for name in metrics["order"]:
        cells = []
        for rows in executions.values():
            row = rows.get(name, {})
            cells += [_fmt(row.get("cagr"), "+.1%"), _fmt(row.get("sharpe"), "+.2f")]
        table.add_row(name, *cells)
    return table


def _folds_table(evaluation: dict[str, Any]) -> Table:
    table = Table(
        title="prediction quality per fold (out of sample)",
        caption="regime F1: layer 1's macro F1 on the rows labelled with a state, and on all "
        "rows with a known outcome (no state counted as its own outcome)",
        caption_justify="left",
    )
    headers = ("fold", "test", "AP", "base rate", "IC", "rank IC", "ICIR", "rank IC t+1")
    for header in (*headers, "regime F1 labelled", "regime F1 all rows"):
        table.add_column(header, justify="right")
    keys = (
        "ap",
        "base_rate",
        "ic_mean",
        "rank_ic_mean",
        "rank_ic_ir",
        "rank_ic_next_mean",
        "regime_macro_f1",
        "regime_all_rows_macro_f1",
    )
    specs = (".3f", ".3f", "+.4f", "+.4f", "+.2f", "+.4f", ".3f", ".3f")
    for fold in evaluation["folds"]:
        table.add_row(
            str(fold["fold"]),
            f"{fold['test_start']} .. {fold['test_end']}",
            *(_fmt(fold.get(k), spec) for k, spec in zip(keys, specs, strict=True)),
        )
    overall = evaluation["overall"]
    table.add_row("all", "", *(_fmt(overall.get(k), s) for k, s in zip(keys, specs, strict=True)))
    return table


def _with_folds(config: Any, **options: Any) -> Any:
    """``config`` (a `RunConfig`) with the walk-forward options given on the command line
    (those not None) in place of its ``[walkforward]`` values."""
    import dataclasses

    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return config
    return dataclasses.replace(config, walkforward=dataclasses.replace(config.walkforward, **given))


@main.command("walkforward")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "run_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Run folder (new, empty, or an earlier run's).",
)
@_config_option
@click.option("--retrain-every", default=None, help="'1y', '6m' or '126d' (default: config).")
@click.option("--window", type=click.Choice(["expanding", "rolling"]), default=None)
@click.option("--train-dates", type=int, default=None, help="Rolling window length (dates).")
@click.option("--first-test-date", default=None, help="First out-of-sample date (ISO).")
@click.option("--last-test-date", default=None, help="Last out-of-sample date (ISO).")
@_with_cache_options
@_with_executor_options("processes")
@_friendly_errors
def walkforward_cmd(
    source: Path,
    run_dir: Path,
    config_file: Path | None,
    retrain_every: str | None,
    window: str | None,
    train_dates: int | None,
    first_test_date: str | None,
    last_test_date: str | None,
    no_cache: bool,
    cache_dir: Path | None,
    executor: str,
    workers: int,
    ray_address: str,
) -> None:
    """Re-train the whole system fold by fold on SOURCE, predict each test block out of
    sample, backtest the strategy against its ablation and baselines, and write --out.

    Layer 1's models are fitted first (each once, shared by every fold that holds its
    dates), then the folds run: here, in worker processes or as Ray tasks (--executor),
    with the same results wherever they run."""

    from m002.evaluation import ExecutorConfig, run_walkforward

    config = _with_folds(
        _read_run_config(config_file),
        retrain_every=retrain_every,
        window=window,
        train_dates=train_dates,
        first_test_date=first_test_date,
        last_test_date=last_test_date,
    )
    run = run_walkforward(
        source,
        run_dir,
        config,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        verbose=True,
        executor=ExecutorConfig(executor, workers, ray_address),
    )
    _print_wide(_folds_table(run["evaluation"]))
    _print_wide(_strategy_table(run["backtest"]))
    _print_wide(_executions_table(run["backtest"]))
    out.print(
        f"run written to {run_dir} in {run['timings']['total_s']:.0f} s; next: "
        f"`m002 backtest {run_dir} --costs-bps 20`, `m002 report {run_dir} --out report.html`",
        highlight=False,
    )


def _experiment_table(experiment: dict[str, Any]) -> Table:
    from m002.evaluation import describe_change

    costs = experiment["backtest"]
    table = Table(
        title=f"experiment: every arm on the same folds, `{experiment['strategy']}` net of "
        f"{costs['cost_bps']:g} bps + {costs['slippage_bps']:g} bps slippage per side",
        caption="F1: layer 1's macro F1 out of sample on every row with a known outcome (all) "
        "and on the rows labelled with a state (labelled); AP beside the rebound base rate; "
        "rank IC of the expected return against the return from t (t) and from the next "
        "close (t+1, Qlib's label), with layer 1's probabilities and without them (the "
        "ablation's head, no L1); changes: the keys set unlike the first arm",
        caption_justify="left",
    )
    headers = ("arm", "changes", "F1 all", "F1 labelled", "AP", "base", "rank IC t",
               "rank IC t+1", "t+1 no L1", "Sharpe", "CAGR", "max DD", "turnover/y", "fits",
               "wall s")  # fmt: skip
    for header in headers:
        table.add_column(header, justify="left" if header in ("arm", "changes") else "right")
    for row in experiment["arms"]:
        layer1, head, book = row["layer1"], row["head"], row["backtest"]
        changes = ", ".join(describe_change(k, v) for k, v in row["changes"].items()) or "-"
        table.add_row(
            row["name"],
            changes,
            _fmt(layer1["macro_f1_all_rows"], ".3f"),
            _fmt(layer1["macro_f1_labelled"], ".3f"),
            _fmt(head["ap"], ".3f"),
            _fmt(head["base_rate"], ".3f"),
            _fmt(head["rank_ic"], "+.4f"),
            _fmt(head.get("rank_ic_next"), "+.4f"),
            _fmt(head.get("rank_ic_next_no_state_probs"), "+.4f"),
            _fmt(book["sharpe"], "+.2f"),
            _fmt(book["cagr"], "+.1%"),
            _fmt(book["max_drawdown"], ".1%"),
            _fmt(book["turnover"], ".1f"),
            str(layer1["models_fitted"]),
            f"{row['wall_s']:.0f}",
        )
    reference = experiment["reference"]["buy_and_hold"]
    table.add_row(
        "buy_and_hold", "(reference)", "", "", "", "", "", "", "",
        _fmt(reference["sharpe"], "+.2f"), _fmt(reference["cagr"], "+.1%"),
        _fmt(reference["max_drawdown"], ".1%"), _fmt(reference["turnover"], ".1f"), "", "",
    )  # fmt: skip
    return table


@main.command("experiment")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("config_files", metavar="CONFIG...", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Experiment folder (new, empty, or an earlier experiment's).",
)
@click.option(
    "--no-default",
    is_flag=True,
    help="Leave out the arm with the default configuration (else the first, named 'default').",
)
@click.option("--retrain-every", default=None, help="'1y', '6m' or '126d' (default: config).")
@click.option("--first-test-date", default=None, help="First out-of-sample date (ISO).")
@click.option("--last-test-date", default=None, help="Last out-of-sample date (ISO).")
@_with_cache_options
@_with_executor_options("processes")
@_friendly_errors
def experiment_cmd(
    source: Path,
    config_files: tuple[Path, ...],
    out_dir: Path,
    no_default: bool,
    retrain_every: str | None,
    first_test_date: str | None,
    last_test_date: str | None,
    no_cache: bool,
    cache_dir: Path | None,
    executor: str,
    workers: int,
    ray_address: str,
) -> None:
    """Walk several configurations forward on SOURCE with the same folds and costs and
    compare them in one table (written to --out/experiment.json, one run per arm under
    --out/runs/).

    Each CONFIG is a TOML file (as `m002 walkforward --config`), its arm named after the file;
    the default configuration is the first arm unless --no-default. Stages the arms share
    (features, layer-1 models with the same [labels], [regime] and [crossfit]) are computed
    once. The files must agree on [walkforward] and [backtest]."""

    from m002.evaluation import Arm, ExecutorConfig, RunConfig, run_experiment

    configs = [(path.stem, _read_run_config(path)) for path in config_files]
    if not no_default:
        shared = configs[0][1] if configs else RunConfig()
        default = RunConfig(walkforward=shared.walkforward, backtest=shared.backtest)
        configs.insert(0, ("default", default))
    if not configs:
        raise click.UsageError("give at least one CONFIG file, or leave out --no-default")
    folds = {
        "retrain_every": retrain_every,
        "first_test_date": first_test_date,
        "last_test_date": last_test_date,
    }
    arms = [Arm(name, _with_folds(config, **folds)) for name, config in configs]
    experiment = run_experiment(
        source,
        out_dir,
        arms,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        verbose=True,
        executor=ExecutorConfig(executor, workers, ray_address),
    )
    _print_wide(_experiment_table(experiment))
    out.print(
        f"experiment written to {out_dir} in {experiment['total_s']:.0f} s; each arm's run is "
        f"in {out_dir / 'runs'}; `m002 report {out_dir} --out report.html` shows the table "
        "beside the first arm's run",
        highlight=False,
    )


@main.command("backtest")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--costs-bps", type=float, default=None, help="Commission per side (default: run's).")
@click.option("--slippage-bps", type=float, default=None, help="Slippage per side.")
@click.option("--gross-cap", type=float, default=None, help="Largest sum of absolute weights.")
@click.option("--long-only/--allow-short", "long_only", default=None, help="Drop short targets.")
@click.option(
    "--execution",
    type=click.Choice(["close", "next_open"]),
    default=None,
    help="Trade a decision at that day's close or at the next day's open (default: run's).",
)
@click.option("--borrow-bps", type=float, default=None, help="Yearly fee on short weight, bps.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Decide the run anew with this TOML file's [policy] and [portfolio] (no re-training; "
    "its other pipeline sections must match the run's).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for daily/trades/metrics (default RUN_DIR/backtest).",
)
@_friendly_errors
def backtest_cmd(
    run_dir: Path,
    costs_bps: float | None,
    slippage_bps: float | None,
    gross_cap: float | None,
    long_only: bool | None,
    execution: str | None,
    borrow_bps: float | None,
    config_file: Path | None,
    out_dir: Path | None,
) -> None:
    """Re-run the backtest of a walk-forward run from its saved signals, or decide it anew
    with another policy and portfolio (--config); nothing is re-trained."""
    import dataclasses

    from m002.evaluation import BacktestConfig, backtest_run, read_run_json
    from m002.pipeline import section_from_dict

    run = read_run_json(run_dir)
    config = section_from_dict(BacktestConfig, run["config"].get("backtest", {}), "backtest")
    overrides = {
        "cost_bps": costs_bps,
        "slippage_bps": slippage_bps,
        "gross_cap": gross_cap,
        "allow_short": None if long_only is None else not long_only,
        "execution": execution,
        "borrow_bps": borrow_bps,
    }
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    decisions = None if config_file is None else _read_run_config(config_file).pipeline
    _, metrics = backtest_run(run_dir, config, out_dir=out_dir, decisions=decisions)
    _print_wide(_strategy_table(metrics))
    _print_wide(_executions_table(metrics))
    target = out_dir or run_dir / "backtest"
    out.print(f"written to {target} in {time.perf_counter() - started:.1f} s", highlight=False)


@main.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    required=True,
    help="The HTML file to write.",
)
@_tickers
@_friendly_errors
def report_cmd(run_dir: Path, out_file: Path, tickers: str | None) -> None:
    """Write one self-contained HTML report and explorer of a walk-forward run (with its
    tuning, where `m002 tune` has run on it), or of an `m002 experiment` folder (its
    comparison of the arms, above the first arm's run)."""
    from m002.report import render_report

    if out_file.suffix.lower() not in (".html", ".htm"):
        msg = f"--out must end in .html, got {out_file}"
        raise click.BadParameter(msg)
    with _step("rendering the report"):
        path = render_report(run_dir, out_file, tickers=_tickers_option(tickers))
    size_mb = path.stat().st_size / 2**20
    out.print(f"report written to {path} ({size_mb:.1f} MB); open it in a browser", highlight=False)
