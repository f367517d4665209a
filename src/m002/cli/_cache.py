"""`m002 cache list|clear|prune`: the stage cache commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import polars as pl

from m002.cli._app import main
from m002.cli._common import _frame_table, _friendly_errors, out

if TYPE_CHECKING:
    from rich.table import Table

    from m002.pipeline import StageCache

_cache_dir = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Cache folder (default: $M002_CACHE_DIR, else ~/.cache/m002).",
)


def _store(cache_dir: Path | None, *, size_bound: bool = False) -> StageCache:
    """The cache; its size bound (``$M002_CACHE_MAX_BYTES``) is read only when asked for."""
    from m002.pipeline import StageCache, default_cache_dir

    return StageCache(cache_dir or default_cache_dir(), auto_prune=size_bound)


def _entries_table(entries: pl.DataFrame, title: str) -> Table:
    """Entries in 80 columns: the digest's first 12 characters find its folder."""
    from m002.pipeline import format_size

    shown = entries.select(
        "stage",
        pl.col("digest").str.slice(0, 12),
        "kind",
        "rows",
        pl.Series("size", [format_size(n) for n in entries["bytes"]], dtype=pl.String),
        pl.col("last_used").dt.strftime("%Y-%m-%d %H:%M").alias("last used (UTC)"),
    )
    return _frame_table(shown, title, percent=[])


def _entry_count(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


@main.group()
def cache() -> None:
    """Inspect, prune or clear the stage cache."""


@cache.command("list")
@_cache_dir
@_friendly_errors
def cache_list(cache_dir: Path | None) -> None:
    """List cache entries, least recently used first, with their size and last use (UTC)."""
    from m002.pipeline import format_size

    store = _store(cache_dir)
    entries = store.entries().sort("last_used")
    if entries.height:
        out.print(_entries_table(entries, f"stage cache {store.root}"))
    total = int(entries["bytes"].sum())
    out.print(
        f"{_entry_count(entries.height)}, {format_size(total)} in {store.root}", soft_wrap=True
    )


@cache.command("clear")
@click.option("--stage", default=None, help="Only this stage (features, regime, head, ...).")
@_cache_dir
@_friendly_errors
def cache_clear(stage: str | None, cache_dir: Path | None) -> None:
    """Remove cache entries (all, or one stage's)."""
    removed = _store(cache_dir).clear(stage)
    out.print(f"removed {_entry_count(removed)}")


@cache.command("prune")
@click.option(
    "--older-than",
    default=None,
    metavar="AGE",
    help="Remove entries not used for longer than this: 30d, 12h, 90m, 2w.",
)
@click.option(
    "--max-size",
    default=None,
    metavar="SIZE",
    help="Then remove least recently used entries down to this size: 5GB, 500MB, 1.5G. "
    "When neither option is given: $M002_CACHE_MAX_BYTES, else 5GB.",
)
@_cache_dir
@_friendly_errors
def cache_prune(older_than: str | None, max_size: str | None, cache_dir: Path | None) -> None:
    """Remove entries by last use and total size, and temporary folders of killed runs.

    Entries used in the last ten minutes are kept: another process may be reading them.
    """
    from m002.pipeline import format_size, parse_duration, parse_size

    age = None if older_than is None else parse_duration(older_than, "--older-than")
    size = None if max_size is None else parse_size(max_size, "--max-size")
    store = _store(cache_dir, size_bound=age is None and size is None)
    if age is None and size is None:
        size = store.max_bytes
    result = store.prune(older_than=age, max_bytes=size)
    if result.removed.height:
        out.print(_entries_table(result.removed, "removed"))
    temps = f" and {result.temps_removed} temporary folders" if result.temps_removed else ""
    out.print(
        f"removed {_entry_count(result.removed.height)}{temps}: "
        f"{format_size(result.bytes_before)} before, {format_size(result.bytes_after)} after",
        soft_wrap=True,
    )
    if size is not None and result.bytes_after > size:
        out.print(f"still above {format_size(size)}: entries used in the last ten minutes are kept")
