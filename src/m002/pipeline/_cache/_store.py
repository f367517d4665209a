"""`StageCache`: the store of stage outputs under ``<root>/<stage>/<digest>/``, its reads,
atomic writes, listing and pruning."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from m002._io import fsync_dir, fsync_file
from m002.pipeline._cache import _fs, _housekeeping
from m002.pipeline._cache._fingerprints import schema_json
from m002.pipeline._cache._housekeeping import PruneResult
from m002.pipeline._cache._keys import StageKey, check_stage
from m002.pipeline._cache._limits import default_max_bytes
from m002.pipeline._cache._manifest import (
    DATA_FILE,
    KIND_DIR,
    KIND_FRAME,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    PAYLOAD_DIR,
    READ_ERRORS,
    mark_used,
    read_manifest,
)

__all__ = ["CACHE_DIR_ENV", "DEFAULT_CACHE_DIR", "StageCache", "default_cache_dir"]

CACHE_DIR_ENV = "M002_CACHE_DIR"
"""Environment variable that overrides `DEFAULT_CACHE_DIR`."""

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "m002"
"""Cache root used when ``M002_CACHE_DIR`` is not set."""

# What `clear` and `prune` (also run after every write) take as a stale temporary folder: a
# build writes nothing into it until it is done, and fitting a model may take hours.
_STALE_AFTER_S = 86_400.0


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


class StageCache:
    """On-disk cache of stage output frames under ``<root>/<stage>/<digest>/``.

    Parameters
    ----------
    root : str | Path
        Cache folder, created on the first `put`; `default_cache_dir` gives the usual one.
    enabled : bool, default True
        When False the cache never reads or writes: `get` returns None, `put` does nothing and
        `get_or_compute` always computes.
    max_bytes : int | None
        The size bound applied after each write: least recently used entries are pruned
        until the entries' stored size is at most this. None takes ``$M002_CACHE_MAX_BYTES``
        if set, else 5 GB (`DEFAULT_MAX_BYTES`).
    auto_prune : bool, default True
        False never prunes after a write (`prune` still can be called).

    Raises
    ------
    ConfigError
        If `max_bytes` is not an int >= 0, or ``$M002_CACHE_MAX_BYTES`` is not a size.

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

    def __init__(
        self,
        root: str | Path,
        *,
        enabled: bool = True,
        max_bytes: int | None = None,
        auto_prune: bool = True,
    ) -> None:
        _housekeeping.check_max_bytes(max_bytes)
        self._root = Path(root).expanduser()
        self._enabled = enabled
        self._max_bytes = (
            None if not auto_prune else default_max_bytes() if max_bytes is None else max_bytes
        )
        # when disabled, `get_or_build_dir` builds under this; removed with the cache object
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # a copy sent to another process makes scratch folders of its own
        return {**self.__dict__, "_scratch": None}

    @property
    def root(self) -> Path:
        """The cache folder."""
        return self._root

    @property
    def enabled(self) -> bool:
        """Whether the cache reads and writes."""
        return self._enabled

    @property
    def max_bytes(self) -> int | None:
        """The size bound applied after each write; None when `auto_prune` is off."""
        return self._max_bytes

    def __repr__(self) -> str:
        return (
            f"StageCache(root={str(self._root)!r}, enabled={self._enabled}, "
            f"max_bytes={self._max_bytes})"
        )

    def _entry_dir(self, key: StageKey) -> Path:
        return self._root / key.stage / key.digest

    def _commit(self, key: StageKey, fill: Callable[[Path], dict[str, Any]]) -> Path:
        """Fill a temporary folder, add the manifest, sync, rename it into place, and keep the
        cache within its size bound.

        `fill` writes the entry's files into the folder it is given and returns the
        kind-specific manifest fields. Returns the entry's final folder.
        """
        self._root.mkdir(parents=True, exist_ok=True)
        tmp = _fs.new_tmp_dir(self._root, key.stage)
        final = self._entry_dir(key)
        try:
            tmp.mkdir()
            manifest = {
                "format": MANIFEST_FORMAT,
                "digest": key.digest,
                "key": key.to_dict(),
                **fill(tmp),
                "created": datetime.now(UTC).isoformat(timespec="microseconds"),
            }
            manifest_path = tmp / MANIFEST_FILE
            manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            fsync_file(manifest_path)
            fsync_dir(tmp)
            self._publish(tmp, final, key, manifest["kind"])
        finally:
            # Only still there if publishing failed or another process's entry was kept.
            shutil.rmtree(tmp, ignore_errors=True)
        self._bound()
        return final

    def _publish(self, tmp: Path, final: Path, key: StageKey, kind: str) -> None:
        for _ in range(3):
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                _fs.rename_dir(tmp, final)
            except FileNotFoundError:
                # A concurrent prune or clear removed the (empty) stage folder between mkdir
                # and rename.
                if not tmp.is_dir():
                    raise
                continue
            except OSError:
                if not final.exists():
                    raise
                if read_manifest(final, key, kind) is not None:
                    # Another writer won; its entry is equivalent, and now used.
                    mark_used(final)
                    return
                _fs.remove_dir(final, self._root)  # damaged entry: replace it
                continue
            fsync_dir(final.parent)
            return
        msg = f"could not publish cache entry {final} after 3 attempts (concurrent writers?)"
        raise OSError(msg)

    def _bound(self) -> None:
        if self._max_bytes is None:
            return
        try:
            self.prune(max_bytes=self._max_bytes)
        except OSError as exc:
            # The entry is written; a cache that cannot shrink now is shrunk by a later write.
            warnings.warn(
                f"could not prune the cache under {self._root}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )

    def get(self, key: StageKey) -> pl.DataFrame | None:
        """Return the cached frame for `key`, or None, and record the use.

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
        manifest = read_manifest(entry, key, KIND_FRAME)
        # Marked before reading, so that a prune elsewhere sees the entry in use.
        if manifest is None or not mark_used(entry):
            return None
        try:
            frame = pl.read_parquet(entry / DATA_FILE)
            valid = frame.height == manifest["rows"] and (
                schema_json(frame.schema) == manifest["schema"]
            )
        except READ_ERRORS:
            valid = False
        if not valid:
            if not (entry / MANIFEST_FILE).is_file():
                return None  # removed by another process while being read: a plain miss
            # A complete entry whose data does not read back is damaged for good (entries are
            # never modified after publishing): drop it so the next `put` can replace it.
            _fs.remove_dir(entry, self._root)
            return None
        return frame

    def put(self, key: StageKey, frame: pl.DataFrame) -> None:
        """Store `frame` under `key`, atomically, then prune to the size bound.

        The parquet and the manifest are written and synced in a temporary folder inside the
        root, which is then renamed to ``<root>/<stage>/<digest>/``. If a valid entry is already
        there (another process won the race), the temporary folder is discarded; a damaged
        entry there is replaced. If anything fails, the temporary folder is removed. Then
        least recently used entries are pruned down to `max_bytes` (see `prune`; never the
        entry just written).

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
            data = folder / DATA_FILE
            frame.write_parquet(data)
            fsync_file(data)
            return {
                "kind": KIND_FRAME,
                "rows": frame.height,
                "columns": frame.width,
                "schema": schema_json(frame.schema),
                "bytes": data.stat().st_size,
            }

        self._commit(key, fill)

    def get_dir(self, key: StageKey) -> Path | None:
        """Return the folder of a cached folder entry (see `get_or_build_dir`), or None, and
        record the use.

        Parameters
        ----------
        key : StageKey
            What the folder's contents depend on.

        Returns
        -------
        Path | None
            ``<root>/<stage>/<digest>/files``, or None on a miss, a damaged entry (a file
            missing or of the wrong size) or when the cache is disabled. Treat it as read-only,
            and read it within `IN_USE_SECONDS` (ten minutes): `prune` keeps it that long.
        """
        if not self._enabled:
            return None
        entry = self._entry_dir(key)
        if read_manifest(entry, key, KIND_DIR) is None or not mark_used(entry):
            return None
        return entry / PAYLOAD_DIR

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
            The folder (treat it as read-only; see `get_dir`) and whether it came from the
            cache. When the cache is disabled the folder is a fresh temporary one, removed
            when this cache object is (or when the process exits).

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
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="m002-uncached-")
            folder = Path(tempfile.mkdtemp(prefix=f"{key.stage}-", dir=self._scratch.name))
            build(folder)
            return folder, False

        def fill(folder: Path) -> dict[str, Any]:
            payload = folder / PAYLOAD_DIR
            payload.mkdir()
            build(payload)
            files: dict[str, int] = {}
            for path in sorted(payload.rglob("*")):
                if path.is_file():
                    fsync_file(path)
                    files[path.relative_to(payload).as_posix()] = path.stat().st_size
                elif path.is_dir():
                    fsync_dir(path)
            fsync_dir(payload)
            return {
                "kind": KIND_DIR,
                "rows": None,
                "files": files,
                "bytes": sum(files.values()),
            }

        return self._commit(key, fill) / PAYLOAD_DIR, False

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

    # --- housekeeping ---------------------------------------------------------------------

    def clear(self, stage: str | None = None, *, stale_after: float = _STALE_AFTER_S) -> int:
        """Remove entries, and temporary folders left by interrupted writes.

        Unlike `prune`, removes entries in use too: a reader elsewhere holding a `get_dir`
        folder may then fail to read it. Only folders named like entries (32 hex characters)
        inside a stage folder are removed, damaged ones included; nothing else in the root.

        Parameters
        ----------
        stage : str | None
            Only this stage's entries and temporary folders; None for all.
        stale_after : float, default 86400
            Temporary folders unchanged for at least this many seconds are removed; younger
            ones may belong to a write in progress in another process (a model fit writes
            nothing into its folder until it ends) and are kept.

        Returns
        -------
        int
            Number of entries plus temporary folders removed.

        Raises
        ------
        ConfigError
            If `stage` cannot name a stage folder (``"../etc"``).
        """
        if stage is not None:
            check_stage(stage)
        return _housekeeping.clear(self._root, stage, stale_after=stale_after)

    def prune(
        self,
        *,
        older_than: timedelta | None = None,
        max_bytes: int | None = None,
        stale_after: float = _STALE_AFTER_S,
    ) -> PruneResult:
        """Remove entries not used for longer than `older_than`, then least recently used
        entries until the entries' stored size is at most `max_bytes`, and stale temporary
        folders.

        A use is a `get`, `get_dir` or write of the entry; its time is the modification time
        of the entry's manifest. Entries used within the last `IN_USE_SECONDS` (ten minutes)
        are kept whatever the limits say, so that a process that has just been handed an
        entry's folder can read it; the size may therefore stay above `max_bytes` until they
        age. Just before an entry is removed its last use is read again, so an entry used
        while a prune runs is kept. Removal renames the entry out of sight in one step, so a
        reader never sees part of an entry. Only entries whose manifest names their folder are
        pruned (damaged ones included); anything else in the root is left alone.

        Parameters
        ----------
        older_than : timedelta | None
            Remove entries whose last use is older than this; None keeps them.
        max_bytes : int | None
            Then remove the least recently used entries until the stored size is at most this;
            None sets no bound.
        stale_after : float, default 86400
            Temporary folders unchanged for at least this many seconds (a day) are removed:
            left by killed writes. Shorter is unsafe while another process may be building an
            entry, since a build writes its files only at the end.

        Returns
        -------
        PruneResult
            The entries removed, the temporary folders removed, the size before and after.

        Raises
        ------
        ConfigError
            If `older_than` is negative or `max_bytes` is not an int >= 0.
        """
        return _housekeeping.prune(
            self._root, older_than=older_than, max_bytes=max_bytes, stale_after=stale_after
        )

    def entries(self) -> pl.DataFrame:
        """List the entries whose manifest is readable.

        Returns
        -------
        pl.DataFrame
            Columns ``stage``, ``digest``, ``kind`` (``"frame"`` or ``"dir"``), ``rows`` (null
            for folder entries), ``bytes`` (stored size), ``created`` and ``last_used`` (UTC),
            sorted by stage then creation time; empty with that schema when there are none.
            Temporary folders are not listed.
        """
        return _housekeeping.entries_frame(_housekeeping.list_entries(self._root)).sort(
            "stage", "created"
        )
