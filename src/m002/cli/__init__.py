"""The `m002` command line. It is the only place that reads options and config files from the
outside world; it calls the library and turns its typed errors into one clear line and exit
code 2.

One module per command group: `_data` (data, features, labels), `_model` (train, predict),
`_evaluation` (walkforward, backtest, report), `_tuning` (tune), `_cache`, `_demo`; `_common`
holds what they share.
"""

from __future__ import annotations

# each module adds its commands to `main` when imported
from m002.cli import (  # noqa: F401
    _cache,
    _data,
    _demo,
    _evaluation,
    _model,
    _tuning,
)
from m002.cli._app import main

__all__ = ["main"]
