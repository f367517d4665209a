"""The layout of one entry folder, ``<root>/<stage>/<digest>/``, and the reading of its
manifest: what makes an entry complete, and where its last use is recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from m002.pipeline._cache import _fs
from m002.pipeline._cache._keys import StageKey

__all__ = [
    "DATA_FILE",
    "KIND_DIR",
    "KIND_FRAME",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "PAYLOAD_DIR",
    "READ_ERRORS",
    "entry_dirs",
    "mark_used",
    "read_manifest",
]

# The manifest's layout is unchanged by key format v2, so that entries of older keys are
# still listed and pruned (their digests are never looked up again).
MANIFEST_FORMAT = 1
DATA_FILE = "data.parquet"
MANIFEST_FILE = "manifest.json"
PAYLOAD_DIR = "files"
KIND_FRAME = "frame"
KIND_DIR = "dir"
_DIGEST_PATTERN = re.compile(r"[0-9a-f]{32}")

# Errors that mean "this entry is unusable", never "the caller did something wrong". A corrupt
# parquet can make the Rust reader panic, which surfaces as a BaseException subclass.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
)


def read_manifest(
    entry: Path, key: StageKey | None, kind: str | None, *, check_files: bool = True
) -> dict[str, Any] | None:
    """Return the entry's manifest if it is complete (and matches `key`/`kind`), else None.

    Cheap: checks the manifest and (unless not `check_files`) the size of every stored file,
    not their contents.
    """
    try:
        manifest = json.loads((entry / MANIFEST_FILE).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            return None
        if manifest["digest"] != entry.name:
            return None
        if key is not None and manifest["key"] != key.to_dict():
            return None
        if kind is not None and manifest["kind"] != kind:
            return None
        if manifest["kind"] == KIND_FRAME:
            sizes = {DATA_FILE: manifest["bytes"]}
        elif manifest["kind"] == KIND_DIR:
            sizes = {f"{PAYLOAD_DIR}/{name}": size for name, size in manifest["files"].items()}
        else:
            return None
        for name, size in sizes.items() if check_files else ():
            if (entry / name).stat().st_size != size:
                return None
    except READ_ERRORS:
        return None
    return manifest


def mark_used(entry: Path) -> bool:
    """Record a use of `entry` as its manifest's modification time; False if it is gone."""
    try:
        _fs.touch(entry / MANIFEST_FILE)
    except FileNotFoundError:
        return False
    return True


def last_used(entry: Path) -> float | None:
    """When `entry` was last used (seconds since the epoch), or None if unreadable."""
    return _fs.mtime(entry / MANIFEST_FILE)


def entry_dirs(stage_dir: Path) -> list[Path]:
    """The folders in `stage_dir` named like entries (32 hex characters), sorted; nothing else
    there is the cache's to remove."""
    try:
        children = sorted(stage_dir.iterdir())
    except OSError:
        return []
    return [p for p in children if _DIGEST_PATTERN.fullmatch(p.name) and p.is_dir()]
