"""Shared pieces of the command line: consoles, error handling, options, tables."""

from __future__ import annotations

import sys
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

from m002.exceptions import M002Error

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


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


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
