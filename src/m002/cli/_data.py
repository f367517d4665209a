"""`m002 data check|synth`, `m002 features`, `m002 labels`: the data and feature commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from m002._polars import collect
from m002.cli._app import main
from m002.cli._common import (
    _check_out_suffix,
    _end,
    _frame_table,
    _friendly_errors,
    _start,
    _step,
    _tickers,
    _tickers_option,
    _validate,
    _write,
    out,
)
from m002.features import FEATURE_SETS


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
    type=click.Choice(list(FEATURE_SETS)),
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
@_validate
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
    validate: str | None,
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
                validate=validate or "strict",  # type: ignore[arg-type]
                warmup=warmup,  # type: ignore[arg-type]
            )
        )
    with _step(f"writing {out_file}"):
        _write(frame, out_file)
    out.print(
        f"{frame.height:,} rows x {frame.width} columns, "
        f"{frame['ticker'].n_unique()} tickers -> {out_file}"
    )


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
@_validate
@_friendly_errors
def labels_cmd(
    source: Path,
    lookahead: int | None,
    start: str | None,
    end: str | None,
    tickers: str | None,
    validate: str | None,
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
            validate=validate or "strict",  # type: ignore[arg-type]
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
