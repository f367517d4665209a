"""`StageKey`: everything a cached stage output depends on, and its digest."""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from m002.exceptions import ConfigError
from m002.pipeline._cache._fingerprints import blake2b_hex, code_fingerprint

__all__ = ["LIBRARIES", "StageKey", "check_stage", "library_versions"]

# v2: the key holds the code fingerprint and the library versions.
_KEY_TAG = b"m002-stage-key-v2"
_STAGE_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")

LIBRARIES = (
    "m002", "polars", "numpy", "torch", "lightgbm", "scikit-learn",
    # the experiments extra: a head, a sampler or a labeller may compute with them
    "xgboost", "imbalanced-learn", "hmmlearn",
)  # fmt: skip
"""Distributions whose version `StageKey` records: m002 and what it computes with."""

_NOT_INSTALLED = "not installed"


@functools.cache
def library_versions() -> tuple[tuple[str, str], ...]:
    """``(name, version)`` of Python and each of `LIBRARIES`, read once per process.

    Versions come from the installed distributions' metadata, so that torch and lightgbm
    are not imported just to be named; a missing one reads ``"not installed"``.

    Returns
    -------
    tuple[tuple[str, str], ...]
        Sorted by name.
    """
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = _NOT_INSTALLED
    return tuple(sorted(found.items()))


def check_stage(stage: object) -> None:
    """Raise a `ConfigError` unless ``stage`` can name a stage folder (never a path out of the
    cache root, such as ``../etc``)."""
    if not isinstance(stage, str) or not _STAGE_PATTERN.fullmatch(stage):
        msg = (
            "`stage` must be 1-100 characters of letters, digits, '_', '.' or '-', not "
            f"starting with '.' or '-', got `stage={stage!r}`"
        )
        raise ConfigError(msg)


@dataclasses.dataclass(frozen=True)
class StageKey:
    """Everything a stage output depends on.

    Two keys with equal fields mean the same code run on the same inputs, so their outputs
    are interchangeable (DESIGN.md rule 8).

    Parameters
    ----------
    stage : str
        Stage name, also the folder the entries live in: letters, digits, ``_``, ``.`` and
        ``-``, not starting with ``.`` or ``-``, at most 100 characters.
    input_hash : str
        Hash of the stage's input data, e.g. `frame_fingerprint` of the input frame, or
        `files_fingerprint` of a model folder it reads.
    config_hash : str
        Hash of the stage's config section, e.g. `config_fingerprint` of it.
    upstream : str | None
        `digest` of the upstream stage's key, None for the first stage.
    code : str
        Fingerprint of m002's source; defaults to `code_fingerprint` of the running package.
    versions : tuple[tuple[str, str], ...]
        ``(name, version)`` of Python and the libraries that compute stage outputs (polars'
        row hashes are only stable within one version); defaults to `library_versions`.
        Stored sorted by name.

    Raises
    ------
    ConfigError
        If `stage` is not a valid folder name.
    """

    stage: str
    input_hash: str
    config_hash: str
    upstream: str | None
    code: str = dataclasses.field(default_factory=code_fingerprint)
    versions: tuple[tuple[str, str], ...] = dataclasses.field(default_factory=library_versions)

    def __post_init__(self) -> None:
        check_stage(self.stage)
        object.__setattr__(self, "versions", tuple(sorted(dict(self.versions).items())))

    @property
    def digest(self) -> str:
        """Hex BLAKE2b (32 characters) of all fields; the entry's folder name."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return blake2b_hex(_KEY_TAG, text.encode())

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON data (what the manifest records).

        Returns
        -------
        dict[str, Any]
            Field name to value; `versions` as a dict of name to version.
        """
        return {
            "stage": self.stage,
            "input_hash": self.input_hash,
            "config_hash": self.config_hash,
            "upstream": self.upstream,
            "code": self.code,
            "versions": dict(self.versions),
        }
