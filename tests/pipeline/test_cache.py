from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import gc
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from m002.exceptions import ConfigError
from m002.pipeline._cache import (
    CACHE_DIR_ENV,
    DEFAULT_CACHE_DIR,
    StageCache,
    StageKey,
    _fs,
    code_fingerprint,
    config_fingerprint,
    default_cache_dir,
    frame_fingerprint,
)

# --------------------------------------------------------------------------- helpers


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [dt.date(2020, 1, 1), dt.date(2020, 1, 2), None, dt.date(2020, 1, 6)],
            "ticker": ["AAPL", None, "MSFT", "MSFT"],
            "close": [1.5, float("nan"), None, -2.25],
            "state": pl.Series([0, 1, None, -1], dtype=pl.Int8),
            "ts": pl.Series(
                [dt.datetime(2020, 1, 1, 9, 30), None, dt.datetime(2021, 5, 1), None],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "flag": [True, False, None, True],
            "action": pl.Series(
                ["buy", "hold", "sell", None], dtype=pl.Enum(["buy", "hold", "sell"])
            ),
        }
    )


def _key(stage: str = "features", *, input_hash: str = "in", config_hash: str = "cfg") -> StageKey:
    return StageKey(stage, input_hash=input_hash, config_hash=config_hash, upstream=None)


def _tmp_dirs(root: Path) -> list[Path]:
    return sorted(root.glob(".tmp-*")) if root.is_dir() else []


# --------------------------------------------------------------------------- frame_fingerprint


def test_frame_fingerprint_is_stable_for_equal_frames() -> None:
    frame = _frame()
    digest = frame_fingerprint(frame)
    assert digest == frame_fingerprint(_frame())
    assert digest == frame_fingerprint(frame.clone())
    assert len(digest) == 32
    int(digest, 16)


def test_frame_fingerprint_ignores_chunk_layout() -> None:
    frame = _frame()
    chunked = pl.concat([frame[:1], frame[1:3], frame[3:]], rechunk=False)
    assert chunked.n_chunks() > 1
    assert frame_fingerprint(chunked) == frame_fingerprint(frame)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda f: f.with_columns(pl.lit(9.0).alias("close")), id="values"),
        pytest.param(
            lambda f: f.with_columns(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(1.5000001)
                .otherwise("close")
                .alias("close")
            ),
            id="one-value",
        ),
        pytest.param(
            lambda f: f.with_columns(pl.col("state").fill_null(0)),
            id="null-to-value",
        ),
        pytest.param(lambda f: f.rename({"close": "adj_close"}), id="renamed"),
        pytest.param(lambda f: f.reverse(), id="row-order"),
        pytest.param(lambda f: f.select(reversed(f.columns)), id="column-order"),
        pytest.param(lambda f: f.with_columns(pl.col("state").cast(pl.Int64)), id="dtype"),
        pytest.param(
            lambda f: f.with_columns(pl.col("ts").dt.convert_time_zone("America/New_York")),
            id="time-zone",
        ),
        pytest.param(lambda f: f.head(3), id="fewer-rows"),
        pytest.param(lambda f: f.drop("flag"), id="dropped-column"),
    ],
)
def test_frame_fingerprint_changes_with_content(change: object) -> None:
    frame = _frame()
    changed = change(frame)  # type: ignore[operator]
    assert frame_fingerprint(changed) != frame_fingerprint(frame)


def test_frame_fingerprint_single_changed_value_in_large_frame() -> None:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({f"c{i}": rng.normal(size=50_000) for i in range(5)})
    values = frame["c3"].to_numpy().copy()
    values[31_337] = np.nextafter(values[31_337], np.inf)
    changed = frame.with_columns(pl.Series("c3", values))
    assert frame_fingerprint(changed) != frame_fingerprint(frame)


def test_frame_fingerprint_of_empty_frames() -> None:
    assert frame_fingerprint(pl.DataFrame()) == frame_fingerprint(pl.DataFrame())
    no_rows = pl.DataFrame(schema={"a": pl.Int64})
    assert frame_fingerprint(no_rows) != frame_fingerprint(pl.DataFrame())
    assert frame_fingerprint(no_rows) != frame_fingerprint(pl.DataFrame(schema={"a": pl.Int8}))


def test_frame_fingerprint_is_stable_across_processes() -> None:
    code = (
        "import datetime as dt, polars as pl\n"
        "from m002.pipeline._cache import frame_fingerprint\n"
        "f = pl.DataFrame({'d': [dt.date(2020, 1, 1), None], 's': ['a', None],"
        " 'x': [1.5, None], 'c': pl.Series(['q', 'b'], dtype=pl.Categorical)})\n"
        "print(frame_fingerprint(f))\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.strip()
        for _ in range(2)
    }
    here = frame_fingerprint(
        pl.DataFrame(
            {
                "d": [dt.date(2020, 1, 1), None],
                "s": ["a", None],
                "x": [1.5, None],
                "c": pl.Series(["q", "b"], dtype=pl.Categorical),
            }
        )
    )
    assert runs == {here}


def test_frame_fingerprint_rejects_non_frames() -> None:
    with pytest.raises(TypeError, match="LazyFrame"):
        frame_fingerprint(pl.LazyFrame({"a": [1]}))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- config_fingerprint


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclasses.dataclass(frozen=True)
class Inner:
    window: int = 14
    alpha: float = 0.1
    mode: Mode = Mode.FAST


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = "regime"
    inner: Inner = dataclasses.field(default_factory=Inner)
    tickers: tuple[str, ...] = ("AAPL", "MSFT")
    extra: dict[str, object] | None = None


@dataclasses.dataclass(frozen=True)
class OtherInner:
    window: int = 14
    alpha: float = 0.1
    mode: Mode = Mode.FAST


def test_config_fingerprint_equal_objects_are_equal() -> None:
    assert config_fingerprint(Outer()) == config_fingerprint(Outer())
    a = Outer(extra={"b": [1, 2], "a": None})
    b = Outer(extra={"a": None, "b": (1, 2)})
    assert config_fingerprint(a) == config_fingerprint(b)


@pytest.mark.parametrize(
    "changed",
    [
        Outer(name="head"),
        Outer(inner=Inner(window=15)),
        Outer(inner=Inner(alpha=0.1 + 1e-12)),
        Outer(inner=Inner(mode=Mode.SLOW)),
        Outer(tickers=("MSFT", "AAPL")),
        Outer(extra={}),
        Outer(inner=OtherInner()),  # type: ignore[arg-type]
    ],
)
def test_config_fingerprint_changes_with_any_field(changed: Outer) -> None:
    assert config_fingerprint(changed) != config_fingerprint(Outer())


def test_config_fingerprint_scalars_are_exact_and_typed() -> None:
    digests = {config_fingerprint(v) for v in (1, 1.0, True, "1", None, [1], {"1": 1})}
    assert len(digests) == 7
    assert config_fingerprint(0.1 + 0.2) != config_fingerprint(0.3)
    assert config_fingerprint(0.1 + 0.2) == config_fingerprint(0.30000000000000004)
    assert config_fingerprint(np.float64(0.1)) == config_fingerprint(0.1)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ({1, 2}, "set"),
        (np.float32(1.0), "float32"),
        (np.int64(1), "int64"),
        (Path("x"), "Path"),
        ({"a": [dt.date(2020, 1, 1)]}, "date"),
        (Inner, "type"),
    ],
)
def test_config_fingerprint_rejects_unknown_types(value: object, type_name: str) -> None:
    with pytest.raises(TypeError, match=type_name):
        config_fingerprint(value)


def test_config_fingerprint_error_names_the_place() -> None:
    with pytest.raises(TypeError, match=r"config\.extra\['a'\]\[0\]"):
        config_fingerprint(Outer(extra={"a": [object()]}))
    with pytest.raises(TypeError, match="str dict keys"):
        config_fingerprint({1: "x"})


# --------------------------------------------------------------------------- StageKey


def test_stage_key_digest_covers_every_field() -> None:
    base = _key()
    assert base.digest == _key().digest
    assert base.code == code_fingerprint()
    versions = dict(base.versions)
    assert versions["polars"] == pl.__version__
    assert versions["numpy"] == np.__version__
    assert {"m002", "torch", "lightgbm", "scikit-learn", "python"} <= versions.keys()
    variants = [
        dataclasses.replace(base, stage="regime"),
        dataclasses.replace(base, input_hash="other"),
        dataclasses.replace(base, config_hash="other"),
        dataclasses.replace(base, upstream="abc"),
        dataclasses.replace(base, code="0" * 32),
        dataclasses.replace(base, versions=(*base.versions, ("extra", "1"))),
        dataclasses.replace(base, versions=(("torch", "0.0.1"),)),
    ]
    assert len({base.digest, *(v.digest for v in variants)}) == 8
    assert base.to_dict() == {
        "stage": "features",
        "input_hash": "in",
        "config_hash": "cfg",
        "upstream": None,
        "code": code_fingerprint(),
        "versions": versions,
    }


def test_stage_key_digest_follows_every_library_version() -> None:
    base = _key()
    for name, _ in base.versions:
        versions = tuple((n, "0.0.1" if n == name else v) for n, v in base.versions)
        assert dataclasses.replace(base, versions=versions).digest != base.digest, name
    assert dataclasses.replace(base, code="another").digest != base.digest


def test_stage_key_versions_are_stored_sorted() -> None:
    shuffled = StageKey(
        "s", input_hash="i", config_hash="c", upstream=None, versions=(("b", "2"), ("a", "1"))
    )
    ordered = StageKey(
        "s", input_hash="i", config_hash="c", upstream=None, versions=(("a", "1"), ("b", "2"))
    )
    assert shuffled == ordered
    assert hash(shuffled) == hash(ordered)
    assert shuffled.to_dict()["versions"] == {"a": "1", "b": "2"}


@pytest.mark.parametrize("stage", ["", ".tmp", "-x", "a/b", "../x", "a b", "x" * 101])
def test_stage_key_rejects_bad_stage_names(stage: str) -> None:
    with pytest.raises(ConfigError, match="stage"):
        _key(stage)


# --------------------------------------------------------------------------- StageCache


def test_put_get_round_trip_keeps_values_and_dtypes(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    frame = _frame()
    key = _key()
    cache.put(key, frame)
    got = cache.get(key)
    assert got is not None
    assert got.schema == frame.schema
    assert_frame_equal(got, frame, check_exact=True)
    assert (tmp_path / "cache" / "features" / key.digest / "data.parquet").is_file()
    manifest = json.loads(
        (tmp_path / "cache" / "features" / key.digest / "manifest.json").read_text()
    )
    assert manifest["key"] == key.to_dict()
    assert manifest["rows"] == 4
    assert _tmp_dirs(tmp_path / "cache") == []


def test_get_misses_on_other_key_and_empty_root(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "absent")
    assert cache.get(_key()) is None
    assert cache.entries().is_empty()
    assert cache.clear() == 0
    cache.put(_key(), _frame())
    assert cache.get(_key(config_hash="other")) is None
    assert cache.get(_key("regime")) is None
    other_polars = tuple((n, "0.0.0" if n == "polars" else v) for n, v in _key().versions)
    assert cache.get(dataclasses.replace(_key(), versions=other_polars)) is None


def test_disabled_cache_never_reads_or_writes(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    disabled = StageCache(root, enabled=False)
    disabled.put(_key(), _frame())
    assert not root.exists()
    StageCache(root).put(_key(), _frame())
    assert disabled.get(_key()) is None
    calls = []

    def compute() -> pl.DataFrame:
        calls.append(1)
        return _frame()

    assert disabled.get_or_compute(_key(), compute)[1] is False
    assert disabled.get_or_compute(_key("regime"), compute)[1] is False
    assert len(calls) == 2
    assert not (root / "regime").exists()


def test_get_or_compute_computes_once_then_hits(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    calls = []

    def compute() -> pl.DataFrame:
        calls.append(1)
        return _frame()

    first, hit1 = cache.get_or_compute(_key(), compute)
    second, hit2 = cache.get_or_compute(_key(), compute)
    assert (hit1, hit2) == (False, True)
    assert len(calls) == 1
    assert_frame_equal(first, second, check_exact=True)
    # a fresh cache object on the same root (a new run) hits too
    assert StageCache(tmp_path).get_or_compute(_key(), compute)[1] is True
    assert len(calls) == 1


def test_get_or_compute_rejects_non_frames(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="must return a polars DataFrame"):
        StageCache(tmp_path).get_or_compute(_key(), lambda: {"a": 1})  # type: ignore[arg-type, return-value]


def test_get_or_compute_keeps_result_when_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(src: Path, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_fs, "rename_dir", fail)
    cache = StageCache(tmp_path)
    with pytest.warns(RuntimeWarning, match="No space left"):
        frame, hit = cache.get_or_compute(_key(), _frame)
    assert not hit
    assert_frame_equal(frame, _frame())
    assert _tmp_dirs(tmp_path) == []


def test_interrupted_temp_write_is_never_read_and_is_cleared(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    data = tmp_path / "full.parquet"
    _frame().write_parquet(data)
    tmp = tmp_path / ".tmp-features-0123456789abcdef0123456789abcdef"
    tmp.mkdir()
    (tmp / "data.parquet").write_bytes(data.read_bytes()[:100])  # partial, no manifest
    assert cache.get(_key()) is None
    assert cache.entries().is_empty()
    # a fresh temp folder may be a write in progress elsewhere: kept by default
    assert cache.clear() == 0
    assert tmp.is_dir()
    old = time.time() - 2 * 86_400  # older than the longest model fit
    os.utime(tmp / "data.parquet", (old, old))
    os.utime(tmp, (old, old))
    assert cache.clear() == 1
    assert not tmp.exists()


def _damage_missing_manifest(entry: Path) -> None:
    (entry / "manifest.json").unlink()


def _damage_truncated(entry: Path) -> None:
    data = entry / "data.parquet"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])


def _damage_truncated_manifest_agrees(entry: Path) -> None:
    _damage_truncated(entry)
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["bytes"] = (entry / "data.parquet").stat().st_size
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _damage_corrupt_same_size(entry: Path) -> None:
    data = entry / "data.parquet"
    data.write_bytes(np.random.default_rng(0).bytes(data.stat().st_size))


def _damage_garbage_manifest(entry: Path) -> None:
    (entry / "manifest.json").write_text("{not json")


def _damage_other_key(entry: Path) -> None:
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["key"]["config_hash"] = "something else"
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _damage_missing_parquet(entry: Path) -> None:
    (entry / "data.parquet").unlink()


@pytest.mark.parametrize(
    "damage",
    [
        _damage_missing_manifest,
        _damage_truncated,
        _damage_truncated_manifest_agrees,
        _damage_corrupt_same_size,
        _damage_garbage_manifest,
        _damage_other_key,
        _damage_missing_parquet,
    ],
)
def test_damaged_entry_is_a_miss_then_repaired_or_cleared(tmp_path: Path, damage: object) -> None:
    cache = StageCache(tmp_path)
    key = _key()
    cache.put(key, _frame())
    entry = tmp_path / key.stage / key.digest
    damage(entry)  # type: ignore[operator]
    assert cache.get(key) is None
    # get_or_compute recomputes and replaces the damaged entry
    _, hit = cache.get_or_compute(key, _frame)
    assert not hit
    got = cache.get(key)
    assert got is not None
    assert_frame_equal(got, _frame())
    damage(entry)  # type: ignore[operator]
    assert cache.clear() == 1
    assert not entry.exists()
    assert list(tmp_path.iterdir()) == []


def test_put_same_key_twice_leaves_one_valid_entry(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    cache.put(_key(), _frame())
    cache.put(_key(), _frame())
    assert cache.entries().height == 1
    assert_frame_equal(cache.get(_key()), _frame())  # type: ignore[arg-type]
    assert _tmp_dirs(tmp_path) == []


def test_concurrent_puts_of_one_key_leave_one_valid_entry(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": np.arange(200_000, dtype=np.float64)})
    caches = [StageCache(tmp_path) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: c.put(_key(), frame), caches))
    assert caches[0].entries().height == 1
    assert_frame_equal(caches[0].get(_key()), frame)  # type: ignore[arg-type]
    assert _tmp_dirs(tmp_path) == []


@pytest.mark.parametrize("error", [OSError("disk gone"), KeyboardInterrupt()])
def test_failure_between_write_and_rename_leaves_nothing_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def killed(src: Path, dst: Path) -> None:
        assert (src / "manifest.json").is_file()  # everything was written, only the rename is lost
        raise error

    monkeypatch.setattr(_fs, "rename_dir", killed)
    cache = StageCache(tmp_path)
    with pytest.raises(type(error)):
        cache.put(_key(), _frame())
    monkeypatch.undo()
    assert cache.get(_key()) is None
    assert cache.entries().is_empty()
    assert _tmp_dirs(tmp_path) == []
    assert not (tmp_path / "features" / _key().digest).exists()


def test_clear_one_stage_and_entries(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    cache.put(_key("features"), _frame())
    cache.put(_key("features", input_hash="other"), _frame().head(2))
    cache.put(_key("regime"), _frame().head(1))
    listed = cache.entries()
    assert listed.schema == pl.Schema(
        {
            "stage": pl.String(),
            "digest": pl.String(),
            "kind": pl.String(),
            "rows": pl.Int64(),
            "bytes": pl.Int64(),
            "created": pl.Datetime("us", "UTC"),
            "last_used": pl.Datetime("us", "UTC"),
        }
    )
    assert listed["stage"].to_list() == ["features", "features", "regime"]
    assert sorted(listed["rows"].to_list()) == [1, 2, 4]
    assert (listed["bytes"] > 0).all()
    assert set(listed["digest"]) == {
        _key("features").digest,
        _key("features", input_hash="other").digest,
        _key("regime").digest,
    }

    assert cache.clear("features") == 2
    assert cache.get(_key("features")) is None
    assert cache.get(_key("regime")) is not None
    assert cache.entries()["stage"].to_list() == ["regime"]
    assert not (tmp_path / "features").exists()
    assert cache.clear() == 1
    assert cache.entries().is_empty()


def test_clear_stage_removes_only_that_stages_stale_temps(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    a = tmp_path / ".tmp-features-aaaa"
    b = tmp_path / ".tmp-regime-v2-bbbb"
    a.mkdir()
    b.mkdir()
    assert cache.clear("regime-v2", stale_after=0) == 1
    assert a.is_dir()
    assert not b.exists()
    assert cache.clear(stale_after=0) == 1
    assert not a.exists()


# --------------------------------------------------------------------------- folder entries


def _builder(calls: list[Path]) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "model").mkdir()
        (folder / "model" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
        _frame().write_parquet(folder / "oof.parquet")
        (folder / "folds.json").write_text("[1, 2]")

    return build


def test_get_or_build_dir_builds_once_then_hits(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    calls: list[Path] = []
    key = _key("regime")
    assert cache.get_dir(key) is None
    folder, hit = cache.get_or_build_dir(key, _builder(calls))
    assert not hit
    assert folder == tmp_path / "regime" / key.digest / "files"
    assert calls[0] != folder  # built in a temporary folder, then renamed
    assert (folder / "model" / "weights.bin").read_bytes() == b"\x00\x01" * 1000
    assert_frame_equal(pl.read_parquet(folder / "oof.parquet"), _frame())
    again, hit = StageCache(tmp_path).get_or_build_dir(key, _builder(calls))
    assert (again, hit) == (folder, True)
    assert len(calls) == 1
    assert _tmp_dirs(tmp_path) == []
    listed = cache.entries()
    assert listed["kind"].to_list() == ["dir"]
    assert listed["rows"].to_list() == [None]
    assert listed["bytes"][0] == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    # a frame lookup under the same key does not mistake the folder for a frame
    assert cache.get(key) is None
    assert cache.get_dir(key) == folder


def test_get_or_build_dir_failed_build_caches_nothing(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)

    def build(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        msg = "training diverged"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="diverged"):
        cache.get_or_build_dir(_key("regime"), build)
    assert cache.get_dir(_key("regime")) is None
    assert cache.entries().is_empty()
    assert _tmp_dirs(tmp_path) == []


def test_damaged_folder_entry_is_a_miss_and_is_rebuilt(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    calls: list[Path] = []
    key = _key("head")
    folder, _ = cache.get_or_build_dir(key, _builder(calls))
    (folder / "model" / "weights.bin").write_bytes(b"short")
    assert cache.get_dir(key) is None
    rebuilt, hit = cache.get_or_build_dir(key, _builder(calls))
    assert not hit
    assert len(calls) == 2
    assert (rebuilt / "model" / "weights.bin").stat().st_size == 2000
    (rebuilt / "folds.json").unlink()
    assert cache.get_dir(key) is None
    assert cache.clear("head") == 1
    assert list(tmp_path.iterdir()) == []


def test_disabled_cache_builds_folders_outside_root(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = StageCache(root, enabled=False)
    calls: list[Path] = []
    first, hit1 = cache.get_or_build_dir(_key("regime"), _builder(calls))
    second, hit2 = cache.get_or_build_dir(_key("regime"), _builder(calls))
    assert (hit1, hit2) == (False, False)
    assert first != second
    assert (first / "folds.json").is_file()
    assert not root.exists()
    assert not first.is_relative_to(root)
    # the folders go with the cache object: nothing is left in the system's temp folder
    del cache
    gc.collect()
    assert not first.exists()
    assert not second.exists()


def test_disabled_cache_pickles_without_its_scratch_folder(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache", enabled=False)
    first, _ = cache.get_or_build_dir(_key("regime"), _builder([]))
    copy = pickle.loads(pickle.dumps(cache))
    made, _ = copy.get_or_build_dir(_key("regime"), _builder([]))
    assert made.parent != first.parent
    del copy
    gc.collect()
    assert first.is_dir()
    assert not made.exists()


def test_default_cache_dir_reads_env_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    assert default_cache_dir() == DEFAULT_CACHE_DIR == Path.home() / ".cache" / "m002"
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.setenv(CACHE_DIR_ENV, "")
    assert default_cache_dir() == DEFAULT_CACHE_DIR
