"""Give freed heap memory back to the operating system (glibc's malloc_trim).

Large numpy arrays freed after a reload of the in-process index stay in glibc's heaps
(its mmap threshold rises with each large free), so a process's resident memory grew with
every reload; trimming after one brings it back (ADR 0005 has the measurements)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    return trim


def release_free_memory() -> bool:
    """Return the heap's free memory to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
