"""The folder a `MultiTaskHead` is saved to: three boosters and a JSON meta file.

``head_rebound.txt``, ``head_ret.txt``, ``head_dd.txt`` (``model="lightgbm"``)
    The boosters of ``pred_rebound_prob``, ``pred_expected_ret_pct``,
    ``pred_expected_dd_pct`` in LightGBM's text format, cut to their chosen number of trees.
``head_rebound.json``, ``head_ret.json``, ``head_dd.json`` (``model="xgboost"``)
    The same in XGBoost's JSON model format (`booster_files` names them by backend).
``head_meta.json``
    ``format_version``, the versions of m002 and of the tree library that wrote it
    (``lightgbm_version`` or ``xgboost_version``), ``params`` (the constructor's arguments,
    ``model`` among them), ``feature_names`` and the fitted attributes without their
    trailing ``_``: ``n_rows_fitted``, ``n_infinite_replaced``, ``base_rate`` and, from
    version 2 on, ``n_rows_valid``, ``best_iterations``, ``valid_scores``, ``huber_deltas``;
    ``n_rows_synthetic`` where the head over-samples (read as 0 where it is absent).

``params`` without ``model`` or ``sampling`` (a head saved before m002 had XGBoost and
over-sampling) loads as ``model="lightgbm"`` and ``sampling="none"``, which is what it was.
The meta decides which backend reads the boosters; a folder whose meta file cannot be read
is first checked for the booster files of the backend its files point to, so that a missing
booster is named before a damaged meta.

``params`` holds ``normalize`` and ``fill`` from m002's cross-sectional normalisation on; a
meta file without them (written before) loads with their defaults, ``"none"``, which is what
such a head did.

Version 1 (no ``format_version`` key) is the meta of heads with a fixed number of trees, a
raw return target and the l2 loss; it is read as version 2 with ``best_iterations`` counted
from the boosters, no validation rows or scores and no Huber deltas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from m002 import __version__
from m002._io import atomic_file, read_json, write_json
from m002.exceptions import DamagedFileError
from m002.head._backends import DEFAULT_BACKEND, HEAD_BACKENDS, HeadBackend, head_backend

__all__ = [
    "BOOSTER_FILES",
    "FORMAT_VERSION",
    "META_FILE",
    "booster_files",
    "read_head",
    "write_head",
]

_STEMS: Final = {
    "pred_rebound_prob": "head_rebound",
    "pred_expected_ret_pct": "head_ret",
    "pred_expected_dd_pct": "head_dd",
}


def booster_files(backend: type[HeadBackend] | HeadBackend) -> dict[str, str]:
    """The file of each output's booster for ``backend`` (by its file suffix)."""
    return {name: f"{stem}{backend.suffix}" for name, stem in _STEMS.items()}


BOOSTER_FILES: Final = booster_files(HEAD_BACKENDS[DEFAULT_BACKEND])
"""The booster files of a LightGBM head."""
META_FILE: Final = "head_meta.json"
FORMAT_VERSION: Final = 2
_FIELDS: Final = {
    1: ("params", "feature_names", "n_rows_fitted", "n_infinite_replaced", "base_rate"),
    2: (
        "params",
        "feature_names",
        "n_rows_fitted",
        "n_infinite_replaced",
        "base_rate",
        "n_rows_valid",
        "best_iterations",
        "valid_scores",
        "huber_deltas",
    ),
}


def write_head(
    folder: Path, backend: HeadBackend, boosters: Mapping[str, Any], fitted: dict[str, Any]
) -> Path:
    """Write ``boosters`` with ``backend`` and a version-2 meta file of ``fitted`` (which
    holds every field but ``format_version`` and the versions) into ``folder``, each file
    renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    files = booster_files(backend)
    for name, booster in boosters.items():
        with atomic_file(folder / files[name]) as tmp:
            backend.save(booster, tmp)
    # a head of another library saved here before would leave its boosters beside these
    for kind in HEAD_BACKENDS.values():
        for stale in set(booster_files(kind).values()) - set(files.values()):
            (folder / stale).unlink(missing_ok=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "m002_version": __version__,
        f"{backend.library}_version": backend.version(),
        **fitted,
    }
    write_json(folder / META_FILE, meta)
    return folder


def _check_files(folder: Path, files: Iterable[str]) -> None:
    for name in files:
        if not (folder / name).is_file():
            msg = f"{folder} is not a saved MultiTaskHead: {name} is missing"
            raise FileNotFoundError(msg)


def _backend_of_files(folder: Path) -> type[HeadBackend]:
    """The first backend with a booster file in ``folder``; the default where none has."""
    for kind in HEAD_BACKENDS.values():
        if any((folder / name).is_file() for name in booster_files(kind).values()):
            return kind
    return HEAD_BACKENDS[DEFAULT_BACKEND]


def read_head(folder: Path, param_names: Iterable[str]) -> tuple[dict[str, Any], Any]:
    """The boosters and the meta of a saved head, the meta in the version-2 shape with
    ``params["model"]`` set.

    Raises
    ------
    FileNotFoundError
        If the meta file or a booster file is missing.
    DamagedFileError
        If the meta file is not valid JSON, lacks a field of its version, holds a parameter
        not in ``param_names`` or a ``model`` this m002 does not know, or has a
        ``format_version`` this m002 does not read.
    ConfigError
        If the head's tree library (XGBoost) is not installed.
    """
    _check_files(folder, [META_FILE, *booster_files(_backend_of_files(folder)).values()])
    meta_file = folder / META_FILE
    meta = read_json(meta_file, what="the head's meta file")
    version = meta.get("format_version", 1) if isinstance(meta, dict) else None
    if not isinstance(version, int) or version not in _FIELDS:
        msg = (
            f"{meta_file} has format_version {version!r}; this m002 ({__version__}) reads "
            f"1 to {FORMAT_VERSION}: load it with the m002 that saved it"
        )
        raise DamagedFileError(msg)
    missing = [name for name in _FIELDS[version] if name not in meta]
    if missing:
        msg = f"{meta_file} (format_version {version}) lacks {missing}"
        raise DamagedFileError(msg)
    unknown = sorted(set(meta["params"]) - set(param_names))
    if unknown:
        msg = f"{meta_file} has parameters this m002 ({__version__}) does not know: {unknown}"
        raise DamagedFileError(msg)
    model = meta["params"].get("model", DEFAULT_BACKEND)
    if not isinstance(model, str) or model not in HEAD_BACKENDS:
        known = list(HEAD_BACKENDS)
        msg = f"{meta_file} has `model={model!r}`; this m002 ({__version__}) knows {known}"
        raise DamagedFileError(msg)
    backend = head_backend(model)
    files = booster_files(backend)
    _check_files(folder, files.values())
    boosters = {name: backend.load(folder / file) for name, file in files.items()}
    meta["params"] = {**meta["params"], "model": model}
    meta.setdefault("n_rows_synthetic", 0)
    if version == 1:
        meta = {
            **meta,
            "n_rows_valid": 0,
            "best_iterations": {k: backend.n_trees(b) for k, b in boosters.items()},
            "valid_scores": {},
            "huber_deltas": {},
        }
    # a NaN score is written as null (strict JSON)
    meta["valid_scores"] = {
        k: math.nan if v is None else float(v) for k, v in meta["valid_scores"].items()
    }
    return boosters, meta
