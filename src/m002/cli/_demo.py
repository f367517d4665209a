"""`m002 demo`: the main job on the embedded synthetic data."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import polars as pl
from rich.table import Table

from m002._polars import collect
from m002.cli._app import main
from m002.cli._common import (
    _friendly_errors,
    _print_wide,
    _step,
    _write,
    out,
    styled,
)
from m002.cli._evaluation import _executions_table, _folds_table, _strategy_table
from m002.cli._model import _decisions_table, _print_trained_state


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
    from m002.evaluation import ExecutorConfig
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
            f"{frame.height:,} rows after warm-up, {frame['ticker'].n_unique()} "
            f"tickers, {len(names)} features, {frame['date'].min()!s} .. {frame['date'].max()!s}"
        )
        if features_only:
            return
        model = M002FullArchitecture(cache_dir=folder / "cache")
        # layer 1's models side by side, as `m002 train` fits them
        model.train(data, executor=ExecutorConfig("processes"))
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
    from m002.evaluation import ExecutorConfig, RunConfig, WalkForwardConfig, run_walkforward
    from m002.report import render_report

    out.print(
        styled("walk-forward evaluation", "bold", ": re-training fold by fold, out of sample")
    )
    config = RunConfig(walkforward=WalkForwardConfig(retrain_every="2y"))
    run = run_walkforward(
        data,
        folder / "run",
        config,
        cache_dir=folder / "cache",
        executor=ExecutorConfig("processes"),  # as `m002 walkforward` runs
    )
    _print_wide(_folds_table(run["evaluation"]))
    _print_wide(_strategy_table(run["backtest"]))
    _print_wide(_executions_table(run["backtest"]))
    with _step("rendering the HTML report"):
        report = render_report(folder / "run", folder / "report.html")
    out.print(f"report: {report} (open it in a browser)", highlight=False)
