"""The folder a `MultiTaskHead` is saved to: three LightGBM text boosters and a JSON meta file.

``head_rebound.txt``, ``head_ret.txt``, ``head_dd.txt``
    The boosters of ``pred_rebound_prob``, ``pred_expected_ret_pct``,
    ``pred_expected_dd_pct`` in LightGBM's text format, cut to their chosen number of trees.
``head_meta.json``
    ``format_version``, the versions of m002 and LightGBM that wrote it, ``params`` (the
    constructor's arguments), ``feature_names`` and the fitted attributes without their
    trailing ``_``: ``n_rows_fitted``, ``n_infinite_replaced``, ``base_rate`` and, from
    version 2 on, ``n_rows_valid``, ``best_iterations``, ``valid_scores``, ``huber_deltas``.

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

import lightgbm as lgb

from m002 import __version__
from m002._io import atomic_file, read_json, write_json
from m002.exceptions import DamagedFileError

__all__ = ["BOOSTER_FILES", "FORMAT_VERSION", "META_FILE", "read_head", "write_head"]

BOOSTER_FILES: Final = {
    "pred_rebound_prob": "head_rebound.txt",
    "pred_expected_ret_pct": "head_ret.txt",
    "pred_expected_dd_pct": "head_dd.txt",
}
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


def write_head(folder: Path, boosters: Mapping[str, lgb.Booster], fitted: dict[str, Any]) -> Path:
    """Write ``boosters`` and a version-2 meta file of ``fitted`` (which holds every field
    but ``format_version`` and the versions) into ``folder``, each file renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, booster in boosters.items():
        with atomic_file(folder / BOOSTER_FILES[name]) as tmp:
            booster.save_model(tmp)
    meta = {
        "format_version": FORMAT_VERSION,
        "m002_version": __version__,
        "lightgbm_version": lgb.__version__,
        **fitted,
    }
    write_json(folder / META_FILE, meta)
    return folder


def read_head(folder: Path, param_names: Iterable[str]) -> tuple[dict[str, lgb.Booster], Any]:
    """The boosters and the meta of a saved head, the meta in the version-2 shape.

    Raises
    ------
    FileNotFoundError
        If the meta file or a booster file is missing.
    DamagedFileError
        If the meta file is not valid JSON, lacks a field of its version, holds a parameter
        not in ``param_names``, or has a ``format_version`` this m002 does not read.
    """
    for name in (META_FILE, *BOOSTER_FILES.values()):
        if not (folder / name).is_file():
            msg = f"{folder} is not a saved MultiTaskHead: {name} is missing"
            raise FileNotFoundError(msg)
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
    boosters = {name: lgb.Booster(model_file=folder / file) for name, file in BOOSTER_FILES.items()}
    if version == 1:
        meta = {
            **meta,
            "n_rows_valid": 0,
            "best_iterations": {k: b.current_iteration() for k, b in boosters.items()},
            "valid_scores": {},
            "huber_deltas": {},
        }
    # a NaN score is written as null (strict JSON)
    meta["valid_scores"] = {
        k: math.nan if v is None else float(v) for k, v in meta["valid_scores"].items()
    }
    return boosters, meta
