"""Everything a worker process runs: the dispatcher and the job runner, wired from settings."""

from __future__ import annotations

import asyncio
import functools

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.campaigns import fanout, repeat
from herald.campaigns.delivery import CampaignDelivery
from herald.campaigns.models import JOB_KIND as CAMPAIGN_JOB
from herald.channels.base import ProviderContext
from herald.crypto import Keyring
from herald.db import planner_stats
from herald.db.session import make_sessionmaker
from herald.imports import runner
from herald.imports import service as imports
from herald.messages.service import Links
from herald.metrics import Metrics
from herald.pipeline.dispatch import Dispatcher
from herald.providers.hooks import ProviderHooks
from herald.providers.runtime import ProviderCache
from herald.queue import notify
from herald.queue.jobs import HANDLERS, PERIODIC, JobRunner
from herald.queue.retry import RetryPolicy
from herald.settings import Settings
from herald.templates.liquid import Renderer
from herald.triggers import schedules
from herald.triggers.sending import SendContext
from herald.triggers.timers import TimerRunner


class Worker:
    def __init__(self, settings: Settings, engine: AsyncEngine, keyring: Keyring, metrics: Metrics) -> None:
        # Session-based providers (SMPP) hand receipts and inbound messages back through these hooks.
        hooks = ProviderHooks(engine, Renderer(output_limit=settings.template_output_limit),
                              opted_out=self.opted_out, wake=self.wake)
        self.providers = ProviderCache(engine, keyring, ProviderContext(
            outbox_dir=settings.outbox_dir, on_receipt=hooks.receipt, on_inbound=hooks.inbound))
        self.dispatcher = Dispatcher(
            engine, self.providers, public_url=settings.effective_public_url, metrics=metrics,
            retry=RetryPolicy(settings.max_attempts, settings.retry_base_seconds, settings.retry_max_seconds),
            concurrency=settings.worker_concurrency, batch=settings.claim_batch,
            lease_seconds=settings.lease_seconds, poll_interval=settings.poll_interval,
            prepare=CampaignDelivery(Renderer(output_limit=settings.template_output_limit),
                                     sms_max_segments=settings.sms_max_segments,
                                     links=Links(keyring, settings.effective_public_url)),
        )
        send = SendContext(Renderer(output_limit=settings.template_output_limit), settings.sms_max_segments,
                           Links(keyring, settings.effective_public_url))
        # Long jobs renew their lease at every batch, so a worker killed mid-job is replaced within one lease.
        self.jobs = JobRunner(engine, {**HANDLERS, schedules.JOB_KIND: functools.partial(schedules.run, send=send),
                                       repeat.JOB_KIND: repeat.run},
                              periodic=(*PERIODIC, schedules.JOB_KIND), long_handlers={
            imports.JOB_KIND: runner.run,
            CAMPAIGN_JOB: functools.partial(fanout.run, batch=settings.campaign_plan_batch)},
                              lease_seconds=settings.lease_seconds, poll_interval=min(1.0, settings.poll_interval * 4))
        # Journey timers have their own loop: a long fan-out must never hold back a two-minute reminder.
        self.timers = TimerRunner(engine, make_sessionmaker(engine), send, poll_interval=settings.poll_interval,
                                  on_sent=self.wake, dispatcher=self.dispatcher)
        self.stop = asyncio.Event()
        self.engine = engine
        self.database_url = settings.effective_database_url
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.dispatcher.run(self.stop), name="dispatcher"),
                       asyncio.create_task(self.jobs.run(self.stop), name="jobs"),
                       asyncio.create_task(self.timers.run(self.stop), name="timers")]
        if self.database_url.startswith("postgresql"):
            self._tasks.append(asyncio.create_task(
                notify.listen(self.database_url, self.wake, self.stop, opted_out=self.opted_out), name="listen"))
            self._tasks.append(asyncio.create_task(planner_stats.keep(self.engine, self.stop), name="planner_stats"))

    def wake(self) -> None:
        self.dispatcher.wakeup.set()

    def opted_out(self, address: str) -> None:
        self.dispatcher.opted_out.add(address)

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close()

    async def run_forever(self) -> None:
        self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self._close()

    async def _close(self) -> None:
        """Once every task has stopped: hand back what was handed over too late, then close the providers."""
        await self.dispatcher.release_orphans()
        await self.providers.close()
