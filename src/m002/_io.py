"""The one way m002 writes and reads back its own files: atomically, and verified.

Every output (a table, a JSON file, a report, a model or run folder, synthetic data) is
written to a temporary sibling of its target and renamed into place only once it is complete,
so a run killed at any moment leaves the old output or the new one, never half of either, and
never nothing where there was something.

A folder output carries a marker file, ``.m002``, naming what kind of output it is. A
non-empty folder is only ever replaced when its marker says it is an m002 output of the same
kind: m002 never deletes what it did not write.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_file(root / "a.txt") as tmp:
...     _ = tmp.write_text("complete")
>>> (root / "a.txt").read_text()
'complete'
>>> with atomic_dir(root / "model", kind="model") as tmp:
...     _ = (tmp / "weights.txt").write_text("w")
>>> sorted(p.name for p in (root / "model").iterdir())
['.m002', 'weights.txt']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import polars as pl

from m002.exceptions import DamagedFileError, OutputExistsError

__all__ = [
    "MARKER_FILE",
    "atomic_dir",
    "atomic_file",
    "check_replaceable",
    "file_sha256",
    "folder_checksums",
    "fsync_dir",
    "fsync_file",
    "json_safe",
    "output_kind",
    "read_json",
    "toml_text",
    "verify_checksums",
    "write_frame",
    "write_json",
    "write_toml",
]

MARKER_FILE: Final = ".m002"
_TMP_TAG: Final = ".m002-tmp-"
_OLD_TAG: Final = ".m002-old-"
FRAME_SUFFIXES: Final = (".parquet", ".csv")


def fsync_file(path: Path) -> None:
    """Flush a file's content to disk."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in folder ``path`` durable (a no-op where folders cannot
    be opened)."""
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


def _umask_mode(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _sibling(target: Path, tag: str) -> Path:
    # the suffix stays last, so writers that look at it (csv/parquet) still see it
    return target.with_name(f".{target.stem}{tag}{uuid.uuid4().hex[:12]}{target.suffix}")


@contextlib.contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; when the block ends without an error, the
    file written there is synced and renamed onto ``target`` (replacing any file there).

    On an error the temporary file is removed and ``target`` is left as it was. The file gets
    the usual permissions (``0666`` less the umask).

    Raises
    ------
    OutputExistsError
        If ``target`` is an existing folder.
    """
    path = Path(target)
    if path.is_dir():
        msg = f"{path} is a folder; give a file name"
        raise OutputExistsError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, _TMP_TAG)
    try:
        yield tmp
        if not tmp.is_file():
            msg = f"nothing was written for {path}"
            raise OSError(msg)
        fsync_file(tmp)
        tmp.chmod(_umask_mode(0o666))
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def output_kind(folder: Path) -> str | None:
    """The kind an m002 output folder's marker names, or None where there is no readable
    marker."""
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = marker.get("kind") if isinstance(marker, dict) else None
    return kind if isinstance(kind, str) else None


def check_replaceable(target: str | Path, *, kind: str, option: str = "the output") -> None:
    """Raise unless ``target`` is missing, an empty folder or an m002 ``kind`` folder.

    `atomic_dir` checks this itself; call it before a long job so that it fails at once.

    Raises
    ------
    OutputExistsError
        Naming ``option`` and what ``target`` is.
    """
    target = Path(target)
    if not target.exists():
        return
    if not target.is_dir():
        msg = f"{option} {target} exists and is not a folder; choose another {option}"
        raise OutputExistsError(msg)
    if not any(target.iterdir()):
        return
    found = output_kind(target)
    if found == kind:
        return
    what = f"an m002 {found} folder" if found else "not an m002 output"
    msg = (
        f"{option} {target} is not empty and is {what}, not an m002 {kind} folder: m002 "
        f"replaces only its own {kind} folders; choose a new or empty {option}"
    )
    raise OutputExistsError(msg)


@contextlib.contextmanager
def atomic_dir(target: str | Path, *, kind: str, option: str = "the output") -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; when the block ends without an
    error, a ``.m002`` marker of ``kind`` is added, everything is synced, and the folder is
    renamed onto ``target``.

    ``target`` may be missing, an empty folder, or an m002 folder of the same ``kind``; it is
    checked before the block runs (so a long job fails at once) and again before the swap.
    An existing folder is first renamed aside, the new one renamed into place, and only then
    is the old one deleted: a kill between the two renames leaves the old output whole,
    beside the target as ``.<name>.m002-old-*``.

    Parameters
    ----------
    target : str or Path
    kind : str
        What the folder is (``"model"``, ``"run"``, ``"backtest"``, ``"synthetic"``).
    option : str
        How the caller names the target in errors (``"--out"`` in the CLI).

    Raises
    ------
    OutputExistsError
        If ``target`` is a file, or a non-empty folder that is not an m002 ``kind`` folder.
    """
    path = Path(target)
    check_replaceable(path, kind=kind, option=option)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, _TMP_TAG)
    tmp.mkdir()
    old: Path | None = None
    try:
        yield tmp
        write_json(tmp / MARKER_FILE, {"kind": kind})
        for sub in sorted(tmp.rglob("*"), reverse=True):
            (fsync_file if sub.is_file() else fsync_dir)(sub)
        fsync_dir(tmp)
        tmp.chmod(_umask_mode(0o777))
        check_replaceable(path, kind=kind, option=option)
        if path.exists():
            old = _sibling(path, _OLD_TAG)
            os.rename(path, old)
        os.rename(tmp, path)
        fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def json_safe(value: Any) -> Any:
    """NaN and infinities as null, recursively (strict JSON: browsers reject ``NaN``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str | Path, value: Any) -> Path:
    """Write strict JSON (NaN as null; dates and other objects as strings) atomically."""
    text = json.dumps(json_safe(value), indent=2, allow_nan=False, default=str) + "\n"
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _toml_value(value: Any, where: str) -> str:
    if value is None:
        msg = (
            f"{where}: TOML has no null, and a key left out reads back as its default: this "
            "config cannot be written as a file"
        )
        raise ValueError(msg)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{where}: TOML has no place for {value!r} in an m002 config"
            raise ValueError(msg)
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    msg = f"{where}: cannot write a {type(value).__name__} to TOML"
    raise ValueError(msg)


def write_toml(path: str | Path, data: dict[str, Any], *, comment: str = "") -> Path:
    """Write `toml_text` atomically."""
    text = toml_text(data, comment=comment)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def toml_text(data: dict[str, Any], *, comment: str = "") -> str:
    """A config as TOML: top-level scalars, then one ``[table]`` per dict (one level, as
    m002's config files are). ``comment`` goes first, each line as ``# ...``.

    Raises
    ------
    ValueError
        For a None value (TOML has no null: `m002.pipeline.config_to_dict` already leaves out
        the rules that are off by default, and a key left out would read back as its
        default, not as None), a nested table, or a value TOML cannot hold.
    """
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines += [""] if lines else []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key, value in data.items():
        if key not in tables:
            lines.append(f"{key} = {_toml_value(value, key)}")
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        for key, value in table.items():
            if isinstance(value, dict):
                msg = f"[{name}] {key}: nested tables are not written"
                raise ValueError(msg)
            lines.append(f"{key} = {_toml_value(value, f'[{name}] {key}')}")
    return "\n".join(lines).lstrip("\n") + "\n"


def read_json(path: str | Path, *, what: str = "file") -> Any:
    """Read a JSON file m002 wrote; a missing, unreadable or damaged file is one
    `DamagedFileError` naming it (never a bare `JSONDecodeError` or `KeyError`).

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for the message ("the model's manifest").
    """
    file = Path(path)
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{what} {file} is missing"
        raise DamagedFileError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{what} {file} cannot be read: {exc}"
        raise DamagedFileError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{what} {file} is damaged (not valid JSON: {exc.msg} at line {exc.lineno})"
        raise DamagedFileError(msg) from None


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a table atomically, as parquet or CSV by the file's suffix.

    Raises
    ------
    OutputExistsError
        If the suffix is neither ``.parquet`` nor ``.csv``, or ``path`` is a folder.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in FRAME_SUFFIXES:
        msg = f"an output table must end in .parquet or .csv, got {file}"
        raise OutputExistsError(msg)
    with atomic_file(file) as tmp:
        if suffix == ".csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp)
    return file


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_checksums(folder: Path, *, exclude: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file below ``folder``, by POSIX path relative to it.

    Files named in ``exclude`` (relative paths) and the ``.m002`` marker are left out.
    """
    checksums: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name not in exclude and name != MARKER_FILE:
            checksums[name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    return checksums


def verify_checksums(folder: Path, expected: object, *, what: str) -> None:
    """Check every file that ``expected`` (as made by `folder_checksums`) lists.

    Raises
    ------
    DamagedFileError
        Naming the first file that is missing, truncated or grown, or altered, and ``what``
        the folder is; also where ``expected`` is not a checksum table at all.
    """
    if not isinstance(expected, dict) or not expected:
        msg = f"{what} {folder} has no file checksums in its manifest: it is damaged or was "
        msg += "written by an older m002; train it again"
        raise DamagedFileError(msg)
    for name, entry in sorted(expected.items()):
        path = folder / name
        try:
            size, digest = int(entry["bytes"]), str(entry["sha256"])
        except (TypeError, KeyError, ValueError):
            msg = f"{what} {folder}: the manifest's entry for {name} is damaged"
            raise DamagedFileError(msg) from None
        if not path.is_file():
            msg = f"{what} {folder}: {name} is missing"
            raise DamagedFileError(msg)
        actual = path.stat().st_size
        if actual != size:
            change = "truncated" if actual < size else "longer than written"
            msg = f"{what} {folder}: {name} is {change} ({actual:,} bytes, expected {size:,})"
            raise DamagedFileError(msg)
        if file_sha256(path) != digest:
            msg = f"{what} {folder}: {name} was altered after it was written (checksum differs)"
            raise DamagedFileError(msg)
