"""Prefixed, time-sortable string ids (``msg_01J…``): 48-bit milliseconds + 80 random bits, Crockford base32.

Sorting by id sorts by creation time, which cursor pagination relies on."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two base32 digits per lookup: 13 steps for the 26 digits instead of 26 (ids are made per row in imports).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = tuple(range(120, -1, -10))


def new_id(prefix: str) -> str:
    ms = time.time_ns() // 1_000_000
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    return prefix + "_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
