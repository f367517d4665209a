"""Content hashes that stage keys are made of: of a frame, a config value, a folder of files,
and m002's own source code.

Each is a 128-bit BLAKE2b digest (32 hex characters) of a tagged, length-prefixed byte form,
so that two different inputs share a digest only by a collision, and the hashes of different
kinds of input never meet.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import m002

__all__ = [
    "code_fingerprint",
    "config_fingerprint",
    "files_fingerprint",
    "frame_fingerprint",
    "package_fingerprint",
    "schema_json",
]

# 128-bit digests: collisions are out of reach for a cache, and folder names stay short.
_DIGEST_SIZE = 16
# Bumped whenever the bytes fed to a hash change meaning, so old digests are never reused.
_FRAME_TAG = b"m002-frame-v1"
_CONFIG_TAG = b"m002-config-v1"
_FILES_TAG = b"m002-files-v1"
_CODE_TAG = b"m002-code-v1"
_BLOCK = 1 << 20
# What a package folder holds besides its code: bytecode caches (rewritten by every Python
# that imports the package) and hidden files (editor and VCS state).
_NOT_CODE_DIRS = frozenset({"__pycache__"})
_NOT_CODE_SUFFIXES = (".pyc", ".pyo")


def blake2b_hex(tag: bytes, *parts: bytes) -> str:
    """Hex BLAKE2b of `parts` under `tag`; each part is length-prefixed, so that different
    splits of the same bytes never collide."""
    hasher = hashlib.blake2b(digest_size=_DIGEST_SIZE, person=b"m002")
    hasher.update(tag)
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


def schema_json(schema: pl.Schema) -> str:
    """Column names and full dtypes, in order, as JSON text."""
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
    return blake2b_hex(
        _FRAME_TAG,
        schema_json(frame.schema).encode(),
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
    return blake2b_hex(_CONFIG_TAG, text.encode())


def _file_digest(path: Path) -> bytes:
    hasher = hashlib.blake2b(digest_size=_DIGEST_SIZE, person=b"m002")
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            hasher.update(block)
    return hasher.digest()


def _tree_digest(tag: bytes, folder: Path, keep: Callable[[str], bool]) -> str:
    """Hash the relative path and bytes of every file below `folder` whose name `keep`s, and
    of no folder whose name it rejects; symlinked folders are not followed."""
    if not folder.is_dir():
        msg = f"cannot fingerprint {folder}: not a folder"
        raise NotADirectoryError(msg)
    parts: list[bytes] = []
    for here, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if keep(d)]
        base = Path(here)
        for name in names:
            path = base / name
            if keep(name) and path.is_file():
                parts.append(path.relative_to(folder).as_posix().encode())
                parts.append(_file_digest(path))
    # os.walk's order depends on the file system; pairs sorted by path do not.
    pairs = sorted(zip(parts[::2], parts[1::2], strict=True))
    return blake2b_hex(tag, *(part for pair in pairs for part in pair))


def files_fingerprint(folder: str | Path) -> str:
    """Content hash of a folder: the relative path and the bytes of every file below it.

    For stages that consume files (a saved model's weights): keying on this digest ties a
    stage output to the files' content, whatever a manifest beside them says. Covered: a
    changed, added, removed or renamed file anywhere below `folder`, hidden files included.
    Not covered: empty folders, file modes and times, the folder's own name or location (a
    copy elsewhere hashes the same). Symlinked files are read through; symlinked folders are
    not entered.

    Parameters
    ----------
    folder : str | Path
        The folder to hash.

    Returns
    -------
    str
        32 lowercase hex characters.

    Raises
    ------
    NotADirectoryError
        If `folder` is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> a = Path(tempfile.mkdtemp())
    >>> _ = (a / "weights.bin").write_bytes(b"w1")
    >>> before = files_fingerprint(a)
    >>> _ = (a / "weights.bin").write_bytes(b"w2")
    >>> files_fingerprint(a) == before
    False
    """
    return _tree_digest(_FILES_TAG, Path(folder), lambda name: True)


def _is_code(name: str) -> bool:
    return not (name.startswith(".") or name in _NOT_CODE_DIRS or name.endswith(_NOT_CODE_SUFFIXES))


def package_fingerprint(folder: str | Path) -> str:
    """What `code_fingerprint` computes, for the package folder given (not cached)."""
    return _tree_digest(_CODE_TAG, Path(folder), _is_code)


@functools.cache
def code_fingerprint() -> str:
    """Content hash of the source of the m002 package that is running, computed once per
    process.

    It hashes the relative path and bytes of every file in the package's own folder
    (``Path(m002.__file__).parent``, so an editable install hashes the checkout and an
    installed copy hashes the copy): every module, plus package data (the report's template
    and script), since a fingerprint that leaves out a file the results depend on gives a
    wrong cache hit, while one that includes too much only costs a recomputation. Left out:
    ``__pycache__`` folders, ``.pyc``/``.pyo`` files and hidden files (``.name``), which change
    without the code changing. The same files at another path give the same fingerprint.

    Not covered: the code of other distributions (`StageKey` records the versions of the
    libraries m002 computes with, not the content of their files: an edited, unversioned
    dependency goes unnoticed), environment variables and hardware that change numerics
    (thread counts, CPU instruction sets), and source files edited while a process runs: the
    fingerprint is read once, at first use, so a module imported after an edit runs code that
    the fingerprint does not describe.

    Returns
    -------
    str
        32 lowercase hex characters.
    """
    return package_fingerprint(Path(m002.__file__).parent)
