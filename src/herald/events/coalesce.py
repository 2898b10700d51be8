"""Group commit for ``POST /v1/events``: single events that arrive while the previous ones are being stored
are stored and acted on together, in one transaction, and each request is answered after that commit.

A single event costs a transaction of its own otherwise: the workspace read, the idempotency lookup, the
contact upsert, the insert and the commit, each a round trip (and on SQLite, the process's write lock). Under
load those dominate, and the requests queue behind the lock anyway. Here the first event starts a flush at
once (no added wait when the API is idle); the events that arrive meanwhile form the next flush, up to
:data:`MOST` at a time. Nothing changes for the caller: the answer still comes after the event is durably
stored and its journeys moved, with the same body and status.

When a flush fails (an event that breaks its schema, an idempotency conflict, a database error), it is rolled
back and each of its events is then handled alone (a lone event's error is its answer, unless it was the
race of a deferred write, see :meth:`Coalescer._store`), in its own transaction, so each request gets exactly the
answer or the error it would have got on its own and no event is affected by another's fault."""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from herald.auth.tokens import Principal
from herald.db.session import unit_of_work, write_lock
from herald.deps import AppState
from herald.events import ingest
from herald.events.opening import opening
from herald.events.schemas import EventIn
from herald.messages import pending
from herald.messages.service import Links
from herald.pipeline import handoff
from herald.triggers.sending import SendContext

log = structlog.get_logger(__name__)
MOST = 500
"""Events per flush: past a few hundred, a bigger transaction only holds SQLite's write lock longer."""


@dataclass(slots=True)
class _Waiting:
    principal: Principal
    item: EventIn
    answer: asyncio.Future[dict[str, Any]]


def send_context(state: AppState) -> SendContext:
    return SendContext(state.renderer, state.settings.sms_max_segments,
                       Links(state.keyring, state.settings.effective_public_url))


def coalescer(state: AppState) -> Coalescer:
    """The app's group commit, made on first use."""
    if state.events is None:
        state.events = Coalescer(state)
    return state.events


class Coalescer:
    """One per app: takes single events and answers each with its :func:`ingest.to_out` dict."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._waiting: list[_Waiting] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, principal: Principal, item: EventIn) -> dict[str, Any]:
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        answer.add_done_callback(_retrieved)
        self._waiting.append(_Waiting(principal, item, answer))
        if self._flushing is None:
            # A context of its own: the flush serves many requests, it must not log as the first one.
            self._flushing = asyncio.create_task(self._drain(), context=contextvars.Context())
        # Shielded: a caller that goes away does not take the others' flush with it (its event may still be
        # stored, as an event whose answer was lost can be; its idempotency key makes the retry safe).
        return await asyncio.shield(answer)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                taken, self._waiting = self._waiting[:MOST], self._waiting[MOST:]
                by_workspace: dict[str, list[_Waiting]] = {}
                for w in taken:
                    by_workspace.setdefault(w.principal.workspace_id, []).append(w)
                for group in by_workspace.values():
                    await self._flush(group)
        finally:
            self._flushing = None

    async def _flush(self, group: list[_Waiting]) -> None:
        try:
            outs = await self._store(group[0].principal, [w.item for w in group], defer=True)
        except Exception as exc:  # each is retried alone (and not deferred) and gets its own answer or error
            if len(group) == 1 and not isinstance(exc, IntegrityError):
                _fail(group[0].answer, exc)
                return
            log.debug("events.flush_split", events=len(group))
        else:
            for w, out in zip(group, outs, strict=True):
                _answer(w.answer, out)
            return
        for w in group:
            try:
                _answer(w.answer, (await self._store(w.principal, [w.item], defer=False))[0])
            except Exception as exc:  # handed to the request that sent the event
                _fail(w.answer, exc)

    async def _store(self, principal: Principal, items: list[EventIn], *, defer: bool) -> list[dict[str, Any]]:
        """Store and act on ``items`` in one transaction. ``defer`` (:func:`ingest.ingest`): the events go in
        with their journeys' rows at commit; a key stored meanwhile by a concurrent request then fails the
        commit, and the events are stored again without it, where that race is answered as a repeat."""
        state = self._state
        offered = state.handoff()  # herald serve: its dispatcher takes the alerts planned here
        async with write_lock(state.engine), unit_of_work(state.sessions) as session:
            handoff.offer(session.sync_session, offered)
            workspace, earlier = await opening(session, principal, items)
            outs = await ingest.ingest(session, workspace, items, ctx=send_context(state), batch=False,
                                       earlier=earlier, defer=defer)
            await pending.commit(session)
        state.adopt(offered)
        # Other processes' workers hear of its messages by NOTIFY (herald.queue.notify).
        if ingest.moved(outs) and handoff.left_queued(offered):
            state.wake_dispatcher()
        return outs


def _answer(answer: asyncio.Future[dict[str, Any]], out: dict[str, Any]) -> None:
    if not answer.done():
        answer.set_result(out)


def _fail(answer: asyncio.Future[dict[str, Any]], exc: Exception) -> None:
    if not answer.done():
        answer.set_exception(exc)


def _retrieved(answer: asyncio.Future[dict[str, Any]]) -> None:
    """Marks an error as seen even when its caller went away (asyncio would log it as never retrieved)."""
    if not answer.cancelled():
        answer.exception()
