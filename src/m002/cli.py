"""The `m002` command line: data checks, synthetic data, features and the demo job.

The CLI is the only place that reads options from the outside world; it calls the library and
turns its typed errors into one clear line and exit code 2.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import polars as pl
from rich.console import Console
from rich.table import Table

from m002 import __version__
from m002._polars import collect
from m002.exceptions import M002Error

__all__ = ["main"]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(stderr=True)
out = Console()


def _friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print an M002Error (bad input, bad option) or an OSError (a path that is missing, not a
    folder, not readable) as one line and exit 2, no traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (M002Error, OSError) as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
            sys.exit(2)

    return wrapper


@contextmanager
def _step(message: str) -> Iterator[None]:
    """A spinner while a step runs, then the step's wall time."""
    start = time.perf_counter()
    with console.status(message):
        yield
    console.print(f"[green]done[/] {message} ({time.perf_counter() - start:.1f} s)")


def _check_out_suffix(path: Path) -> None:
    if path.suffix.lower() not in (".parquet", ".csv"):
        msg = f"`--out` must end in .parquet or .csv, got `{path}`"
        raise click.BadParameter(msg)


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)


def _tickers_option(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [t.strip() for t in value.split(",") if t.strip()]


_start = click.option("--start", default=None, help="First date, YYYY-MM-DD (inclusive).")
_end = click.option("--end", default=None, help="Last date, YYYY-MM-DD (inclusive).")
_tickers = click.option("--tickers", default=None, help="Comma-separated tickers, e.g. AAPL,MSFT.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="m002")
def main() -> None:
    """m002: daily OHLCV -> regime probabilities -> multi-task head -> LONG/SHORT/FLAT.

    \b
    Start here:
      m002 demo                         synthetic data -> features -> summary
      m002 data synth --out DIR         write a synthetic universe to DIR
      m002 data check PATH              validate a folder or file of daily prices
      m002 features PATH --out F.parquet  build a feature set
      m002 labels PATH                  regime label distribution, overall and per year
    """


@main.group()
def data() -> None:
    """Validate or synthesise Silver OHLCV data."""


@data.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@_start
@_end
@_tickers
@click.option(
    "--min-rows",
    type=int,
    default=None,
    help="Flag tickers with fewer rows (default: the m002 set's longest warm-up + 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_friendly_errors
def data_check(
    path: Path,
    start: str | None,
    end: str | None,
    tickers: str | None,
    min_rows: int | None,
    as_json: bool,
) -> None:
    """Validate PATH (folder of per-ticker files, one multi-ticker file, or hive folders).

    Prints every rule broken with the exact row count per rule and ticker, and exits 1 when
    anything would be dropped, 0 when the data is clean.
    """
    from m002.data import check_silver
    from m002.features import longest_warmup

    rows = longest_warmup("m002") + 1 if min_rows is None else min_rows
    with _step(f"checking {path}"):
        report = check_silver(
            path, start=start, end=end, tickers=_tickers_option(tickers), min_rows=rows
        )
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
    else:
        out.print(report.summary(), highlight=False)
    sys.exit(0 if report.ok else 1)


@data.command("synth")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write (one file per ticker + _regimes.parquet).",
)
@click.option("--tickers", "n_tickers", default=50, show_default=True, help="Number of tickers.")
@click.option("--days", "n_days", default=1500, show_default=True, help="Trading days per ticker.")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same data).")
@click.option("--start", default="2010-01-04", show_default=True, help="First date.")
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@_friendly_errors
def data_synth(out_dir: Path, n_tickers: int, n_days: int, seed: int, start: str, fmt: str) -> None:
    """Write a synthetic regime-switching universe with its ground-truth regimes."""
    from m002.data import write_synthetic

    with _step(f"writing {n_tickers} tickers x {n_days} days to {out_dir}"):
        write_synthetic(
            out_dir,
            n_tickers=n_tickers,
            n_days=n_days,
            seed=seed,
            start=start,
            fmt=fmt,  # type: ignore[arg-type]
        )
    out.print(f"{n_tickers * n_days:,} rows in {out_dir} (ground truth: _regimes.parquet)")


@main.command("features")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--set",
    "set_name",
    type=click.Choice(["v1", "v2", "v3", "m002"]),
    default="m002",
    show_default=True,
    help="Feature set.",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(path_type=Path),
    help="Output .parquet or .csv.",
)
@_start
@_end
@_tickers
@click.option(
    "--validate",
    type=click.Choice(["strict", "lenient", "off"]),
    default="strict",
    show_default=True,
    help="strict: stop at the first bad row; lenient: drop bad rows and report them.",
)
@click.option(
    "--warmup",
    type=click.Choice(["keep", "drop", "flag"]),
    default="keep",
    show_default=True,
    help="Rows of each ticker before every feature is defined.",
)
@_friendly_errors
def features_cmd(
    source: Path,
    set_name: str,
    out_file: Path,
    start: str | None,
    end: str | None,
    tickers: str | None,
    validate: str,
    warmup: str,
) -> None:
    """Build a feature set from SOURCE and write it to --out."""
    from m002.features import build_dataset

    _check_out_suffix(out_file)
    with _step(f"loading {source} and building the {set_name} features"):
        frame = collect(
            build_dataset(
                source,
                set_name,
                start=start,
                end=end,
                tickers=_tickers_option(tickers),
                validate=validate,  # type: ignore[arg-type]
                warmup=warmup,  # type: ignore[arg-type]
            )
        )
    with _step(f"writing {out_file}"):
        _write(frame, out_file)
    out.print(
        f"{frame.height:,} rows x {frame.width} columns, "
        f"{frame['ticker'].n_unique()} tickers -> {out_file}"
    )


def _frame_table(frame: pl.DataFrame, title: str, *, percent: list[str]) -> Table:
    """A rich table of a small frame; columns in ``percent`` shown as percentages."""
    rows: list[list[str]] = []
    for row in frame.iter_rows(named=True):
        cells = []
        for name, value in row.items():
            if value is None:
                cells.append("")
            elif name in percent:
                cells.append(f"{100 * value:.1f}%")
            else:
                cells.append(f"{value:,}" if name == "rows" else str(value))
        rows.append(cells)
    table = Table(title=title)
    for i, name in enumerate(frame.columns):
        # values never wrap; long headers may, so the table fits an 80-column terminal
        widest = max((len(r[i]) for r in rows), default=1)
        is_text = frame.schema[name] == pl.String
        table.add_column(
            name, justify="left" if is_text else "right", min_width=widest, overflow="fold"
        )
    for cells in rows:
        table.add_row(*cells)
    return table


@main.command("labels")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--lookahead",
    type=int,
    default=None,
    help="Days of hindsight the labels may use (default 5; 0 = purely causal labels).",
)
@_start
@_end
@_tickers
@click.option("--validate", type=click.Choice(["strict", "lenient", "off"]), default="strict")
@_friendly_errors
def labels_cmd(
    source: Path,
    lookahead: int | None,
    start: str | None,
    end: str | None,
    tickers: str | None,
    validate: str,
) -> None:
    """Regime labels of SOURCE: rows per state overall and per year."""
    from m002.features import build_dataset
    from m002.labels import (
        RegimeLabelConfig,
        assign_regime_labels,
        label_distribution,
        label_distribution_by_year,
    )

    config = RegimeLabelConfig() if lookahead is None else RegimeLabelConfig(lookahead=lookahead)
    with _step(f"features and regime labels of {source} (lookahead {config.lookahead})"):
        frame = build_dataset(
            source,
            "m002",
            start=start,
            end=end,
            tickers=_tickers_option(tickers),
            validate=validate,  # type: ignore[arg-type]
        )
        labelled = collect(assign_regime_labels(frame, config))
    overall = label_distribution(labelled).drop("regime_state_id")
    out.print(
        _frame_table(
            overall,
            f"regime labels, lookahead {config.lookahead} days",
            percent=["share", "share_of_labelled"],
        )
    )
    by_year = label_distribution_by_year(labelled)
    states = [c for c in by_year.columns if c not in ("year", "rows")]
    out.print(_frame_table(by_year, "share of each year's rows", percent=states))


def _read_run_config(path: Path | None) -> Any:
    """The RunConfig of a TOML file (or the defaults); the only place config files are read.

    One file serves every command: the pipeline's sections, plus ``[walkforward]`` and
    ``[backtest]`` (which ``train`` and ``predict`` ignore)."""
    import tomllib

    from m002.evaluation import RunConfig, run_config_from_dict
    from m002.exceptions import ConfigError

    if path is None:
        return RunConfig()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        msg = f"config file not found: {path}"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path} is not valid TOML: {exc}"
        raise ConfigError(msg) from None
    try:
        return run_config_from_dict(data)
    except ConfigError as exc:
        msg = f"{path}: {exc}"
        raise ConfigError(msg) from None


def _read_config(path: Path | None) -> Any:
    """The pipeline's M002Config of a TOML file (or the defaults)."""
    return _read_run_config(path).pipeline


_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML file with [labels], [targets], [regime], [crossfit], [head], [policy], "
    "[walkforward], [backtest] sections (see docs/config.md); unknown keys are an error.",
)
_cache_options = [
    click.option("--no-cache", is_flag=True, help="Neither read nor write the stage cache."),
    click.option(
        "--cache-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Stage cache folder (default $M002_CACHE_DIR or ~/.cache/m002).",
    ),
]


def _with_cache_options(func: Callable[P, R]) -> Callable[P, R]:
    for option in reversed(_cache_options):
        func = option(func)
    return func


@main.command("train")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Model folder to write.",
)
@_config_option
@_with_cache_options
@_friendly_errors
def train_cmd(
    source: Path, out_dir: Path, config_file: Path | None, no_cache: bool, cache_dir: Path | None
) -> None:
    """Train the whole system on SOURCE and save it to --out."""
    from m002.pipeline import M002FullArchitecture

    config = _read_config(config_file)
    model = M002FullArchitecture(config, cache_dir=cache_dir, use_cache=not no_cache)
    model.train(source)
    model.save(out_dir)
    _print_trained_state(model.trained_state)
    out.print(f"model saved to {out_dir}")


def _print_trained_state(state: dict[str, Any]) -> None:
    head = state["head"]["held_out"]
    ic = head["ic"]
    regime = state["regime"]
    lines = [
        f"rows {state['rows']:,}, tickers {state['tickers']}, dates {state['dates'][0]} .. "
        f"{state['dates'][1]}",
        f"layer 1: validation macro F1 {regime['validation']['macro_f1']:.3f}, "
        f"cross-fitted macro F1 {regime['crossfit'].get('macro_f1', float('nan')):.3f}",
        f"layer 2 (held-out {state['head']['split']['valid_start']} on, "
        f"{head['n_rows']:,} rows): AP {head['average_precision']:.3f} "
        f"(base rate {head['base_rate']:.3f}), MAE ret {head['mae_ret_pct']:.2f}%, "
        f"MAE dd {head['mae_dd_pct']:.2f}%, IC {ic['ic_mean']:.4f}, rank IC "
        f"{ic['rank_ic_mean']:.4f} over {ic['n_dates']} dates",
        "layer 3: mean policy score "
        f"{state['policy']['mean_policy_score']:.5f}, actions "
        + ", ".join(
            f"{a} {100 * s:.0f}%" for a, s in sorted(state["policy"]["action_shares"].items())
        ),
        "timings: " + ", ".join(f"{k} {v}" for k, v in state["timings"].items()),
    ]
    for line in lines:
        out.print(line, highlight=False)


@main.command("predict")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--asof", default=None, help="A date (YYYY-MM-DD) or 'latest': decisions for that day only."
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(path_type=Path),
    help="Output .parquet or .csv.",
)
@_with_cache_options
@_friendly_errors
def predict_cmd(
    model_dir: Path,
    source: Path,
    asof: str | None,
    out_file: Path,
    no_cache: bool,
    cache_dir: Path | None,
) -> None:
    """Decisions of a trained model (MODEL_DIR) on SOURCE."""
    from m002.pipeline import M002FullArchitecture

    _check_out_suffix(out_file)
    model = M002FullArchitecture.load(model_dir, cache_dir=cache_dir, use_cache=not no_cache)
    with _step(f"predicting {source}" + (f" as of {asof}" if asof else "")):
        decisions = model.predict(source, asof=asof)
    _write(decisions, out_file)
    out.print(f"{decisions.height:,} rows -> {out_file}")
    if asof is not None:
        out.print(_decisions_table(decisions))


def _decisions_table(decisions: pl.DataFrame, limit: int = 20) -> Table:
    """The strongest decisions of one day, largest positions first."""
    dates = decisions["date"].unique().sort().to_list()
    when = str(dates[0]) if len(dates) == 1 else f"{dates[0]} .. {dates[-1]}"
    table = Table(title=f"decisions {when}: {decisions.height} rows, top {limit} by |size|")
    headers = ("ticker", "action", "size", "score", "P(rebound)", "E(ret) %", "E(dd) %")
    for column in headers:
        table.add_column(column, justify="left" if column in ("ticker", "action") else "right")
    top = decisions.sort(pl.col("position_size").abs(), descending=True).head(limit)
    for row in top.iter_rows(named=True):
        table.add_row(
            row["ticker"],
            row["action"],
            f"{row['position_size']:+.3f}",
            _fmt(row["policy_score"], "+.5f"),
            _fmt(row["pred_rebound_prob"], ".3f"),
            _fmt(row["pred_expected_ret_pct"], "+.2f"),
            _fmt(row["pred_expected_dd_pct"], "+.2f"),
        )
    return table


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


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


def _print_wide(table: Table) -> None:
    """Print a metrics table whole: never narrower than it needs (a log file or a narrow
    terminal would otherwise cut every number to an ellipsis)."""
    needed = out.measure(table, options=out.options.update(width=1_000)).maximum
    if needed <= out.width:
        out.print(table)
        return
    # Console.print caps `width` at the console's own width: a wider console on the same file
    wide = Console(file=out.file, width=needed, force_terminal=out.is_terminal)
    wide.print(table)


def _strategy_table(metrics: dict[str, Any]) -> Table:
    costs = metrics["costs"]
    title = (
        f"out of sample, {costs['cost_bps']:g} bps + {costs['slippage_bps']:g} bps slippage per "
        f"side, gross cap {costs['gross_cap']:g}, shorts {'on' if costs['allow_short'] else 'off'}"
    )
    table = Table(title=title, caption=metrics["conventions"], caption_justify="left")
    table.add_column("strategy", no_wrap=True)
    for _, header, _ in _METRIC_COLUMNS:
        table.add_column(header, justify="right")
    for name in metrics["order"]:
        row = metrics["strategies"][name]
        table.add_row(name, *(_fmt(row.get(key), spec) for key, _, spec in _METRIC_COLUMNS))
    return table


def _folds_table(evaluation: dict[str, Any]) -> Table:
    table = Table(title="prediction quality per fold (out of sample)")
    for header in ("fold", "test", "AP", "base rate", "IC", "rank IC", "ICIR", "regime F1"):
        table.add_column(header, justify="right")
    keys = ("ap", "base_rate", "ic_mean", "rank_ic_mean", "rank_ic_ir", "regime_macro_f1")
    specs = (".3f", ".3f", "+.4f", "+.4f", "+.2f", ".3f")
    for fold in evaluation["folds"]:
        table.add_row(
            str(fold["fold"]),
            f"{fold['test_start']} .. {fold['test_end']}",
            *(_fmt(fold.get(k), spec) for k, spec in zip(keys, specs, strict=True)),
        )
    overall = evaluation["overall"]
    table.add_row("all", "", *(_fmt(overall.get(k), s) for k, s in zip(keys, specs, strict=True)))
    return table


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
) -> None:
    """Re-train the whole system fold by fold on SOURCE, predict each test block out of
    sample, backtest the strategy against its ablation and baselines, and write --out."""
    import dataclasses

    from m002.evaluation import run_walkforward

    config = _read_run_config(config_file)
    overrides = {
        "retrain_every": retrain_every,
        "window": window,
        "train_dates": train_dates,
        "first_test_date": first_test_date,
        "last_test_date": last_test_date,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        walkforward = dataclasses.replace(config.walkforward, **given)
        config = dataclasses.replace(config, walkforward=walkforward)
    run = run_walkforward(
        source, run_dir, config, cache_dir=cache_dir, use_cache=not no_cache, verbose=True
    )
    _print_wide(_folds_table(run["evaluation"]))
    _print_wide(_strategy_table(run["backtest"]))
    out.print(
        f"run written to {run_dir} in {run['timings']['total_s']:.0f} s; next: "
        f"`m002 backtest {run_dir} --costs-bps 20`, `m002 report {run_dir} --out report.html`",
        highlight=False,
    )


@main.command("backtest")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--costs-bps", type=float, default=None, help="Commission per side (default: run's).")
@click.option("--slippage-bps", type=float, default=None, help="Slippage per side.")
@click.option("--gross-cap", type=float, default=None, help="Largest sum of absolute weights.")
@click.option("--long-only/--allow-short", "long_only", default=None, help="Drop short targets.")
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
    out_dir: Path | None,
) -> None:
    """Re-run the backtest of a walk-forward run from its saved signals (no re-training)."""
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
    }
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    _, metrics = backtest_run(run_dir, config, out_dir=out_dir)
    _print_wide(_strategy_table(metrics))
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
    """Write one self-contained HTML report and explorer of a walk-forward run."""
    from m002.report import render_report

    if out_file.suffix.lower() not in (".html", ".htm"):
        msg = f"--out must end in .html, got {out_file}"
        raise click.BadParameter(msg)
    with _step("rendering the report"):
        path = render_report(run_dir, out_file, tickers=_tickers_option(tickers))
    size_mb = path.stat().st_size / 2**20
    out.print(f"report written to {path} ({size_mb:.1f} MB); open it in a browser", highlight=False)


@main.group()
def cache() -> None:
    """Inspect or clear the stage cache."""


@cache.command("list")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
@_friendly_errors
def cache_list(cache_dir: Path | None) -> None:
    """List cache entries."""
    from m002.pipeline import StageCache, default_cache_dir

    store = StageCache(cache_dir or default_cache_dir())
    out.print(store.entries())


@cache.command("clear")
@click.option("--stage", default=None, help="Only this stage (features, regime, head, ...).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
@_friendly_errors
def cache_clear(stage: str | None, cache_dir: Path | None) -> None:
    """Remove cache entries (all, or one stage's)."""
    from m002.pipeline import StageCache, default_cache_dir

    store = StageCache(cache_dir or default_cache_dir())
    removed = store.clear(stage)
    out.print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}")


def _summary_table(frame: pl.DataFrame, names: list[str]) -> Table:
    table = Table(title="m002 features (after warm-up)", show_lines=False)
    table.add_column("feature", no_wrap=True, min_width=26)
    for column in ("mean", "std", "min", "max", "null %"):
        table.add_column(column, justify="right")
    stats = frame.select(
        *(pl.col(n).cast(pl.Float64).mean().alias(f"{n}|mean") for n in names),
        *(pl.col(n).cast(pl.Float64).std().alias(f"{n}|std") for n in names),
        *(pl.col(n).cast(pl.Float64).min().alias(f"{n}|min") for n in names),
        *(pl.col(n).cast(pl.Float64).max().alias(f"{n}|max") for n in names),
        *(pl.col(n).null_count().alias(f"{n}|null") for n in names),
    ).row(0, named=True)
    for n in names:
        table.add_row(
            n,
            *(f"{stats[f'{n}|{s}']:.4g}" for s in ("mean", "std", "min", "max")),
            f"{100 * stats[f'{n}|null'] / max(frame.height, 1):.2f}",
        )
    return table


@main.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the synthetic data, model and decisions here (default: a temp folder).",
)
@click.option("--tickers", "n_tickers", default=50, show_default=True)
@click.option("--days", "n_days", default=1500, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--features-only", is_flag=True, help="Stop after the feature summary.")
@click.option(
    "--no-evaluate",
    is_flag=True,
    help="Skip the walk-forward (two folds), the backtest and the HTML report.",
)
@_friendly_errors
def demo(
    out_dir: Path | None,
    n_tickers: int,
    n_days: int,
    seed: int,
    features_only: bool,
    no_evaluate: bool,
) -> None:
    """The main job on the embedded default data: a synthetic universe -> m002 features ->
    train the three layers -> today's decisions -> a walk-forward evaluation with its
    backtest and HTML report."""
    from m002.data import write_synthetic
    from m002.features import build_dataset, feature_names
    from m002.pipeline import M002FullArchitecture

    with tempfile.TemporaryDirectory(prefix="m002_demo_") as tmp:
        folder = out_dir or Path(tmp)
        data = folder / "data"
        with _step(f"synthetic universe: {n_tickers} tickers x {n_days} days -> {data}"):
            write_synthetic(data, n_tickers=n_tickers, n_days=n_days, seed=seed)
        with _step("loading, validating and building the m002 features"):
            frame = collect(build_dataset(data, "m002", warmup="drop"))
        names = feature_names("m002")
        out.print(_summary_table(frame, names))
        out.print(
            f"[bold]{frame.height:,}[/] rows after warm-up, {frame['ticker'].n_unique()} "
            f"tickers, {len(names)} features, {frame['date'].min()!s} .. {frame['date'].max()!s}"
        )
        if features_only:
            return
        model = M002FullArchitecture(cache_dir=folder / "cache")
        model.train(data)
        model.save(folder / "model")
        _print_trained_state(model.trained_state)
        with _step("predicting the latest date"):
            today = model.predict(data, asof="latest")
        _write(today, folder / "decisions.csv")
        out.print(_decisions_table(today, limit=15))
        kept = "" if out_dir else " (temporary: pass --out DIR to keep them)"
        out.print(f"model in {folder / 'model'}, decisions in {folder / 'decisions.csv'}{kept}")
        if not no_evaluate:
            _demo_evaluation(data, folder)


def _demo_evaluation(data: Path, folder: Path) -> None:
    """Walk-forward with two-year test blocks on the demo data, then the report."""
    from m002.evaluation import RunConfig, WalkForwardConfig, run_walkforward
    from m002.report import render_report

    out.print("[bold]walk-forward evaluation[/]: re-training fold by fold, out of sample")
    config = RunConfig(walkforward=WalkForwardConfig(retrain_every="2y"))
    run = run_walkforward(data, folder / "run", config, cache_dir=folder / "cache")
    _print_wide(_folds_table(run["evaluation"]))
    _print_wide(_strategy_table(run["backtest"]))
    with _step("rendering the HTML report"):
        report = render_report(folder / "run", folder / "report.html")
    out.print(f"report: {report} (open it in a browser)", highlight=False)


def _run(argv: list[str] | None = None) -> Any:  # pragma: no cover - thin shim for python -m
    return main.main(args=argv)


if __name__ == "__main__":  # pragma: no cover
    _run()
