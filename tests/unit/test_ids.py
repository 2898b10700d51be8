"""Ids: prefixed, 26 Crockford base32 digits, sorted by creation time."""

from __future__ import annotations

import time

from herald import ids


def reference(ms: int, rand: int) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value, out = ms << 80 | rand, []
    for _ in range(26):
        out.append(alphabet[value & 31])
        value >>= 5
    return "".join(reversed(out))


def test_ids_encode_time_then_randomness_in_crockford_base32(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_732_000_000_123 * 1_000_000)
    monkeypatch.setattr(ids.os, "urandom", lambda n: bytes(range(1, n + 1)))
    made = ids.new_id("ct")
    assert made == "ct_" + reference(1_732_000_000_123, int.from_bytes(bytes(range(1, 11)), "big"))


def test_later_ids_sort_after_earlier_ones() -> None:
    first = ids.new_id("msg")
    time.sleep(0.002)
    assert ids.new_id("msg") > first
    assert len(first) == len("msg_") + 26


def test_ids_made_together_look_and_sort_like_single_ones() -> None:
    first = ids.new_id("ev")
    time.sleep(0.002)
    batch = ids.new_ids("ev", 300)
    time.sleep(0.002)
    last = ids.new_id("ev")
    assert len(set(batch)) == 300
    assert all(first < made < last and len(made) == len(first) for made in batch)
    assert all(set(made[3:]) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for made in batch)
    # every random digit is used: the 16 random digits come from the whole alphabet
    assert set("".join(made[-16:] for made in batch)) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert ids.new_ids("ev", 0) == []
