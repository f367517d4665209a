"""Shared pieces of the command line: consoles, error handling, options, tables."""

from __future__ import annotations

import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from m002._io import write_frame
from m002.exceptions import M002Error

P = ParamSpec("P")
R = TypeVar("R")

# Nothing m002 prints is read as rich markup: a message like "close 202.67 outside [low, high]"
# or a path with brackets prints as it is; styles are applied with `styled` only.
console = Console(stderr=True, markup=False, highlight=False)
out = Console(markup=False, highlight=False)

DEBUG_ENV = "M002_DEBUG"
"""Set to 1 to see the traceback of an unexpected error instead of its one-line summary."""


def styled(label: str, style: str, rest: str = "") -> Text:
    """``label`` in ``style`` followed by plain ``rest`` (never parsed as markup)."""
    return Text.assemble((label, style), rest)


def _cli_words(message: str) -> str:
    """Word a library message for the command line: the library names its parameters in
    backticks (`asof`, `validate='lenient'`); where the running command has an option for
    that parameter, name the option instead (`--asof`, `--validate lenient`)."""
    from m002.data import LENIENT_HINT

    context = click.get_current_context(silent=True)
    if context is None:
        return message
    options = {p.name for p in context.command.params if isinstance(p, click.Option)}
    message = message.replace(
        LENIENT_HINT,
        "rerun with --validate lenient to drop such rows and files (`m002 data check PATH` "
        "lists them all)"
        if "validate" in options
        else "drop them (`m002 data check PATH` lists them all)",
    )
    for param in context.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        flag = max(param.opts, key=len)
        message = re.sub(rf"`{param.name}=([^`]*)`", rf"`{flag} \1`", message)
        message = re.sub(rf"(?<![\w-]){param.name}='([^']*)'", rf"{flag} \1", message)
        message = message.replace(f"`{param.name}`", f"`{flag}`")
    return message


def _print_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    console.print(styled("warning: ", "bold yellow", _cli_words(str(message))), soft_wrap=True)


def _friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command so that no traceback reaches the user.

    An M002Error (bad input, bad option, a damaged file) or an OSError (a path that is
    missing, not a folder, not readable) prints as one line and exits 2; any other exception
    is a bug in m002, printed as one line that says so and exit 1 (``M002_DEBUG=1`` shows its
    traceback). Warnings print as one ``warning:`` line each.
    """

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            try:
                return func(*args, **kwargs)
            except (M002Error, OSError) as exc:
                # soft_wrap: one line whatever the terminal's width, as logs and greps want it
                console.print(styled("error: ", "bold red", _cli_words(str(exc))), soft_wrap=True)
                sys.exit(2)
            except click.ClickException:
                raise  # a bad option: click prints the usage line and exits 2
            except Exception as exc:
                if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                    raise
                detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
                console.print(
                    styled(
                        "unexpected error: ",
                        "bold red",
                        f"{detail} (a bug in m002, not in your input; rerun with "
                        f"{DEBUG_ENV}=1 for the traceback)",
                    ),
                    soft_wrap=True,
                )
                sys.exit(1)

    return wrapper


@contextmanager
def _step(message: str) -> Iterator[None]:
    """A spinner while a step runs, then the step's wall time."""
    start = time.perf_counter()
    with console.status(message):
        yield
    console.print(styled("done ", "green", f"{message} ({time.perf_counter() - start:.1f} s)"))


def _check_out_suffix(path: Path) -> None:
    if path.suffix.lower() not in (".parquet", ".csv"):
        msg = f"`--out` must end in .parquet or .csv, got `{path}`"
        raise click.BadParameter(msg)


def _write(frame: pl.DataFrame, path: Path) -> None:
    """Write a table atomically (`m002._io.write_frame`): a killed command leaves the old
    file or the new one, never half of one."""
    write_frame(frame, path)


def _tickers_option(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [t.strip() for t in value.split(",") if t.strip()]


_start = click.option("--start", default=None, help="First date, YYYY-MM-DD (inclusive).")


_validate = click.option(
    "--validate",
    type=click.Choice(["strict", "lenient", "off"]),
    default=None,
    help="strict: stop at the first bad row; lenient: drop bad rows and report them; off: no "
    "checks. Default: strict (train, predict: the config's `validate`).",
)


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


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; a missing or malformed file is a `ConfigError` naming it. With
    `_read_run_config`, the only place files of options are read."""
    import tomllib

    from m002.exceptions import ConfigError

    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except FileNotFoundError:
        msg = f"{what} not found: {path}"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path} is not valid TOML: {exc}"
        raise ConfigError(msg) from None
    return data


def _read_run_config(path: Path | None) -> Any:
    """The RunConfig of a TOML file (or the defaults); the only place config files are read.

    One file serves every command: the pipeline's sections, plus ``[walkforward]`` and
    ``[backtest]`` (which ``train`` and ``predict`` ignore)."""
    from m002.evaluation import RunConfig, run_config_from_dict
    from m002.exceptions import ConfigError

    if path is None:
        return RunConfig()
    data = _read_toml(path, "config file")
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
    "[portfolio], [walkforward], [backtest] sections (see docs/config.md); unknown keys are "
    "an error.",
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


def _executor_options(default: str) -> list[Callable[[Callable[P, R]], Callable[P, R]]]:
    return [
        click.option(
            "--executor",
            type=click.Choice(["local", "processes", "ray"]),
            default=default,
            show_default=True,
            help="Where independent tasks run: here, in worker processes, or on Ray.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=0,
            help="Worker processes, or CPUs of a local Ray instance (0: one per core, at most "
            "one per 2 GiB of available memory).",
        ),
        click.option(
            "--ray-address",
            default="",
            help="A running Ray cluster's address (`ray start --head` prints it); empty: start "
            "a local instance.",
        ),
    ]


def _with_executor_options(
    default: str,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--executor`` (default ``default``), ``--workers`` and ``--ray-address``. A
    walk-forward's and a training's tasks (layer 1's fits, each on one torch thread, then the
    folds) default to worker processes, one per core: in this process they would run one after
    another on one core. Tuning's studies run here by default, each evaluating trials on
    ``--jobs`` threads."""

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        for option in reversed(_executor_options(default)):
            func = option(func)
        return func

    return wrap


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
    wide = Console(
        file=out.file,
        width=needed,
        force_terminal=out.is_terminal,
        markup=False,
        highlight=False,
    )
    wide.print(table)
