"""The malloc settings do what they say: freed tensors stay resident, or leave at once."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not os.path.exists("/proc/self/statm"),
                                reason="glibc malloc settings, read through Linux /proc")

FREE_A_TENSOR = """
import os, sys, torch
from blspeech.allocator import retain_freed_memory, unmap_large_blocks_on_free
if sys.argv[1] == "retain":
    assert retain_freed_memory()
else:
    unmap_large_blocks_on_free()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
tensor = torch.ones(6 << 20)  # 24 MiB, every page touched
before = resident()
del tensor
print(before - resident())
"""


def released_bytes(setting: str) -> int:
    """How much the resident set shrinks when a fresh process frees a 24 MiB tensor."""
    done = subprocess.run([sys.executable, "-c", FREE_A_TENSOR, setting], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[-1])


def test_retained_memory_stays_resident_after_a_free():
    assert released_bytes("retain") < 1 << 20


def test_unmapped_memory_leaves_at_the_free():
    assert released_bytes("unmap") > 20 << 20
