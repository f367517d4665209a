from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from m002.evaluation import RunConfig, run_config_from_dict
from m002.pipeline import M002Config, config_from_dict

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def _documented() -> dict[str, Any]:
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert block is not None
    return tomllib.loads(block.group(1))


def test_the_documented_default_config_parses_to_the_defaults() -> None:
    assert run_config_from_dict(_documented()) == RunConfig()
    pipeline_part = {k: v for k, v in _documented().items() if k not in ("walkforward", "backtest")}
    assert config_from_dict(pipeline_part) == M002Config()


def test_the_documented_config_lists_every_key() -> None:
    assert _documented() == RunConfig().to_dict()
