"""Share quantities as the algos compare, round and print them.

Fills summed over partial children drift in the last bits, so every comparison goes through
``EPS``; children go out in whole lots; reasons print a quantity without float noise.
"""

from __future__ import annotations

import math

EPS = 1e-9
"""Quantities closer than this are equal (floats summed over partial fills drift)."""


def floor_to_lot(qty: float, lot: float) -> float:
    """``qty`` rounded down to whole multiples of ``lot`` (any fraction when ``lot`` is 0), never negative."""
    if lot <= 0:
        return max(qty, 0.0)
    return max(math.floor(qty / lot + 1e-9) * lot, 0.0)


def shares(qty: float) -> str:
    """``qty`` as a reason prints it: at most six decimals, no trailing zeros, never ``-0``."""
    text = f"{qty:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
