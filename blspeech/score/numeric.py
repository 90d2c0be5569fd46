"""C ``float`` rounding: sclite keeps stm times and alignment costs in 32-bit floats, and exact
reproduction of its decisions (which segment a word falls in, which tie wins) needs the same."""

from __future__ import annotations

import struct

_FLOAT32 = struct.Struct("f")


def to_float32(value: float) -> float:
    """``value`` rounded to the nearest 32-bit float (returned as a Python float)."""
    return _FLOAT32.unpack(_FLOAT32.pack(value))[0]
