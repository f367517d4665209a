"""Giving freed memory back to the system."""

from __future__ import annotations

import ctypes.util
import platform

import numpy as np
import pytest

from m002._memory import release_free_memory


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_freed_memory_is_returned_on_glibc() -> None:
    assert ctypes.util.find_library("c") is not None
    blocks = [np.ones(4096) for _ in range(20_000)]  # many small blocks, not one mapping
    del blocks
    assert release_free_memory() is True
