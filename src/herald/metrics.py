"""Prometheus metrics. One registry per process, passed down -- nothing is created on import.

Message counts by state and the queue depth are read from the database at scrape time, so they are right
whichever process sent the messages; provider latency is measured in the process that calls the provider."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.messages.models import CLAIMABLE, Message


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.provider_latency = Histogram(
            "herald_provider_request_seconds",
            "Time a provider took to answer one send",
            ["kind", "outcome"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.sends = Counter(
            "herald_sends", "Provider calls by outcome", ["channel", "kind", "outcome"], registry=self.registry
        )
        self.messages = Gauge(
            "herald_messages", "Messages by state and channel", ["state", "channel"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "herald_queue_depth", "Messages due now and waiting for a worker", registry=self.registry
        )

    async def scrape(self, conn: AsyncConnection, now: datetime) -> bytes:
        rows = await conn.execute(
            select(Message.state, Message.channel, func.count()).group_by(Message.state, Message.channel)
        )
        self.messages.clear()
        for state, channel, count in rows:
            self.messages.labels(state=state, channel=channel).set(count)
        depth = await conn.scalar(
            select(func.count()).select_from(Message).where(Message.state.in_(CLAIMABLE), Message.due_at <= now)
        )
        self.queue_depth.set(depth or 0)
        return generate_latest(self.registry)
