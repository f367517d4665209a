"""The one atomic writer: outputs appear whole or not at all, and never replace what m002 did
not write. Kills are real: the writer runs in a subprocess that receives SIGKILL mid-write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import polars as pl
import pytest

from m002._io import (
    MARKER_FILE,
    atomic_dir,
    atomic_file,
    check_replaceable,
    folder_checksums,
    read_json,
    verify_checksums,
    write_frame,
    write_json,
    write_toml,
)
from m002.exceptions import DamagedFileError, OutputExistsError

# A writer that announces it is halfway (the temporary output partly written) and then waits
# to be killed; argv: mode ("file" or "dir"), target.
_HALFWAY_WRITER = """
import sys, time
from pathlib import Path
from m002._io import atomic_dir, atomic_file
mode, target = sys.argv[1], Path(sys.argv[2])
if mode == "file":
    with atomic_file(target) as tmp:
        with tmp.open("w") as handle:
            handle.write("ticker,date\\n")
            handle.flush()
            print("halfway", flush=True)
            time.sleep(60)
else:
    with atomic_dir(target, kind="model") as tmp:
        (tmp / "weights.txt").write_text("new")
        print("halfway", flush=True)
        time.sleep(60)
"""


def _kill_halfway(mode: str, target: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HALFWAY_WRITER, mode, str(target)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "halfway"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL


def test_a_killed_file_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "today.csv"
    target.write_text("ticker,date\nAAA,2021-04-16\n")
    _kill_halfway("file", target)
    assert target.read_text() == "ticker,date\nAAA,2021-04-16\n"
    # and with no old file, nothing appears under the target's name
    fresh = tmp_path / "fresh.csv"
    _kill_halfway("file", fresh)
    assert not fresh.exists()


def test_a_killed_folder_write_leaves_the_old_model_whole(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_dir(target, kind="model") as tmp:
        (tmp / "weights.txt").write_text("old")
    _kill_halfway("dir", target)
    assert (target / "weights.txt").read_text() == "old"


def _fail_halfway(writer: AbstractContextManager[Path]) -> None:
    with writer as tmp:
        (tmp / "w.txt" if tmp.is_dir() else tmp).write_text("half")
        raise RuntimeError("boom")


def test_atomic_file_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        _fail_halfway(atomic_file(target))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary left behind
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_file_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputExistsError, match="is a folder"), atomic_file(tmp_path):
        pass


def test_atomic_dir_never_replaces_a_folder_it_did_not_write(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "AAPL.parquet").write_text("precious")
    with pytest.raises(OutputExistsError, match="not an m002 output"):
        check_replaceable(prices, kind="model", option="--out")
    ran = False
    with (
        pytest.raises(OutputExistsError, match="--out"),
        atomic_dir(prices, kind="model", option="--out"),
    ):
        ran = True
    assert not ran  # refused before any work
    assert [p.name for p in prices.iterdir()] == ["AAPL.parquet"]
    assert (prices / "AAPL.parquet").read_text() == "precious"


def test_atomic_dir_replaces_its_own_kind_and_refuses_another(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()  # an empty folder may be used
    with atomic_dir(target, kind="run") as tmp:
        (tmp / "a.txt").write_text("1")
    assert json.loads((target / MARKER_FILE).read_text()) == {"kind": "run"}
    with atomic_dir(target, kind="run") as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == [MARKER_FILE, "b.txt"]
    with pytest.raises(OutputExistsError, match="an m002 run folder, not an m002 model"):
        check_replaceable(target, kind="model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing left beside it


def test_atomic_dir_failure_keeps_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_dir(target, kind="model") as tmp:
        (tmp / "w.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        _fail_halfway(atomic_dir(target, kind="model"))
    assert (target / "w.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_write_frame_by_suffix(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    assert pl.read_csv(write_frame(frame, tmp_path / "x.csv")).equals(frame)
    assert pl.read_parquet(write_frame(frame, tmp_path / "x.parquet")).equals(frame)
    with pytest.raises(OutputExistsError, match=r"\.parquet or \.csv"):
        write_frame(frame, tmp_path / "x.txt")


def test_json_is_strict_and_damage_is_named(tmp_path: Path) -> None:
    path = write_json(tmp_path / "m.json", {"x": float("nan"), "d": time.gmtime(0).tm_year})
    assert read_json(path) == {"x": None, "d": 1970}
    path.write_text('{"x": 1')
    with pytest.raises(DamagedFileError, match=r"the manifest .*m\.json is damaged"):
        read_json(path, what="the manifest")
    with pytest.raises(DamagedFileError, match="is missing"):
        read_json(tmp_path / "none.json")


def test_checksums_name_a_missing_truncated_or_altered_file(tmp_path: Path) -> None:
    (tmp_path / "head").mkdir()
    (tmp_path / "head" / "b.txt").write_text("0123456789")
    (tmp_path / "c.json").write_text("{}")
    table = folder_checksums(tmp_path)
    assert sorted(table) == ["c.json", "head/b.txt"]
    verify_checksums(tmp_path, table, what="model folder")
    (tmp_path / "head" / "b.txt").write_text("01234")
    with pytest.raises(DamagedFileError, match=r"head/b\.txt is truncated \(5 bytes"):
        verify_checksums(tmp_path, table, what="model folder")
    (tmp_path / "head" / "b.txt").write_text("0123456780")
    with pytest.raises(DamagedFileError, match=r"head/b\.txt was altered"):
        verify_checksums(tmp_path, table, what="model folder")
    (tmp_path / "head" / "b.txt").unlink()
    with pytest.raises(DamagedFileError, match=r"head/b\.txt is missing"):
        verify_checksums(tmp_path, table, what="model folder")
    with pytest.raises(DamagedFileError, match="no file checksums"):
        verify_checksums(tmp_path, None, what="model folder")


def test_write_toml_reads_back_with_its_comment(tmp_path: Path) -> None:
    import tomllib

    data = {"feature_set": "m002", "max_gap_days": 10,
            "policy": {"k": 2.0, "tiny": 1e-05, "allow_short": True, "name": 'a "q"'},
            "portfolio": {"sizing": "rank", "topk": 10}}  # fmt: skip
    path = write_toml(tmp_path / "c.toml", data, comment="line one\nline two")
    text = path.read_text()
    assert text.startswith("# line one\n# line two\n\nfeature_set = ")
    assert tomllib.loads(text) == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"portfolio": {"max_weight": None}}, r"\[portfolio\] max_weight: TOML has no null"),
        ({"policy": {"k": float("nan")}}, "TOML has no place"),
        ({"a": {"b": {"c": 1}}}, "nested tables"),
    ],
)
def test_write_toml_refuses_what_would_not_read_back(
    tmp_path: Path, data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_toml(tmp_path / "c.toml", data)
    assert not (tmp_path / "c.toml").exists()
