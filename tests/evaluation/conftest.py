"""Fixtures shared by the walk-forward and experiment tests: one small synthetic universe and a
stage cache per module."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from m002.data import generate_synthetic


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return generate_synthetic(n_tickers=10, n_days=800, seed=11).prices


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")
