"""Listing, pruning and clearing the entries under a cache root (what `StageCache.entries`,
`StageCache.prune` and `StageCache.clear` do)."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from m002.exceptions import ConfigError
from m002.pipeline._cache import _fs
from m002.pipeline._cache._manifest import READ_ERRORS, entry_dirs, last_used, read_manifest

__all__ = [
    "IN_USE_SECONDS",
    "PruneResult",
    "clear",
    "entries_frame",
    "list_entries",
    "prune",
]

IN_USE_SECONDS = 600.0
"""An entry used (read or written) this recently is never pruned: a reader holding its path
may still be reading it."""

ENTRIES_SCHEMA = pl.Schema(
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


@dataclasses.dataclass(frozen=True)
class Entry:
    """A published entry as a listing sees it."""

    path: Path
    kind: str
    rows: int | None
    bytes: int
    created: datetime | None
    last_used: float

    def row(self) -> dict[str, Any]:
        """The entry as a row of `entries_frame`."""
        return {
            "stage": self.path.parent.name,
            "digest": self.path.name,
            "kind": self.kind,
            "rows": self.rows,
            "bytes": self.bytes,
            "created": self.created,
            "last_used": datetime.fromtimestamp(self.last_used, UTC),
        }


def entries_frame(entries: Iterable[Entry]) -> pl.DataFrame:
    """Entries as a frame of `ENTRIES_SCHEMA`, in the order given."""
    return pl.DataFrame([e.row() for e in entries], schema=ENTRIES_SCHEMA)


@dataclasses.dataclass(frozen=True, eq=False)
class PruneResult:
    """What `StageCache.prune` removed.

    Attributes
    ----------
    removed : pl.DataFrame
        The removed entries, least recently used first, with the columns of
        `StageCache.entries`.
    temps_removed : int
        Temporary folders left by interrupted writes that were removed.
    bytes_before, bytes_after : int
        Stored size of all entries before and after.
    """

    removed: pl.DataFrame
    temps_removed: int
    bytes_before: int
    bytes_after: int

    @property
    def bytes_freed(self) -> int:
        """Stored size of the removed entries."""
        return self.bytes_before - self.bytes_after


def stage_dirs(root: Path, stage: str | None) -> list[Path]:
    """The stage folders in `root` (only `stage`'s, when given), sorted."""
    if not root.is_dir():
        return []
    if stage is not None:
        path = root / stage
        return [path] if path.is_dir() else []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_entries(root: Path) -> list[Entry]:
    """Every entry under `root` whose manifest is readable, least recently used first."""
    found: list[Entry] = []
    for stage_dir in stage_dirs(root, None):
        for path in entry_dirs(stage_dir):
            # Damaged entries too: they take space, and a manifest naming its own folder
            # shows that the folder is the cache's to remove.
            manifest = read_manifest(path, None, None, check_files=False)
            used = last_used(path)
            if manifest is None or used is None:
                continue
            try:
                created: datetime | None = datetime.fromisoformat(manifest["created"])
            except READ_ERRORS:
                created = None
            rows, size = manifest.get("rows"), manifest["bytes"]
            found.append(
                Entry(
                    path=path,
                    kind=str(manifest["kind"]),
                    rows=rows if isinstance(rows, int) else None,
                    bytes=size if isinstance(size, int) else 0,
                    created=created,
                    last_used=used,
                )
            )
    found.sort(key=lambda e: (e.last_used, e.path.parent.name, e.path.name))
    return found


def _remove_stale_temps(root: Path, stage: str | None, stale_after: float) -> int:
    if not root.is_dir():
        return 0
    removed = 0
    now = time.time()
    for tmp in sorted(root.glob(f"{_fs.TMP_PREFIX}*")):
        tmp_stage = tmp.name[len(_fs.TMP_PREFIX) :].rpartition("-")[0]
        if not tmp.is_dir() or (stage is not None and tmp_stage != stage):
            continue
        if _fs.age_s(tmp, now) >= stale_after:
            shutil.rmtree(tmp, ignore_errors=True)
            removed += 1
    return removed


def _remove_empty_stage_dirs(root: Path, stage: str | None) -> None:
    for stage_dir in stage_dirs(root, stage):
        with contextlib.suppress(OSError):  # not empty, or written to meanwhile
            stage_dir.rmdir()


def clear(root: Path, stage: str | None, *, stale_after: float) -> int:
    """Remove every entry (of `stage`, if given) and stale temporary folders; see
    `StageCache.clear`. Returns how many folders were removed."""
    removed = 0
    for stage_dir in stage_dirs(root, stage):
        for entry in entry_dirs(stage_dir):
            removed += _fs.remove_dir(entry, root)
    _remove_empty_stage_dirs(root, stage)
    return removed + _remove_stale_temps(root, stage, stale_after)


def _retire(root: Path, entry: Entry, in_use_since: float) -> bool:
    """Remove a listed entry unless it was used since it was listed."""
    used = last_used(entry.path)
    if used is None or used >= in_use_since or used != entry.last_used:
        return False
    return _fs.remove_dir(entry.path, root)


def prune(
    root: Path, *, older_than: timedelta | None, max_bytes: int | None, stale_after: float
) -> PruneResult:
    """Remove entries by last use and total size, and stale temporary folders; see
    `StageCache.prune`."""
    if older_than is not None and (
        not isinstance(older_than, timedelta) or older_than < timedelta(0)
    ):
        msg = f"`older_than` must be a timedelta >= 0 or None, got `older_than={older_than!r}`"
        raise ConfigError(msg)
    check_max_bytes(max_bytes)
    listing = list_entries(root)
    before = sum(e.bytes for e in listing)
    now = time.time()
    in_use_since = now - IN_USE_SECONDS
    cutoff = None if older_than is None else now - older_than.total_seconds()
    total = before
    removed: list[Entry] = []
    for entry in listing:
        too_old = cutoff is not None and entry.last_used < cutoff
        too_big = max_bytes is not None and total > max_bytes
        # Sorted by last use: once one entry is recent enough, so are all after it.
        if not (too_old or too_big) or entry.last_used >= in_use_since:
            break
        if _retire(root, entry, in_use_since):
            removed.append(entry)
            total -= entry.bytes
    if removed:
        _remove_empty_stage_dirs(root, None)
    temps = _remove_stale_temps(root, None, stale_after)
    return PruneResult(entries_frame(removed), temps, before, total)


def check_max_bytes(max_bytes: object) -> None:
    """Raise `ConfigError` unless `max_bytes` is None or an int >= 0."""
    if max_bytes is not None and (
        not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0
    ):
        msg = f"`max_bytes` must be an int >= 0 or None, got `max_bytes={max_bytes!r}`"
        raise ConfigError(msg)
