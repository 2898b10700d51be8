"""Small pure pieces: ids, masking, backoff."""

from __future__ import annotations

import time

from herald import ids
from herald.queue.retry import RetryPolicy
from herald.redact import mask_address


def test_ids_are_prefixed_unique_and_sort_by_time() -> None:
    first = ids.new_id("msg")
    time.sleep(0.002)
    made = [ids.new_id("msg") for _ in range(1000)]
    assert first.startswith("msg_")
    assert len(first) == 4 + 26
    assert len(set(made)) == 1000
    assert all(first < m for m in made)


def test_mask_address_hides_the_middle() -> None:
    assert mask_address("+447700900123") == "+44*******123"
    assert mask_address("jane.doe@example.com") == "j***@example.com"
    assert mask_address("12345") == "*****"
    assert mask_address(None) == ""
    assert "900" not in mask_address("+447700900123")


def test_backoff_grows_is_jittered_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, base_seconds=2, max_seconds=30)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (9, 30)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, delays)
        assert len(delays) > 1  # jitter spreads retries
    assert policy.delay(1, retry_after=120) == 120  # the provider asked for longer than our cap
    assert policy.delay(1, retry_after=10**9) == 86400
    assert policy.delay(4, retry_after=1) >= 8
    assert not policy.exhausted(4)
    assert policy.exhausted(5)
