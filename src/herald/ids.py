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


_DIGIT_OF_BYTE = bytes.maketrans(bytes(range(256)), bytes(ord(_ALPHABET[b & 31]) for b in range(256)))


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids as :func:`new_id` makes them, made together for a batch (~0.3 µs an id instead of ~3). In
    the 26 base32 digits the 48-bit milliseconds are the first 10 (read once here) and the 80 random bits
    exactly the last 16, drawn here as 16 random digits: each a random byte's low 5 bits (256 is a multiple
    of 32, so every digit is equally likely), mapped for the whole batch in one ``bytes.translate``."""
    ms = (time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF
    head = prefix + "_" + "".join(_ALPHABET[(ms >> shift) & 31] for shift in range(45, -1, -5))
    noise = os.urandom(16 * count).translate(_DIGIT_OF_BYTE).decode("ascii")
    return [head + noise[i:i + 16] for i in range(0, 16 * count, 16)]
