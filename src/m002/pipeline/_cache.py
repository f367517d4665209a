"""On-disk cache of pipeline stage outputs, keyed by content hashes.

A stage output (features, regime probabilities, head predictions: a polars DataFrame) is stored
under ``<root>/<stage>/<digest>/`` as ``data.parquet`` plus ``manifest.json``; an output that is
a set of files (a fitted model) is stored the same way with its files under ``files/``. The
digest hashes a `StageKey`: the hash of the stage's input data, of its config section, of the
upstream stage's key, the m002 version and the polars version. Re-running the pipeline with
only the policy config changed therefore finds layers 1 and 2 on disk and does not retrain them.

Writes are atomic: an entry is written into a temporary folder ``<root>/.tmp-<stage>-<uuid>/``,
synced to disk, and only then renamed to its final path (renaming a folder onto a path that does
not exist is atomic on POSIX). A reader only accepts an entry whose manifest matches the key and
whose parquet has the recorded size, rows and schema, so a run killed halfway never leaves
anything that `StageCache.get` returns.

Examples
--------
>>> import tempfile
>>> import polars as pl
>>> cache = StageCache(tempfile.mkdtemp())
>>> key = StageKey(
...     "features",
...     input_hash=frame_fingerprint(pl.DataFrame({"x": [1.0, 2.0]})),
...     config_hash=config_fingerprint({"window": 14}),
...     upstream=None,
... )
>>> frame, hit = cache.get_or_compute(key, lambda: pl.DataFrame({"y": [3.0]}))
>>> hit
False
>>> cache.get_or_compute(key, lambda: pl.DataFrame({"y": [3.0]}))[1]
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from m002 import __version__ as _m002_version
from m002.exceptions import ConfigError

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_CACHE_DIR",
    "StageCache",
    "StageKey",
    "config_fingerprint",
    "default_cache_dir",
    "frame_fingerprint",
]

CACHE_DIR_ENV = "M002_CACHE_DIR"
"""Environment variable that overrides `DEFAULT_CACHE_DIR`."""

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "m002"
"""Cache root used when ``M002_CACHE_DIR`` is not set."""

# 128-bit digests: collisions are out of reach for a cache, and folder names stay short.
_DIGEST_SIZE = 16
# Bumped whenever the bytes fed to a hash change meaning, so old digests are never reused.
_FRAME_TAG = b"m002-frame-v1"
_CONFIG_TAG = b"m002-config-v1"
_KEY_TAG = b"m002-stage-key-v1"
_MANIFEST_FORMAT = 1

_DATA_FILE = "data.parquet"
_MANIFEST_FILE = "manifest.json"
_PAYLOAD_DIR = "files"
_KIND_FRAME = "frame"
_KIND_DIR = "dir"
_TMP_PREFIX = ".tmp-"
_STAGE_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_DEFAULT_STALE_AFTER_S = 600.0

_ENTRIES_SCHEMA = pl.Schema(
    {
        "stage": pl.String(),
        "digest": pl.String(),
        "kind": pl.String(),
        "rows": pl.Int64(),
        "bytes": pl.Int64(),
        "created": pl.Datetime("us", "UTC"),
    }
)

# Errors that mean "this entry is unusable", never "the caller did something wrong". A corrupt
# parquet can make the Rust reader panic, which surfaces as a BaseException subclass.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
)


def default_cache_dir() -> Path:
    """Return the cache root: ``$M002_CACHE_DIR`` if set and non-empty, else ``~/.cache/m002``.

    The environment is read at call time, so tests and the CLI can redirect it.

    Returns
    -------
    Path
        The (user-expanded) cache root; it is not created.
    """
    value = os.environ.get(CACHE_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_CACHE_DIR


def _blake2b(tag: bytes, *parts: bytes) -> str:
    hasher = hashlib.blake2b(digest_size=_DIGEST_SIZE, person=b"m002")
    hasher.update(tag)
    for part in parts:
        # Length-prefix each part so that concatenations of different parts cannot collide.
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


def _schema_json(schema: pl.Schema) -> str:
    return json.dumps([[name, str(dtype)] for name, dtype in schema.items()])


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """Content hash of a DataFrame: schema, height, row order and every value.

    Each row is hashed with polars' `DataFrame.hash_rows` (seed 0, all columns in order), and
    the little-endian bytes of that ``UInt64`` array, the height and the schema (column names,
    order and full dtypes, e.g. time zones, time units and Enum categories) are fed to BLAKE2b.

    Covered: a changed value (null versus a value included), a renamed, reordered, added or
    dropped column, a changed dtype (``Int8`` versus ``Int64`` holding the same numbers), a
    different row order or row count. Not covered: the chunk layout (deliberately),
    ``0.0`` versus ``-0.0`` and NaN payloads (polars hashes them alike), column metadata such
    as sortedness flags. Two frames differing only in some rows share a digest only if those
    rows' 64-bit hashes collide.

    ``hash_rows`` is only stable within one polars version, so a fingerprint must never be
    compared across polars versions; `StageKey` carries the polars version for that reason.

    Parameters
    ----------
    frame : pl.DataFrame
        The frame to hash; Object columns are not supported by polars' row hash.

    Returns
    -------
    str
        32 lowercase hex characters.

    Raises
    ------
    TypeError
        If `frame` is not a polars DataFrame.

    Examples
    --------
    >>> a = pl.DataFrame({"x": [1, 2]})
    >>> frame_fingerprint(a) == frame_fingerprint(pl.DataFrame({"x": [1, 2]}))
    True
    >>> frame_fingerprint(a) == frame_fingerprint(pl.DataFrame({"x": [2, 1]}))
    False
    """
    if not isinstance(frame, pl.DataFrame):
        msg = f"frame_fingerprint expects a polars DataFrame, got {type(frame).__name__}"
        raise TypeError(msg)
    if frame.width == 0:
        row_bytes = b""
    else:
        hashes = frame.hash_rows(seed=0).to_numpy()
        row_bytes = np.ascontiguousarray(hashes, dtype="<u8").tobytes()
    return _blake2b(
        _FRAME_TAG,
        _schema_json(frame.schema).encode(),
        frame.height.to_bytes(8, "little"),
        row_bytes,
    )


def _canonical(obj: object, where: str) -> Any:
    """Map a config value to JSON data, injectively (every object is a one-key tagged dict)."""
    # Enum first: IntEnum and StrEnum members are also ints and strs.
    if isinstance(obj, enum.Enum):
        return {f"enum:{type(obj).__qualname__}": _canonical(obj.value, f"{where}.value")}
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        # json writes floats with repr(), the shortest string that round-trips exactly.
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {
            field.name: _canonical(getattr(obj, field.name), f"{where}.{field.name}")
            for field in dataclasses.fields(obj)
        }
        return {f"dataclass:{type(obj).__qualname__}": fields}
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                msg = (
                    f"config_fingerprint needs str dict keys, got a key of type "
                    f"{type(key).__qualname__} ({key!r}) at `{where}`"
                )
                raise TypeError(msg)
            out[key] = _canonical(value, f"{where}[{key!r}]")
        return {"dict": out}
    if isinstance(obj, list | tuple):
        return [_canonical(item, f"{where}[{i}]") for i, item in enumerate(obj)]
    msg = (
        f"config_fingerprint cannot encode a value of type {type(obj).__module__}."
        f"{type(obj).__qualname__} at `{where}`; supported: dataclass instances, dict with str "
        "keys, list, tuple, str, int, float, bool, None and Enum members"
    )
    raise TypeError(msg)


def config_fingerprint(obj: object) -> str:
    """Hash a config value through a canonical JSON form.

    Dataclass instances (nested to any depth, tagged with their class name so that two config
    classes with equal fields differ), dicts with str keys (key order ignored), lists and
    tuples (equal to each other, so a config read from TOML hashes like its dataclass default),
    str, int, float (written exactly; ``numpy.float64`` is a float and hashes like one), bool,
    None and Enum members (class name and value) are supported. ``1``, ``1.0`` and ``True``
    hash differently.

    Parameters
    ----------
    obj : object
        The config value.

    Returns
    -------
    str
        32 lowercase hex characters.

    Raises
    ------
    TypeError
        If `obj` holds a value of any other type (the message names the type and where it is)
        or a dict with a non-str key.

    Examples
    --------
    >>> config_fingerprint({"a": 1, "b": [0.1, None]}) == config_fingerprint(
    ...     {"b": (0.1, None), "a": 1}
    ... )
    True
    >>> config_fingerprint({"a": 1}) == config_fingerprint({"a": 1.0})
    False
    """
    canonical = _canonical(obj, "config")
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _blake2b(_CONFIG_TAG, text.encode())


@dataclasses.dataclass(frozen=True)
class StageKey:
    """Everything a stage output depends on.

    Parameters
    ----------
    stage : str
        Stage name, also the folder the entries live in: letters, digits, ``_``, ``.`` and
        ``-``, not starting with ``.`` or ``-``, at most 100 characters.
    input_hash : str
        Hash of the stage's input data, e.g. `frame_fingerprint` of the input frame.
    config_hash : str
        Hash of the stage's config section, e.g. `config_fingerprint` of it.
    upstream : str | None
        `digest` of the upstream stage's key, None for the first stage.
    package_version : str
        m002 version; defaults to the installed one.
    polars_version : str
        polars version (row hashes are only stable within one); defaults to the installed one.

    Raises
    ------
    ConfigError
        If `stage` is not a valid folder name.
    """

    stage: str
    input_hash: str
    config_hash: str
    upstream: str | None
    package_version: str = _m002_version
    polars_version: str = pl.__version__

    def __post_init__(self) -> None:
        if not isinstance(self.stage, str) or not _STAGE_PATTERN.fullmatch(self.stage):
            msg = (
                "`stage` must be 1-100 characters of letters, digits, '_', '.' or '-', not "
                f"starting with '.' or '-', got `stage={self.stage!r}`"
            )
            raise ConfigError(msg)

    @property
    def digest(self) -> str:
        """Hex BLAKE2b (32 characters) of all fields; the entry's folder name."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return _blake2b(_KEY_TAG, text.encode())

    def to_dict(self) -> dict[str, str | None]:
        """Return the fields as a plain dict (what the manifest records).

        Returns
        -------
        dict[str, str | None]
            Field name to value.
        """
        return {
            "stage": self.stage,
            "input_hash": self.input_hash,
            "config_hash": self.config_hash,
            "upstream": self.upstream,
            "package_version": self.package_version,
            "polars_version": self.polars_version,
        }


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes a rename or a new file durable; platforms that cannot open folders skip it.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _rename_dir(src: Path, dst: Path) -> None:
    """Rename a folder; fails if `dst` is a non-empty folder (tests patch this step)."""
    os.rename(src, dst)


def _age_s(path: Path, now: float) -> float:
    """Seconds since `path` or any file directly in it last changed."""
    try:
        latest = path.stat().st_mtime
        for child in path.iterdir():
            latest = max(latest, child.stat().st_mtime)
    except OSError:
        return 0.0
    return now - latest


class StageCache:
    """On-disk cache of stage output frames under ``<root>/<stage>/<digest>/``.

    Parameters
    ----------
    root : str | Path
        Cache folder, created on the first `put`; `default_cache_dir` gives the usual one.
    enabled : bool, default True
        When False the cache never reads or writes: `get` returns None, `put` does nothing and
        `get_or_compute` always computes.

    Examples
    --------
    >>> import tempfile
    >>> cache = StageCache(tempfile.mkdtemp())
    >>> key = StageKey("demo", input_hash="abc", config_hash="def", upstream=None)
    >>> cache.get(key) is None
    True
    >>> cache.put(key, pl.DataFrame({"a": [1, 2]}))
    >>> cache.get(key).shape
    (2, 1)
    """

    def __init__(self, root: str | Path, *, enabled: bool = True) -> None:
        self._root = Path(root).expanduser()
        self._enabled = enabled

    @property
    def root(self) -> Path:
        """The cache folder."""
        return self._root

    @property
    def enabled(self) -> bool:
        """Whether the cache reads and writes."""
        return self._enabled

    def __repr__(self) -> str:
        return f"StageCache(root={str(self._root)!r}, enabled={self._enabled})"

    def _entry_dir(self, key: StageKey) -> Path:
        return self._root / key.stage / key.digest

    def _new_tmp_dir(self, stage: str) -> Path:
        return self._root / f"{_TMP_PREFIX}{stage}-{uuid.uuid4().hex}"

    @staticmethod
    def _read_manifest(
        entry: Path, key: StageKey | None, kind: str | None
    ) -> dict[str, Any] | None:
        """Return the entry's manifest if it is complete (and matches `key`/`kind`), else None.

        Cheap: checks the manifest and the size of every stored file, not their contents.
        """
        try:
            manifest = json.loads((entry / _MANIFEST_FILE).read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
                return None
            if manifest["digest"] != entry.name:
                return None
            if key is not None and manifest["key"] != key.to_dict():
                return None
            if kind is not None and manifest["kind"] != kind:
                return None
            if manifest["kind"] == _KIND_FRAME:
                sizes = {_DATA_FILE: manifest["bytes"]}
            elif manifest["kind"] == _KIND_DIR:
                sizes = {f"{_PAYLOAD_DIR}/{name}": size for name, size in manifest["files"].items()}
            else:
                return None
            for name, size in sizes.items():
                if (entry / name).stat().st_size != size:
                    return None
        except _READ_ERRORS:
            return None
        return manifest

    def _commit(self, key: StageKey, fill: Callable[[Path], dict[str, Any]]) -> Path:
        """Fill a temporary folder, add the manifest, sync, and rename it into place.

        `fill` writes the entry's files into the folder it is given and returns the
        kind-specific manifest fields. Returns the entry's final folder.
        """
        self._root.mkdir(parents=True, exist_ok=True)
        tmp = self._new_tmp_dir(key.stage)
        final = self._entry_dir(key)
        try:
            tmp.mkdir()
            manifest = {
                "format": _MANIFEST_FORMAT,
                "digest": key.digest,
                "key": key.to_dict(),
                **fill(tmp),
                "created": datetime.now(UTC).isoformat(timespec="microseconds"),
            }
            manifest_path = tmp / _MANIFEST_FILE
            manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            _fsync_file(manifest_path)
            _fsync_dir(tmp)
            self._publish(tmp, final, key, manifest["kind"])
        finally:
            # Only still there if publishing failed or another process's entry was kept.
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def get(self, key: StageKey) -> pl.DataFrame | None:
        """Return the cached frame for `key`, or None.

        Never raises on a damaged entry: a missing or mismatching manifest, a truncated or
        corrupt parquet, or a row count or schema differing from the manifest all read as a
        miss. An entry whose manifest is complete but whose parquet does not read back is
        removed (a later `put` also replaces entries with a bad manifest).

        Parameters
        ----------
        key : StageKey
            What the frame depends on.

        Returns
        -------
        pl.DataFrame | None
            The frame, or None on a miss or when the cache is disabled.
        """
        if not self._enabled:
            return None
        entry = self._entry_dir(key)
        manifest = self._read_manifest(entry, key, _KIND_FRAME)
        if manifest is None:
            return None
        try:
            frame = pl.read_parquet(entry / _DATA_FILE)
            valid = frame.height == manifest["rows"] and (
                _schema_json(frame.schema) == manifest["schema"]
            )
        except _READ_ERRORS:
            valid = False
        if not valid:
            # A complete entry whose data does not read back is damaged for good (entries are
            # never modified after publishing): drop it so the next `put` can replace it.
            self._discard(entry)
            return None
        return frame

    def put(self, key: StageKey, frame: pl.DataFrame) -> None:
        """Store `frame` under `key`, atomically.

        The parquet and the manifest are written and synced in a temporary folder inside the
        root, which is then renamed to ``<root>/<stage>/<digest>/``. If a valid entry is already
        there (another process won the race), the temporary folder is discarded; a damaged
        entry there is replaced. If anything fails, the temporary folder is removed.

        Parameters
        ----------
        key : StageKey
            What the frame depends on.
        frame : pl.DataFrame
            The stage output.

        Raises
        ------
        TypeError
            If `frame` is not a polars DataFrame.
        OSError
            If the cache folder cannot be written (disk full, permissions).
        """
        if not isinstance(frame, pl.DataFrame):
            msg = f"StageCache.put expects a polars DataFrame, got {type(frame).__name__}"
            raise TypeError(msg)
        if not self._enabled:
            return

        def fill(folder: Path) -> dict[str, Any]:
            data = folder / _DATA_FILE
            frame.write_parquet(data)
            _fsync_file(data)
            return {
                "kind": _KIND_FRAME,
                "rows": frame.height,
                "columns": frame.width,
                "schema": _schema_json(frame.schema),
                "bytes": data.stat().st_size,
            }

        self._commit(key, fill)

    def get_dir(self, key: StageKey) -> Path | None:
        """Return the folder of a cached folder entry (see `get_or_build_dir`), or None.

        Parameters
        ----------
        key : StageKey
            What the folder's contents depend on.

        Returns
        -------
        Path | None
            ``<root>/<stage>/<digest>/files``, or None on a miss, a damaged entry (a file
            missing or of the wrong size) or when the cache is disabled. Treat it as read-only.
        """
        if not self._enabled:
            return None
        entry = self._entry_dir(key)
        if self._read_manifest(entry, key, _KIND_DIR) is None:
            return None
        return entry / _PAYLOAD_DIR

    def get_or_build_dir(self, key: StageKey, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """Return the cached folder for `key`, or build it atomically and return it.

        For stage outputs that are not one frame (a fitted model saved as files, with its
        out-of-fold predictions): `build` writes any files into the (empty) folder it is given;
        the folder is then synced and published like a frame entry, with the size of every
        file in the manifest.

        Parameters
        ----------
        key : StageKey
            What the folder's contents depend on.
        build : Callable[[Path], None]
            Writes the stage's files into the given folder. It must not record that folder's
            absolute path in the files: the folder is renamed after `build` returns.

        Returns
        -------
        tuple[Path, bool]
            The folder (treat it as read-only) and whether it came from the cache. When the
            cache is disabled the folder is a fresh one from `tempfile.mkdtemp`, owned by the
            caller.

        Raises
        ------
        OSError
            If the cache folder cannot be written. Whatever `build` raises propagates, and
            nothing is cached.
        """
        cached = self.get_dir(key)
        if cached is not None:
            return cached, True
        if not self._enabled:
            folder = Path(tempfile.mkdtemp(prefix=f"m002-{key.stage}-"))
            build(folder)
            return folder, False

        def fill(folder: Path) -> dict[str, Any]:
            payload = folder / _PAYLOAD_DIR
            payload.mkdir()
            build(payload)
            files: dict[str, int] = {}
            for path in sorted(payload.rglob("*")):
                if path.is_file():
                    _fsync_file(path)
                    files[path.relative_to(payload).as_posix()] = path.stat().st_size
                elif path.is_dir():
                    _fsync_dir(path)
            _fsync_dir(payload)
            return {
                "kind": _KIND_DIR,
                "rows": None,
                "files": files,
                "bytes": sum(files.values()),
            }

        return self._commit(key, fill) / _PAYLOAD_DIR, False

    def _publish(self, tmp: Path, final: Path, key: StageKey, kind: str) -> None:
        for _ in range(3):
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                _rename_dir(tmp, final)
            except FileNotFoundError:
                # A concurrent `clear` removed the (empty) stage folder between mkdir and rename.
                if not tmp.is_dir():
                    raise
                continue
            except OSError:
                if not final.exists():
                    raise
                if self._read_manifest(final, key, kind) is not None:
                    return  # another writer won; its entry is equivalent
                self._discard(final)  # damaged entry: replace it
                continue
            _fsync_dir(final.parent)
            return
        msg = f"could not publish cache entry {final} after 3 attempts (concurrent writers?)"
        raise OSError(msg)

    def _discard(self, path: Path) -> None:
        """Remove a folder so that readers see it either whole or not at all."""
        trash = self._new_tmp_dir(path.parent.name)
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def get_or_compute(
        self, key: StageKey, compute: Callable[[], pl.DataFrame]
    ) -> tuple[pl.DataFrame, bool]:
        """Return the cached frame for `key`, or compute, store and return it.

        A failure to write the cache (disk full, permissions) does not lose the computed
        frame: it is reported as a `RuntimeWarning` and the frame is returned.

        Parameters
        ----------
        key : StageKey
            What the frame depends on.
        compute : Callable[[], pl.DataFrame]
            Produces the frame on a miss.

        Returns
        -------
        tuple[pl.DataFrame, bool]
            The frame and whether it came from the cache.

        Raises
        ------
        TypeError
            If `compute` returns something other than a polars DataFrame.
        """
        cached = self.get(key)
        if cached is not None:
            return cached, True
        frame = compute()
        if not isinstance(frame, pl.DataFrame):
            msg = (
                f"compute for stage {key.stage!r} must return a polars DataFrame, "
                f"got {type(frame).__name__}"
            )
            raise TypeError(msg)
        try:
            self.put(key, frame)
        except OSError as exc:
            warnings.warn(
                f"could not write cache entry for stage {key.stage!r} under {self._root}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
        return frame, False

    def _stage_dirs(self, stage: str | None) -> list[Path]:
        if not self._root.is_dir():
            return []
        if stage is not None:
            path = self._root / stage
            return [path] if path.is_dir() else []
        return sorted(p for p in self._root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def clear(
        self, stage: str | None = None, *, stale_after: float = _DEFAULT_STALE_AFTER_S
    ) -> int:
        """Remove entries, and temporary folders left by interrupted writes.

        Parameters
        ----------
        stage : str | None
            Only this stage's entries and temporary folders; None for all.
        stale_after : float, default 600
            Temporary folders unchanged for at least this many seconds are removed; younger
            ones may belong to a write in progress in another process and are kept.

        Returns
        -------
        int
            Number of entries plus temporary folders removed.
        """
        removed = 0
        for stage_dir in self._stage_dirs(stage):
            for entry in sorted(stage_dir.iterdir()):
                if entry.is_dir() and not entry.name.startswith("."):
                    self._discard(entry)
                    removed += 1
            with contextlib.suppress(OSError):  # not empty: something was written meanwhile
                stage_dir.rmdir()
        if not self._root.is_dir():
            return removed
        now = time.time()
        for tmp in sorted(self._root.glob(f"{_TMP_PREFIX}*")):
            tmp_stage = tmp.name[len(_TMP_PREFIX) :].rpartition("-")[0]
            if not tmp.is_dir() or (stage is not None and tmp_stage != stage):
                continue
            if _age_s(tmp, now) >= stale_after:
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        return removed

    def entries(self) -> pl.DataFrame:
        """List the entries whose manifest is readable.

        Returns
        -------
        pl.DataFrame
            Columns ``stage``, ``digest``, ``kind`` (``"frame"`` or ``"dir"``), ``rows`` (null
            for folder entries), ``bytes`` (stored size) and ``created`` (UTC), sorted by stage
            then creation time; empty with that schema when there are none. Temporary folders
            are not listed.
        """
        rows: list[dict[str, Any]] = []
        for stage_dir in self._stage_dirs(None):
            for entry in stage_dir.iterdir():
                manifest = self._read_manifest(entry, None, None) if entry.is_dir() else None
                if manifest is None:
                    continue
                try:
                    created: datetime | None = datetime.fromisoformat(manifest["created"])
                except _READ_ERRORS:
                    created = None
                rows.append(
                    {
                        "stage": stage_dir.name,
                        "digest": entry.name,
                        "kind": manifest.get("kind"),
                        "rows": manifest.get("rows"),
                        "bytes": manifest.get("bytes"),
                        "created": created,
                    }
                )
        return pl.DataFrame(rows, schema=_ENTRIES_SCHEMA).sort("stage", "created")
