"""Giving memory that was freed back to the system between chunks of work.

glibc's allocator keeps freed blocks in per-thread arenas for reuse, so a process that works
through a large universe in chunks (`m002.pipeline.M002FullArchitecture.predict`) can hold
hundreds of megabytes it no longer uses, more or less from one run to the next. Trimming after
each chunk keeps the peak close to that of one chunk.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

__all__ = ["release_free_memory"]


@functools.cache
def _trim() -> Any:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None


def release_free_memory() -> bool:
    """Return the allocator's free memory to the system; whether anything was returned
    (False also where the platform has no such call)."""
    trim = _trim()
    return bool(trim(0)) if trim is not None else False
