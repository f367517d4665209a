from __future__ import annotations

import re
import tomllib
from pathlib import Path

from m002.pipeline import M002Config, config_from_dict

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_the_documented_default_config_parses_to_the_defaults() -> None:
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert block is not None
    assert config_from_dict(tomllib.loads(block.group(1))) == M002Config()
