"""`m002 cache list|clear`: the stage cache commands."""

from __future__ import annotations

from pathlib import Path

import click

from m002.cli._app import main
from m002.cli._common import (
    _friendly_errors,
    out,
)


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
