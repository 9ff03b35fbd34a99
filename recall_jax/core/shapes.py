"""Array sizes rounded so that jit compiles few distinct shapes."""

from __future__ import annotations


def next_power_of_two(value: int) -> int:
    return 1 << max(0, int(value) - 1).bit_length()
