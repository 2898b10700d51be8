"""What the HTTP provider fakes (Twilio, Vonage) share: an aiohttp server on ``host:port``, an outgoing session
for the callbacks they post, background tasks, a queue of injected failures, and two lifecycles -- an async
context manager for async tests and :meth:`HttpFake.running` on a background thread for synchronous ones."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import aiohttp
from aiohttp import web


@dataclass(slots=True)
class Failure:
    """An injected failure for the next ``remaining`` API calls."""

    mode: str
    remaining: int
    retry_after: float | None = None
    delay: float | None = None


class HttpFake:
    """Base of an in-process provider look-alike; port 0 picks a free one. Subclasses add their API routes in
    :meth:`routes` and name their failure modes; ``/_fake/fail`` is served here."""

    name: ClassVar[str] = "fake"
    failure_modes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._failures: deque[Failure] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    messages: list[dict[str, Any]]

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget messages, pending failures and counters."""
        raise NotImplementedError

    def stats(self) -> dict[str, int]:
        return {"messages": len(self.messages)}

    def public(self) -> list[dict[str, Any]]:
        """The received messages as ``GET /_fake/messages`` shows them."""
        return self.messages

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        app.router.add_post("/_fake/fail", self._admin_fail)
        app.router.add_get("/_fake/messages", self._admin_messages)
        app.router.add_get("/_fake/stats", self._admin_stats)
        app.router.add_post("/_fake/reset", self._admin_reset)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Run the server on a background thread with its own event loop (for synchronous tests)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=run, name=self.name, daemon=True)
        thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def fail(
        self, mode: str, count: int = 1, retry_after: float | None = None, delay: float | None = None
    ) -> None:
        """Make the next ``count`` send calls fail in ``mode`` (one of the subclass's ``failure_modes``)."""
        if mode not in self.failure_modes:
            raise ValueError(f"unknown failure mode {mode!r}; one of {self.failure_modes}")
        if count > 0:
            self._failures.append(Failure(mode, count, retry_after, delay))

    def _next_failure(self) -> Failure | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            self._failures.popleft()
        return failure

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a callback being posted) in the background; cancelled by :meth:`stop`."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admin_fail(self, request: web.Request) -> web.StreamResponse:
        try:
            spec = await request.json()
            self.fail(
                str(spec["mode"]),
                int(spec.get("count", 1)),
                retry_after=spec.get("retry_after"),
                delay=spec.get("delay"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True, "pending": len(self._failures)})

    async def _admin_messages(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.public())

    async def _admin_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.stats())

    async def _admin_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return web.json_response({"ok": True})
