"""On-disk cache of pipeline stage outputs, keyed by content hashes.

A stage output (features, regime probabilities, head predictions: a polars DataFrame) is stored
under ``<root>/<stage>/<digest>/`` as ``data.parquet`` plus ``manifest.json``; an output that is
a set of files (a fitted model) is stored the same way with its files under ``files/``. The
digest hashes a `StageKey`: the hash of the stage's input data, of its config section, of the
upstream stage's key, of m002's source code (`code_fingerprint`) and the versions of Python and
the libraries that compute the outputs. A hit therefore means the same code on the same inputs
(DESIGN.md rule 8), and re-running the pipeline with only the policy config changed finds
layers 1 and 2 on disk and does not retrain them.

Writes are atomic: an entry is written into a temporary folder ``<root>/.tmp-<stage>-<uuid>/``,
synced to disk, and only then renamed to its final path (renaming a folder onto a path that does
not exist is atomic on POSIX). A reader only accepts an entry whose manifest matches the key and
whose files have the recorded sizes (and, for a frame, rows and schema), so a run killed halfway
never leaves anything that `StageCache.get` returns.

The cache does not grow without end: every read or write of an entry marks it used (the time
of its manifest), and after each write the least recently used entries are removed until the
cache holds at most ``$M002_CACHE_MAX_BYTES`` (default 5 GB); `StageCache.prune` also removes
entries by age. An entry is removed by renaming it out of sight in one step, so a reader never
sees half of one; entries used in the last ten minutes are never pruned, so that a process that
has just been handed an entry's folder (`StageCache.get_dir`) can still read it. A frame read by
`StageCache.get` is in memory and safe whatever happens to its entry afterwards.

Modules: `_fingerprints` (content hashes), `_keys` (`StageKey`), `_store` (`StageCache`'s
reads and writes), `_manifest` (an entry folder's layout), `_housekeeping` (listing, pruning,
clearing), `_limits` (the size bound, sizes and durations), `_fs` (renames and times of
folders).

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

from m002.pipeline._cache._fingerprints import (
    code_fingerprint,
    config_fingerprint,
    files_fingerprint,
    frame_fingerprint,
)
from m002.pipeline._cache._housekeeping import IN_USE_SECONDS, PruneResult
from m002.pipeline._cache._keys import StageKey
from m002.pipeline._cache._limits import (
    DEFAULT_MAX_BYTES,
    MAX_BYTES_ENV,
    format_size,
    parse_duration,
    parse_size,
)
from m002.pipeline._cache._store import (
    CACHE_DIR_ENV,
    DEFAULT_CACHE_DIR,
    StageCache,
    default_cache_dir,
)

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_MAX_BYTES",
    "IN_USE_SECONDS",
    "MAX_BYTES_ENV",
    "PruneResult",
    "StageCache",
    "StageKey",
    "code_fingerprint",
    "config_fingerprint",
    "default_cache_dir",
    "files_fingerprint",
    "format_size",
    "frame_fingerprint",
    "parse_duration",
    "parse_size",
]
