"""Keeping the stage cache bounded: last use, prune by age and size, the bound after writes."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from m002.exceptions import ConfigError
from m002.pipeline import (
    DEFAULT_MAX_BYTES,
    MAX_BYTES_ENV,
    StageCache,
    StageKey,
    format_size,
    parse_duration,
    parse_size,
)
from m002.pipeline._cache import _housekeeping
from m002.pipeline._cache._manifest import MANIFEST_FILE

HOUR = 3600.0
DAY = 24 * HOUR


def _key(name: str, stage: str = "features") -> StageKey:
    return StageKey(stage, input_hash=name, config_hash="cfg", upstream=None)


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"x": [float(i) for i in range(1000)]})


def _entry(cache: StageCache, key: StageKey) -> Path:
    return cache.root / key.stage / key.digest


def _last_used(cache: StageCache, key: StageKey, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(_entry(cache, key) / MANIFEST_FILE, (when, when))


def _filled(root: Path, ages: dict[str, float], **kwargs: object) -> StageCache:
    """A cache with one equal-sized entry per name, last used `ages[name]` seconds ago."""
    cache = StageCache(root, auto_prune=False, **kwargs)  # type: ignore[arg-type]
    for name, age in ages.items():
        cache.put(_key(name), _frame())
        _last_used(cache, _key(name), age)
    return cache


def _names(frame: pl.DataFrame) -> set[str]:
    by_digest = {_key(n).digest: n for n in "abcdefgh"}
    return {by_digest[d] for d in frame["digest"]}


def _entry_bytes(cache: StageCache) -> int:
    return int(cache.entries()["bytes"][0])


def test_prune_by_age_removes_entries_unused_for_longer(tmp_path: Path) -> None:
    cache = _filled(tmp_path, {"a": 40 * DAY, "b": 10 * DAY, "c": HOUR})
    size = _entry_bytes(cache)
    result = cache.prune(older_than=timedelta(days=30))
    assert _names(result.removed) == {"a"}
    assert (result.bytes_before, result.bytes_after, result.bytes_freed) == (
        3 * size,
        2 * size,
        size,
    )
    assert result.removed.columns == cache.entries().columns
    assert not _entry(cache, _key("a")).exists()
    assert _names(cache.entries()) == {"b", "c"}
    assert _names(cache.prune(older_than=timedelta(days=5)).removed) == {"b"}
    assert cache.get(_key("c")) is not None


def test_prune_by_size_removes_least_recently_used_first(tmp_path: Path) -> None:
    cache = _filled(tmp_path, {"a": 3 * HOUR, "b": HOUR, "c": 2 * HOUR, "d": 4 * HOUR})
    size = _entry_bytes(cache)
    result = cache.prune(max_bytes=2 * size + size // 2)
    assert result.removed["digest"].to_list() == [_key("d").digest, _key("a").digest]
    assert result.bytes_after == 2 * size
    assert _names(cache.entries()) == {"b", "c"}
    assert _names(cache.prune(max_bytes=size).removed) == {"c"}
    assert _names(cache.prune(max_bytes=size).removed) == set()  # already within the bound


def test_a_hit_refreshes_an_entry(tmp_path: Path) -> None:
    cache = _filled(tmp_path, {"a": 3 * HOUR, "b": 2 * HOUR})
    size = _entry_bytes(cache)
    assert cache.get(_key("a")) is not None  # a is now the most recently used
    before = cache.entries().sort("last_used")["digest"].to_list()
    assert before == [_key("b").digest, _key("a").digest]
    assert _names(cache.prune(max_bytes=size).removed) == {"b"}
    assert cache.get(_key("a")) is not None


def test_a_folder_hit_refreshes_its_entry(tmp_path: Path) -> None:
    cache = _filled(tmp_path, {"a": 3 * HOUR})
    key = _key("m", stage="regime")
    folder, _ = cache.get_or_build_dir(key, lambda d: (d / "w.bin").write_bytes(b"w" * 100))
    _last_used(cache, key, 4 * HOUR)
    assert cache.get_dir(key) == folder
    removed = cache.prune(max_bytes=100)
    assert removed.removed["digest"].to_list() == [_key("a").digest]
    assert (folder / "w.bin").read_bytes() == b"w" * 100


def test_entries_used_in_the_last_ten_minutes_are_never_pruned(tmp_path: Path) -> None:
    cache = _filled(tmp_path, {"old": 2 * HOUR, "recent": 60.0})
    result = cache.prune(older_than=timedelta(0), max_bytes=0)
    assert result.removed["digest"].to_list() == [_key("old").digest]
    assert result.bytes_after > 0
    assert cache.get(_key("recent")) is not None


def test_an_entry_used_while_the_prune_runs_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _filled(tmp_path, {"a": 3 * HOUR, "b": 2 * HOUR})
    listed = _housekeeping.list_entries

    def listing_then_a_reader(root: Path) -> list[_housekeeping.Entry]:
        found = listed(root)
        assert cache.get(_key("a")) is not None  # a reader, after the prune listed entries
        return found

    monkeypatch.setattr(_housekeeping, "list_entries", listing_then_a_reader)
    result = cache.prune(max_bytes=0)
    assert _names(result.removed) == {"b"}
    assert _entry(cache, _key("a")).is_dir()


def test_a_frame_read_while_its_entry_is_pruned_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _filled(tmp_path, {"a": 3 * HOUR})
    read = pl.read_parquet

    def pruned_meanwhile(source: Path) -> pl.DataFrame:
        _last_used(cache, _key("a"), 3 * HOUR)
        assert _names(StageCache(tmp_path).prune(max_bytes=0).removed) == {"a"}
        return read(source)

    monkeypatch.setattr(pl, "read_parquet", pruned_meanwhile)
    assert cache.get(_key("a")) is None
    monkeypatch.undo()
    frame, hit = cache.get_or_compute(_key("a"), _frame)
    assert not hit
    assert_frame_equal(frame, _frame())


def test_put_keeps_the_cache_within_its_bound(tmp_path: Path) -> None:
    probe = _filled(tmp_path / "probe", {"a": 0.0})
    size = _entry_bytes(probe)
    cache = StageCache(tmp_path / "cache", max_bytes=2 * size + size // 2)
    assert cache.max_bytes == 2 * size + size // 2
    for name, age in [("a", 3 * HOUR), ("b", 2 * HOUR)]:
        cache.put(_key(name), _frame())
        _last_used(cache, _key(name), age)
    assert cache.get(_key("a")) is not None  # refreshed: b is now the least recently used
    _last_used(cache, _key("a"), HOUR)
    cache.put(_key("c"), _frame())
    assert _names(cache.entries()) == {"a", "c"}
    built, _ = cache.get_or_build_dir(
        _key("d", stage="regime"), lambda d: (d / "w.bin").write_bytes(b"w" * size)
    )
    assert _names(cache.entries().filter(pl.col("stage") == "features")) == {"c"}
    assert built.is_dir()


def test_the_entry_just_written_stays_even_above_the_bound(tmp_path: Path) -> None:
    cache = StageCache(tmp_path, max_bytes=10)
    cache.put(_key("a"), _frame())
    assert cache.get(_key("a")) is not None


def test_a_failed_prune_after_a_write_warns_and_keeps_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_housekeeping, "prune", broken)
    cache = StageCache(tmp_path, max_bytes=0)
    with pytest.warns(RuntimeWarning, match="could not prune"):
        cache.put(_key("a"), _frame())
    assert cache.get(_key("a")) is not None


def test_the_bound_comes_from_the_environment_or_the_constructor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MAX_BYTES_ENV, raising=False)
    assert StageCache(tmp_path).max_bytes == DEFAULT_MAX_BYTES == 5_000_000_000
    monkeypatch.setenv(MAX_BYTES_ENV, "1.5GB")
    assert StageCache(tmp_path).max_bytes == 1_500_000_000
    assert StageCache(tmp_path, max_bytes=123).max_bytes == 123
    assert StageCache(tmp_path, auto_prune=False).max_bytes is None
    monkeypatch.setenv(MAX_BYTES_ENV, "lots")
    with pytest.raises(ConfigError, match=r"M002_CACHE_MAX_BYTES='lots'"):
        StageCache(tmp_path)
    monkeypatch.setenv(MAX_BYTES_ENV, " ")
    assert StageCache(tmp_path).max_bytes == DEFAULT_MAX_BYTES


@pytest.mark.parametrize("value", [-1, 1.5, True, "5GB"])
def test_bad_max_bytes_is_a_config_error(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match="max_bytes"):
        StageCache(tmp_path, max_bytes=value)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_bytes"):
        StageCache(tmp_path).prune(max_bytes=value)  # type: ignore[arg-type]


def test_negative_older_than_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="older_than"):
        StageCache(tmp_path).prune(older_than=timedelta(days=-1))


def test_prune_removes_stale_temps_and_damaged_entries_but_nothing_it_did_not_write(
    tmp_path: Path,
) -> None:
    cache = _filled(tmp_path, {"a": 2 * DAY, "b": 2 * DAY})
    data = _entry(cache, _key("b")) / "data.parquet"
    data.write_bytes(data.read_bytes()[:10])  # damaged, still listed by its manifest
    stale = tmp_path / ".tmp-features-0123456789abcdef0123456789abcdef"
    fresh = tmp_path / ".tmp-features-fedcba9876543210fedcba9876543210"
    for tmp in (stale, fresh):
        (tmp / "files").mkdir(parents=True)
    two_days_ago = time.time() - 2 * DAY
    for path in (stale / "files", stale):
        os.utime(path, (two_days_ago, two_days_ago))
    notes, nameless = tmp_path / "features" / "notes", tmp_path / "mine" / ("0" * 32)
    foreign = [notes, nameless]
    for folder in foreign:
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("not the cache's")

    result = cache.prune(older_than=timedelta(days=1))

    assert _names(result.removed) == {"a", "b"}
    assert result.temps_removed == 1
    assert not stale.exists()
    assert fresh.is_dir()  # may be a write in progress
    assert all((folder / "keep.txt").is_file() for folder in foreign)
    # clear takes a folder named like an entry for a damaged one, and nothing else
    assert cache.clear(stale_after=0) == 2
    assert not fresh.exists()
    assert not nameless.exists()
    assert (notes / "keep.txt").is_file()


def test_entries_of_the_first_key_format_are_listed_and_pruned(tmp_path: Path) -> None:
    cache = _filled(tmp_path, {"a": 2 * DAY})
    manifest_path = _entry(cache, _key("a")) / MANIFEST_FILE
    manifest = manifest_path.read_text()
    old_key = '"package_version": "0.1.0", "polars_version": "2.1.0"'
    manifest_path.write_text(manifest.replace('"stage": "features"', old_key + ', "stage": "x"'))
    _last_used(cache, _key("a"), 2 * DAY)
    assert cache.get(_key("a")) is None  # never a hit
    assert _names(cache.entries()) == {"a"}
    assert _names(cache.prune(older_than=timedelta(days=1)).removed) == {"a"}


def test_prune_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    result = StageCache(tmp_path / "absent").prune(max_bytes=0)
    assert result.removed.is_empty()
    assert (result.temps_removed, result.bytes_before, result.bytes_after) == (0, 0, 0)
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5GB", 5_000_000_000),
        ("500MB", 500_000_000),
        ("1.5G", 1_500_000_000),
        ("2GiB", 2 * 2**30),
        ("10 kb", 10_000),
        ("1024", 1024),
        ("0", 0),
        (".5T", 500_000_000_000),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text, "--max-size") == expected


@pytest.mark.parametrize("text", ["", "GB", "5XB", "-1GB", "5 G B", "1e9", "five"])
def test_parse_size_rejects_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ConfigError, match=r"`--max-size` must be a size .* got `--max-size="):
        parse_size(text, "--max-size")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1.5D", timedelta(hours=36)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "--older-than") == expected


@pytest.mark.parametrize("text", ["30", "d", "30x", "-1d", "30 days", "1y"])
def test_parse_duration_rejects_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ConfigError, match=r"`--older-than` must be a number and a unit"):
        parse_duration(text, "--older-than")


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (999, "999 B"), (1500, "1.5 kB"), (999_999, "1.0 MB"), (5 * 10**9, "5.0 GB")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
