"""Keep freed memory inside the process while the pipeline runs (glibc malloc only).

glibc serves every block above its mmap threshold (32 MB at most) with a fresh ``mmap`` and
returns it with ``munmap`` when freed, so each of the pipeline's many (n_ratings,) temporaries
(20M rows: 20-160 MB each) faults its pages in anew. On a VM a page fault is expensive, and
more so for memory the host has taken back (measured here: 0.24 s per GiB for pages the guest
holds, 3.4 s per GiB for pages it must first get from the host). ``retained_heap`` turns mmap
off for the main arena and raises the trim threshold, so freed blocks stay on the heap and the
next array of a similar size reuses their pages; on exit it restores glibc's defaults and
hands the retained memory back (``malloc_trim``). Elsewhere (musl, macOS) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters (malloc.h)
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536  # glibc's defaults
RETAINED_TRIM_THRESHOLD = -1  # "disables trimming completely" (man mallopt)

_lock = threading.Lock()
_depth = 0


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (has ``mallopt``, ``malloc_trim`` and
    ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        for name in ("mallopt", "malloc_trim", "gnu_get_libc_version"):
            getattr(libc, name)
    except (OSError, AttributeError):
        return None
    return libc


@contextmanager
def retained_heap() -> Iterator[bool]:
    """Within the block, freed memory stays on the heap for reuse (yields whether it could be
    arranged). Re-entrant: only the outermost block changes and restores the settings."""
    global _depth
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, RETAINED_TRIM_THRESHOLD)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
