"""When to try again: exponential backoff with full jitter, never sooner than the provider asked."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    base_seconds: float = 2.0
    max_seconds: float = 3600.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        # Full jitter spreads a burst of failures; keep at least half so backoff still grows.
        wait = ceiling / 2 + random.random() * ceiling / 2
        if retry_after is not None:  # the provider knows best, within reason (a day)
            wait = max(wait, min(retry_after, 86400.0))
        return float(wait)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
