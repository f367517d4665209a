from __future__ import annotations

from pathlib import Path

import pytest

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The real S&P 500 sample beside the repository; skips (with the reason) where absent."""
    if not SAMPLE_DIR.is_dir() or not any(SAMPLE_DIR.glob("*.parquet")):
        pytest.skip(f"real-data test: {SAMPLE_DIR} is absent on this machine")
    return SAMPLE_DIR
