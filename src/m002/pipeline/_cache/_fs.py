"""The cache's file-system steps: renames that publish or retire a whole entry folder, and the
times that say how old an entry or a temporary folder is.

Syncing files and folders to disk is `m002._io`'s (`fsync_file`, `fsync_dir`); this module
only adds what is particular to entry folders.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

__all__ = ["TMP_PREFIX", "age_s", "mtime", "new_tmp_dir", "remove_dir", "rename_dir", "touch"]

TMP_PREFIX = ".tmp-"
"""Prefix of temporary folders in the cache root: ``.tmp-<stage>-<32 hex>``."""


def new_tmp_dir(root: Path, stage: str) -> Path:
    """A fresh temporary folder path in `root` for `stage` (not created)."""
    return root / f"{TMP_PREFIX}{stage}-{uuid.uuid4().hex}"


def rename_dir(src: Path, dst: Path) -> None:
    """Rename a folder; fails if `dst` is a non-empty folder (tests patch this step)."""
    os.rename(src, dst)


def remove_dir(path: Path, root: Path) -> bool:
    """Remove the folder `path` so that readers see it either whole or not at all.

    The folder is first renamed to a temporary folder in `root` (one atomic step that takes it
    out of sight) and then deleted; a process killed while deleting leaves a temporary folder,
    which `StageCache.clear` and `StageCache.prune` remove once stale.

    Returns
    -------
    bool
        False if `path` was already gone (another process removed it first).
    """
    trash = new_tmp_dir(root, path.parent.name)
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def touch(path: Path) -> None:
    """Set `path`'s modification time to now.

    Raises
    ------
    FileNotFoundError
        If `path` is gone. Other errors (a read-only cache) are ignored: a use that cannot be
        recorded only makes the entry look older to `StageCache.prune`.
    """
    try:
        os.utime(path)
    except FileNotFoundError:
        raise
    except OSError:
        pass


def mtime(path: Path) -> float | None:
    """`path`'s modification time (seconds since the epoch), or None if it cannot be read."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def age_s(path: Path, now: float | None = None) -> float:
    """Seconds since `path` or any file directly in it last changed; 0 if unreadable."""
    now = time.time() if now is None else now
    try:
        latest = path.stat().st_mtime
        for child in path.iterdir():
            latest = max(latest, child.stat().st_mtime)
    except OSError:
        return 0.0
    return now - latest
