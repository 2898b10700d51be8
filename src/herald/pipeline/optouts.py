"""Numbers that replied STOP moments ago, known to the dispatcher in memory.

Suppressions are re-checked when a batch is claimed, but a claimed message may still wait a little (a
throttle, a provider's rate limit) before its provider call. A STOP that commits in that gap must still stop
it: the inbound webhook tells the dispatcher at once (in-process in ``herald serve``, by ``NOTIFY`` to worker
processes on PostgreSQL) and the dispatcher looks here just before each call. Entries are kept ten minutes,
far longer than any claimed message waits; after that the suppression row itself is what counts."""

from __future__ import annotations

import time

KEEP_SECONDS = 600.0


class RecentOptOuts:
    def __init__(self, keep_seconds: float = KEEP_SECONDS) -> None:
        self.keep = keep_seconds
        self._at: dict[str, float] = {}

    def add(self, address: str) -> None:
        now = time.monotonic()
        if len(self._at) > 1000:
            self._at = {a: t for a, t in self._at.items() if now - t < self.keep}
        self._at[address] = now

    def __contains__(self, address: object) -> bool:
        at = self._at.get(address) if isinstance(address, str) else None
        return at is not None and time.monotonic() - at < self.keep
