"""What a provider holding its own session (SMPP) hands back to Herald: delivery receipts and inbound messages.

HTTP providers get these through webhooks (:mod:`herald.webhooks.api`); an SMPP session receives them as
``deliver_sm`` inside the worker, so the worker passes these two callbacks in the
:class:`~herald.channels.base.ProviderContext`. Each runs in its own unit of work, with the same effects as
the webhooks: a receipt moves its message forward (suppressing on a hard bounce), an inbound message is
stored, threaded and its keyword acted on, an opt-out is announced to the dispatchers at commit and a keyword
answer wakes the dispatcher. An exception propagates so the provider can tell the SMSC to deliver again.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.channels.base import Incoming, Receipt
from herald.db.session import make_sessionmaker, unit_of_work, write_lock
from herald.inbound import keywords
from herald.inbound import service as inbound
from herald.messages import receipts
from herald.providers.models import Provider
from herald.queue import notify
from herald.templates.liquid import Renderer

log = structlog.get_logger(__name__)


class ProviderHooks:
    """``receipt`` and ``inbound``, bound to a database; ``opted_out(address)`` and ``wake()`` tell this
    process's dispatcher after commit."""

    def __init__(self, engine: AsyncEngine, renderer: Renderer, *, opted_out: Callable[[str], None],
                 wake: Callable[[], None]) -> None:
        self._engine = engine
        self._sessions = make_sessionmaker(engine)
        self._renderer = renderer
        self._opted_out = opted_out
        self._wake = wake

    async def receipt(self, provider_id: str, receipt: Receipt) -> None:
        async with write_lock(self._engine), unit_of_work(self._sessions) as session:
            message = await receipts.find(session, provider_id, receipt)
            if message is None:  # another system's message, or a later part of a long SMS
                log.info("receipt.unknown_message", provider_id=provider_id)
                return
            if receipts.apply(session, message, receipt):
                await receipts.suppress(session, message, receipt)

    async def inbound(self, provider_id: str, message: Incoming) -> None:
        async with write_lock(self._engine), unit_of_work(self._sessions) as session:
            provider = await session.get(Provider, provider_id)
            if provider is None:  # deleted while its session was still up
                log.info("inbound.unknown_provider", provider_id=provider_id)
                return
            stored = await inbound.receive(session, provider, inbound.Inbound(
                message.provider_message_id, message.from_address, message.to_address, message.body),
                renderer=self._renderer)
            opted_out = stored is not None and stored.action == keywords.OPT_OUT
            if stored is not None and opted_out:
                await notify.opt_out(session, stored.from_address)
        if stored is None:
            return
        if opted_out:
            self._opted_out(stored.from_address)
        if opted_out or stored.reply_id:
            self._wake()
