"""One pooled aiohttp session per HTTP provider, and the one place that turns network failures into retry
decisions, so every HTTP provider tells "never sent" from "maybe sent" the same way.

Timeouts bound the connect (including the wait for a pooled connection) and each socket read, with no total
deadline: a failure to connect means the request never left (safe to retry at once); a read timeout or a
reset after that means the provider may have accepted it (``maybe_sent``: the dispatcher reconciles, or
retries knowing a duplicate is possible)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from herald.channels.base import TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    retry_after: str | None


class PooledHttp:
    def __init__(self, name: str, *, timeout: float, max_connections: int,
                 headers: Mapping[str, str] | None = None) -> None:
        """``name`` is how errors and logs call the provider ("Twilio", "the gateway")."""
        self.name = name
        self._limit = max_connections
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._limit),
                                                  timeout=self._timeout, headers=self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, method: str, url: Any, *, to: str, **kwargs: Any) -> Answer:
        """Make one sending request; ``to`` is the masked recipient, for the log."""
        try:
            async with self.session().request(method, url, **kwargs) as resp:
                return Answer(resp.status, await resp.read(), resp.headers.get("Retry-After"))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # DNS, refused, connect timeout or no free pooled connection: the request never left.
            log.warning("%s send to %s: cannot connect (%s)", self.name, to, type(exc).__name__)
            raise TransientError(f"cannot connect to {self.name}: {type(exc).__name__}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            # Read timeout, disconnect or reset once the request may have been written.
            log.warning("%s send to %s: no answer (%s)", self.name, to, type(exc).__name__)
            raise TransientError(f"no answer from {self.name}: {type(exc).__name__}", maybe_sent=True) from exc
        except aiohttp.ClientError as exc:
            log.warning("%s send to %s: client error (%s)", self.name, to, type(exc).__name__)
            raise TransientError(f"{self.name} request failed: {type(exc).__name__}") from exc


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
