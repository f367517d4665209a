"""The code and file fingerprints in stage keys: a hit means the same code on the same inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import m002
from m002.pipeline import (
    StageKey,
    code_fingerprint,
    config_fingerprint,
    files_fingerprint,
)
from m002.pipeline._cache._fingerprints import package_fingerprint
from m002.pipeline._cache._keys import LIBRARIES, library_versions

# The rsi_14 formula as features/_expressions.py writes it, and a wrong one to swap in.
_RSI = "_safe_ratio(100.0 * g, g + lo, when_zero=50.0)"
_WRONG_RSI = "_safe_ratio(100.0 * lo, g + lo, when_zero=50.0)"

# Run with PYTHONPATH naming a copy of the package: which m002 ran, its fingerprint and the
# features stage key that `M002FullArchitecture` would build from the same prices.
_PROBE = """
import json, m002
from m002.pipeline import StageKey, code_fingerprint, config_fingerprint
key = StageKey(
    "features", input_hash="prices", config_hash=config_fingerprint({"set": "m002"}),
    upstream=None,
)
print(json.dumps({"file": m002.__file__, "code": code_fingerprint(), "digest": key.digest}))
"""


def _copy_package(parent: Path) -> Path:
    folder = parent / "m002"
    shutil.copytree(
        Path(m002.__file__).parent, folder, ignore=shutil.ignore_patterns("__pycache__")
    )
    return folder


def _probe(package: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(package.parent), "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_changed_feature_formula_in_a_copy_of_the_package_misses_the_cache(
    tmp_path: Path,
) -> None:
    original = Path(m002.__file__).parent
    before = package_fingerprint(original)
    same = _copy_package(tmp_path / "same")
    edited = _copy_package(tmp_path / "edited")
    if package_fingerprint(original) != before:
        pytest.skip("the checkout changed while it was being copied")
    expressions = edited / "features" / "_expressions.py"
    text = expressions.read_text(encoding="utf-8")
    assert _RSI in text, "the rsi formula moved: point _RSI at its new form"
    expressions.write_text(text.replace(_RSI, _WRONG_RSI), encoding="utf-8")

    same_run, edited_run = _probe(same), _probe(edited)

    assert Path(same_run["file"]).parent == same  # the copies ran, not the checkout
    assert Path(edited_run["file"]).parent == edited
    # content, not path: an unmodified copy elsewhere fingerprints like the original
    assert same_run["code"] == before
    assert edited_run["code"] != before
    assert edited_run["digest"] != same_run["digest"]
    original_key = StageKey(
        "features",
        input_hash="prices",
        config_hash=config_fingerprint({"set": "m002"}),
        upstream=None,
        code=before,
    )
    assert original_key.digest == same_run["digest"]


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


_PACKAGE = {
    "__init__.py": b"",
    "features/_sets.py": b"RSI = 14\n",
    "report/_template.html": b"<html></html>",
}


def test_package_fingerprint_covers_modules_and_data_not_bytecode_or_hidden_files(
    tmp_path: Path,
) -> None:
    base = package_fingerprint(_tree(tmp_path / "a", _PACKAGE))
    noise = {
        "features/__pycache__/_sets.cpython-311.pyc": b"\x00",
        "old.pyc": b"\x01",
        ".DS_Store": b"\x02",
        "features/._sets.py.swp": b"\x03",
        ".hidden/x.py": b"x = 1",
    }
    assert package_fingerprint(_tree(tmp_path / "b", {**_PACKAGE, **noise})) == base
    for name, content in [
        ("features/_sets.py", b"RSI = 15\n"),
        ("report/_template.html", b"<html> </html>"),
        ("features/_new.py", b""),
    ]:
        changed = _tree(tmp_path / f"c{len(name)}", {**_PACKAGE, name: content})
        assert package_fingerprint(changed) != base, name
    moved = {
        "__init__.py": b"",
        "_sets.py": b"RSI = 14\n",
        "report/_template.html": b"<html></html>",
    }
    assert package_fingerprint(_tree(tmp_path / "d", moved)) != base


def test_code_fingerprint_is_computed_once_per_process() -> None:
    assert code_fingerprint() is code_fingerprint()
    assert len(code_fingerprint()) == 32
    assert StageKey("s", input_hash="i", config_hash="c", upstream=None).code == code_fingerprint()


def test_library_versions_name_python_and_each_library() -> None:
    versions = dict(library_versions())
    assert set(versions) == {"python", *LIBRARIES}
    assert versions["m002"] == m002.__version__
    assert all(versions.values())


def test_files_fingerprint_depends_on_content_and_relative_paths(tmp_path: Path) -> None:
    files = {"model/weights.bin": b"\x00\x01" * 100, "model/.m002": b"{}", "oof.parquet": b"p"}
    base = files_fingerprint(_tree(tmp_path / "a", files))
    assert files_fingerprint(_tree(tmp_path / "elsewhere" / "b", files)) == base
    assert files_fingerprint(str(tmp_path / "a")) == base
    variants = [
        {**files, "model/weights.bin": b"\x00\x02" * 100},  # one byte
        {**files, "model/.m002": b'{"kind": "model"}'},  # a hidden file counts
        {**files, "extra.txt": b""},  # an added empty file
        {k.replace("model/", "regime/"): v for k, v in files.items()},  # renamed folder
    ]
    digests = {files_fingerprint(_tree(tmp_path / f"v{i}", v)) for i, v in enumerate(variants)}
    assert len(digests | {base}) == len(variants) + 1
    # the split between path and content is not ambiguous
    assert files_fingerprint(_tree(tmp_path / "p", {"ab": b"c"})) != files_fingerprint(
        _tree(tmp_path / "q", {"a": b"bc"})
    )


def test_files_fingerprint_of_a_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="nope"):
        files_fingerprint(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        files_fingerprint(tmp_path / "file")
