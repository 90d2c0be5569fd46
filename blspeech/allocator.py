"""How the C library's malloc hands freed memory back to the operating system (glibc).

PyTorch's CPU tensors come from malloc. By default glibc serves every block of 128 KiB or more
with its own mmap, raising that threshold only as it sees larger blocks freed, and trims the
heap when its free top grows past twice the threshold. A CNN frees and re-allocates the same
megabyte-sized activations on every pass, so every pass faults their pages in again: on this
project's 2-core machine, resnet-small took 15.5 ms per batch-1 decoding pass (4 s of audio)
with the default and 11.6 ms with freed memory kept, and its training step (batch 16) 754 vs
669 ms. These are process-wide settings, so the command-line entry points make them, not the
library code.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_CEILING = 32 << 20  # glibc's largest mmap threshold on 64-bit systems: larger blocks are always mapped
NEVER_TRIM = (1 << 31) - 1  # the largest trim threshold (a C int)


def mallopt(option: int, value: int) -> bool:
    """glibc's ``mallopt(option, value)``; False where the C library has none or refuses it."""
    name = ctypes.util.find_library("c")
    setter = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    return setter is not None and setter(option, value) == 1


def retain_freed_memory() -> bool:
    """Keep freed blocks of up to 32 MiB in the heap and never trim it, so that the next pass's
    activations reuse resident pages. True when both settings took effect."""
    return mallopt(M_MMAP_THRESHOLD, MMAP_CEILING) and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)


def unmap_large_blocks_on_free() -> None:
    """The opposite, for measuring memory: every block of 64 KiB or more gets its own mmap and is
    unmapped when freed, so the resident set follows live memory. Raises without glibc."""
    if not mallopt(M_MMAP_THRESHOLD, 64 * 1024):
        raise RuntimeError("mallopt(M_MMAP_THRESHOLD) failed; peak RSS needs glibc")
