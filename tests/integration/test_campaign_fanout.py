"""Planning in batches, on SQLite and PostgreSQL: a batch that fails commits nothing, nor does any batch after
it that was already running (PostgreSQL plans two at once), so the committed checkpoint always ends exactly
what is planned; the next run resumes there and plans every member once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Executable, select, text, update

from herald.bootstrap import DEFAULT_WORKSPACE
from herald.campaigns import fanout, planner
from herald.campaigns import service as campaigns
from herald.campaigns.models import Campaign
from herald.campaigns.schemas import CampaignIn
from herald.db.session import unit_of_work
from herald.fakes import audience
from herald.lists.models import ListMember
from herald.messages.models import MESSAGES
from herald.queue.jobs import Lease
from herald.queue.models import JOBS
from tests.conftest import Running

SIZE, BATCH = 60, 7


async def _started(herald: Running) -> tuple[Any, str]:
    """A started campaign to a list of SIZE contacts, and its job leased to this test."""
    state = herald.app.state.herald
    crowd = await audience.seed(state.engine, DEFAULT_WORKSPACE, SIZE)
    async with unit_of_work(state.sessions) as session:
        made = await campaigns.create(session, DEFAULT_WORKSPACE, CampaignIn(
            name="Batches", channel="sms", lists=[crowd.list_id], message_column="text",
            classification="direct_marketing", quiet_hours=False), actor="test")
        await session.flush()
        await campaigns.start(session, made, actor="test")
        job_id = made.job_id
    async with state.engine.begin() as conn:
        await conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(state="running", lease_token="t"))
        job = (await conn.execute(select(JOBS).where(JOBS.c.id == job_id))).one()
    return job, crowd.list_id


async def _planned(herald: Running, campaign_id: str) -> tuple[dict[str, Any], bool, list[int]]:
    async with herald.app.state.herald.engine.connect() as conn:
        c = (await conn.execute(select(Campaign.checkpoint, Campaign.planned_all)
                                .where(Campaign.id == campaign_id))).one()
        items = (await conn.scalars(select(MESSAGES.c.source_item).where(MESSAGES.c.source_id == campaign_id)
                                    .order_by(MESSAGES.c.source_item))).all()
    return dict(c.checkpoint), bool(c.planned_all), list(items)


async def test_a_failed_batch_and_those_after_it_commit_nothing_and_the_rerun_plans_each_member_once(
        herald: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    job, list_id = await _started(herald)
    engine = herald.app.state.herald.engine
    async with engine.connect() as conn:
        rest = list((await conn.scalars(select(ListMember.id).where(ListMember.list_id == list_id,
                                                                    ListMember.priority.is_(False))
                                        .order_by(ListMember.id))).all())
        everyone = sorted((await conn.scalars(select(ListMember.id).where(ListMember.list_id == list_id))).all())
    failing_after = rest[2 * BATCH - 1]  # the third batch of the non-priority rows
    real = planner.batch

    def batch(spec: planner.Spec, dialect: str, **kw: Any) -> Executable:
        if kw["after"] != failing_after:
            return real(spec, dialect, **kw)
        if dialect == "postgresql":  # fails only after the next batch's INSERT ran beside it
            return text("SELECT pg_sleep(0.5)::text::int")
        raise RuntimeError("this batch fails")

    monkeypatch.setattr(planner, "batch", batch)
    with pytest.raises(Exception, match=r"integer|this batch fails"):
        await fanout.run(engine, job, Lease(job.id, "t", 30), batch=BATCH)
    checkpoint, planned_all, items = await _planned(herald, job.payload["campaign_id"])
    assert not planned_all
    assert checkpoint["after"] == failing_after
    priority = [m for m in everyone if m not in rest]
    assert items == sorted(priority + [m for m in rest if m <= failing_after])

    monkeypatch.setattr(planner, "batch", real)
    assert await fanout.run(engine, job, Lease(job.id, "t", 30), batch=BATCH) is not None
    checkpoint, planned_all, items = await _planned(herald, job.payload["campaign_id"])
    assert planned_all
    assert items == everyone


async def test_a_batch_whose_predecessor_committed_nothing_rolls_its_own_rows_back(herald: Running) -> None:
    """On PostgreSQL a batch plans beside the one before it; when that one ends without committing (the
    campaign was paused as it started), this one's rows must not stay: a resume plans the range again, and
    message ids made from the campaign and the member would collide forever."""
    job, list_id = await _started(herald)
    engine = herald.app.state.herald.engine
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        c = await session.get(Campaign, job.payload["campaign_id"])
        assert c is not None
        spec = planner.Spec(campaign_id=c.id, workspace_id=c.workspace_id, channel=c.channel,
                            classification=c.classification, dnc_lists=(), provider_id=c.provider_id,
                            sender=c.sender, template_id=None, template_version=None, queued_explanation="x")
    async with engine.connect() as conn:
        members = sorted((await conn.scalars(select(ListMember.id).where(ListMember.list_id == list_id))).all())

    async def nothing() -> bool:
        return False

    before = asyncio.ensure_future(nothing())
    work = fanout._Range(list_id, False, 0, members[-1])
    done = await fanout._commit(engine, c, spec, Lease(job.id, "t", 30), work, {"step": 1, "after": members[-1]},
                                False, before)
    assert done is False
    checkpoint, planned_all, items = await _planned(herald, c.id)
    assert (items, planned_all) == ([], False)
    assert checkpoint.get("after", 0) == 0
