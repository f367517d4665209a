"""`m002 cache list|prune|clear` on a cache with entries of known last use."""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from m002.cli import main
from m002.pipeline import MAX_BYTES_ENV, StageCache, StageKey
from m002.pipeline._cache._manifest import MANIFEST_FILE

DAY = 86_400.0


def _key(name: str) -> StageKey:
    return StageKey("features", input_hash=name, config_hash="cfg", upstream=None)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A cache with entries a, b, c of 1,000 rows each, last used 40, 10 and 1 days ago."""
    cache = StageCache(tmp_path / "cache", auto_prune=False)
    for name, days in [("a", 40), ("b", 10), ("c", 1)]:
        cache.put(_key(name), pl.DataFrame({"x": [float(i) for i in range(1000)]}))
        when = time.time() - days * DAY
        os.utime(cache.root / "features" / _key(name).digest / MANIFEST_FILE, (when, when))
    return cache.root


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(main, ["cache", *args])
    return result.exit_code, result.output


def _left(root: Path) -> set[str]:
    return (
        {p.name for p in (root / "features").iterdir()} if (root / "features").is_dir() else set()
    )


def test_list_shows_last_use_and_total_size(root: Path) -> None:
    code, output = _run("list", "--cache-dir", str(root))
    assert code == 0, output
    assert "last used" in output
    assert _key("a").digest[:12] in output
    total = int(StageCache(root).entries()["bytes"].sum())
    assert f"3 entries, {total / 1000:.1f} kB in {root}" in output


def test_list_of_an_empty_cache(tmp_path: Path) -> None:
    code, output = _run("list", "--cache-dir", str(tmp_path / "none"))
    assert code == 0
    assert "0 entries, 0 B" in output


def test_prune_older_than_prints_what_it_removed_and_the_sizes(root: Path) -> None:
    code, output = _run("prune", "--older-than", "30d", "--cache-dir", str(root))
    assert code == 0, output
    assert _left(root) == {_key("b").digest, _key("c").digest}
    assert _key("a").digest[:12] in output
    assert "removed 1 entry" in output
    assert "before" in output
    assert "after" in output


def test_prune_max_size_removes_least_recently_used(root: Path) -> None:
    size = int(StageCache(root).entries()["bytes"][0])
    code, output = _run("prune", "--max-size", str(size), "--cache-dir", str(root))
    assert code == 0, output
    assert _left(root) == {_key("c").digest}
    assert "removed 2 entries" in output


def test_prune_without_options_applies_the_configured_bound(root: Path) -> None:
    code, output = _run("prune", "--cache-dir", str(root), env={MAX_BYTES_ENV: "1B"})
    assert code == 0, output
    assert _left(root) == set()
    code, output = _run("prune", "--cache-dir", str(root), env={MAX_BYTES_ENV: "much"})
    assert code == 2
    assert "M002_CACHE_MAX_BYTES" in output


def test_prune_reports_entries_kept_because_in_use(tmp_path: Path) -> None:
    cache = StageCache(tmp_path, auto_prune=False)
    cache.put(_key("fresh"), pl.DataFrame({"x": [1.0]}))
    code, output = _run("prune", "--max-size", "0", "--cache-dir", str(tmp_path))
    assert code == 0, output
    assert "removed 0 entries" in output
    assert "ten minutes" in output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--older-than", "30"], "`--older-than` must be a number and a unit"),
        (["--older-than", "thirty days"], "`--older-than`"),
        (["--older-than", "-3d"], "`--older-than`"),
        (["--max-size", "5XB"], "`--max-size` must be a size"),
        (["--max-size", "lots"], "`--max-size`"),
        (["--max-size", "-1GB"], "`--max-size`"),
    ],
)
def test_prune_bad_arguments_are_one_line_and_exit_2(
    root: Path, args: list[str], fragment: str
) -> None:
    code, output = _run("prune", *args, "--cache-dir", str(root))
    assert code == 2
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output
    assert fragment in output
    assert len(_left(root)) == 3  # nothing removed


def test_clear_removes_everything(root: Path) -> None:
    code, output = _run("clear", "--cache-dir", str(root))
    assert code == 0
    assert "removed 3 entries" in output
    assert _left(root) == set()
