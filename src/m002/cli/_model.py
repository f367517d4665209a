"""`m002 train` and `m002 predict`: the model commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import polars as pl
from rich.table import Table

from m002.cli._app import main
from m002.cli._common import (
    _check_out_suffix,
    _config_option,
    _fmt,
    _friendly_errors,
    _read_config,
    _step,
    _validate,
    _with_cache_options,
    _with_executor_options,
    _write,
    out,
)
from m002.exceptions import M002Error


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
@_validate
@_with_cache_options
@_with_executor_options("processes")
@_friendly_errors
def train_cmd(
    source: Path,
    out_dir: Path,
    config_file: Path | None,
    validate: str | None,
    no_cache: bool,
    cache_dir: Path | None,
    executor: str,
    workers: int,
    ray_address: str,
) -> None:
    """Train the whole system on SOURCE and save it to --out.

    Layer 1's models (one per cross-fit block, and the final one) are fitted side by side in
    worker processes, or as Ray tasks (--executor); the model is the same wherever they ran.
    --out must be new, empty or an earlier model: the model is written beside it and
    renamed into place when complete, so an earlier model there is replaced only then.
    """
    from m002._io import check_replaceable
    from m002.evaluation import ExecutorConfig
    from m002.pipeline import M002FullArchitecture

    check_replaceable(out_dir, kind="model", option="--out")  # before minutes of training
    config = _with_validate(_read_config(config_file), validate)
    model = M002FullArchitecture(config, cache_dir=cache_dir, use_cache=not no_cache)
    model.train(source, executor=ExecutorConfig(executor, workers, ray_address))
    model.save(out_dir, option="--out")
    _print_trained_state(model.trained_state)
    out.print(f"model saved to {out_dir}")


def _print_trained_state(state: dict[str, Any]) -> None:
    head = state["head"]["held_out"]
    ic = head["ic"]
    regime = state["regime"]
    lines = [
        f"rows {state['rows']:,}, tickers {state['tickers']}, dates {state['dates'][0]} .. "
        f"{state['dates'][1]}",
        "layer 1: macro F1 on labelled rows "
        f"{_fmt(regime['validation'].get('macro_f1'), '.3f')} (validation), "
        f"{_fmt(regime['crossfit'].get('macro_f1'), '.3f')} (cross-fitted); on all rows with a "
        f"known outcome {_fmt(regime['validation'].get('all_rows', {}).get('macro_f1'), '.3f')}"
        f" / {_fmt(regime['crossfit'].get('all_rows', {}).get('macro_f1'), '.3f')} (log loss "
        f"{_fmt(regime['crossfit'].get('all_rows', {}).get('log_loss'), '.3f')})",
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
@_validate
@_with_cache_options
@_friendly_errors
def predict_cmd(
    model_dir: Path,
    source: Path,
    asof: str | None,
    out_file: Path,
    validate: str | None,
    no_cache: bool,
    cache_dir: Path | None,
) -> None:
    """Decisions of a trained model (MODEL_DIR) on SOURCE.

    With --asof, a day that is not a trading day in the data gives the last trading day
    before it, and every ticker without a decision that day is listed with the reason.
    Rows whose date lies inside the model's training period have in_sample = true.
    """
    from m002.pipeline import M002FullArchitecture

    _check_out_suffix(out_file)
    with _step(f"loading the model {model_dir}"):
        model = M002FullArchitecture.load(model_dir, cache_dir=cache_dir, use_cache=not no_cache)
    model.config = _with_validate(model.config, validate)
    with _step(f"predicting {source}" + (f" as of {asof}" if asof else "")):
        decisions = model.predict(source, asof=asof)
    if decisions.height == 0:
        msg = f"no decisions to write: no ticker in {source} has a row on the day asked for"
        raise M002Error(msg)
    _write(decisions, out_file)
    out.print(f"{decisions.height:,} rows -> {out_file}")
    if asof is not None:
        out.print(_decisions_table(decisions))
        notes = model.last_predict_
        if notes["in_sample"]:
            out.print(
                f"note: {notes['day']} lies inside the model's training period "
                "(in_sample = true): these decisions are not out of sample"
            )
        if len(notes["left_out"]) > 10:  # the warning above named the first ten
            for entry in notes["left_out"]:
                out.print(f"no decision: {entry['ticker']}: {entry['reason']}")


def _with_validate(config: Any, validate: str | None) -> Any:
    """The pipeline config with --validate applied, where given."""
    import dataclasses

    return config if validate is None else dataclasses.replace(config, validate=validate)


def _decisions_table(decisions: pl.DataFrame, limit: int = 20) -> Table:
    """The strongest decisions of one day: the largest target weights of the book first."""
    dates = decisions["date"].unique().sort().to_list()
    when = str(dates[0]) if len(dates) == 1 else f"{dates[0]} .. {dates[-1]}"
    table = Table(title=f"decisions {when}: {decisions.height} rows, top {limit} by |weight|")
    headers = ("ticker", "weight", "action", "size", "score", "P(rebound)", "E(ret) %", "E(dd) %")
    for column in headers:
        table.add_column(column, justify="left" if column in ("ticker", "action") else "right")
    top = decisions.sort(
        pl.col("target_weight").abs(), pl.col("position_size").abs(), descending=True
    ).head(limit)
    for row in top.iter_rows(named=True):
        table.add_row(
            row["ticker"],
            f"{row['target_weight']:+.3f}",
            row["action"],
            f"{row['position_size']:+.3f}",
            _fmt(row["policy_score"], "+.5f"),
            _fmt(row["pred_rebound_prob"], ".3f"),
            _fmt(row["pred_expected_ret_pct"], "+.2f"),
            _fmt(row["pred_expected_dd_pct"], "+.2f"),
        )
    return table
