"""Handing freed memory back to the system, where the allocators keep it otherwise.

glibc's ``malloc`` keeps what threads freed in per-thread arenas (JSON pages parsed by a
batch's worker threads, say) until ``malloc_trim`` returns it; Arrow's memory pool keeps freed
pages likewise until asked to release them. Elsewhere than glibc only the Arrow part applies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

import pyarrow as pa

__all__ = ["release_memory"]


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def release_memory() -> None:
    """Give the memory freed so far back to the system, as far as the allocators allow.

    Examples
    --------
    >>> release_memory()
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
