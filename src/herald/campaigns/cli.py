"""``herald campaign create|start|pause|resume|stop|status|list``: campaigns from the command line, over the
same services as the API (so the same checks and the same 409s), with a live progress bar. A running worker
(``herald serve`` or ``herald worker``) does the sending."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald import errors
from herald.auth.models import Workspace
from herald.campaigns import service
from herald.campaigns.models import ENDED, Campaign
from herald.campaigns.schemas import CampaignIn
from herald.db.session import make_sessionmaker as sessions
from herald.db.session import reading, unit_of_work, write_lock

ACTOR = "cli"


async def _workspace(session: AsyncSession, workspace_id: str | None) -> str:
    query = select(Workspace.id).order_by(Workspace.created_at).limit(1)
    if workspace_id:
        query = select(Workspace.id).where(Workspace.id == workspace_id)
    found = await session.scalar(query)
    if found is None:
        raise errors.NotFound("No such workspace; run `herald migrate` first.", code="workspace_not_found")
    return found


async def create(engine: AsyncEngine, console: Console, workspace_id: str | None, body: dict[str, Any]) -> str:
    req = CampaignIn.model_validate(body)
    async with write_lock(engine), unit_of_work(sessions(engine)) as session:
        made = await service.create(session, await _workspace(session, workspace_id), req, ACTOR)
        await session.flush()
        out = service.to_out(made, await service.progress(session, made))
    console.print(f"Created campaign [bold]{out.name}[/bold] ({out.id}), a draft; `herald campaign start "
                  f"{out.id}` sends it.")
    return out.id


async def act(engine: AsyncEngine, console: Console, workspace_id: str | None, ref: str, action: str) -> None:
    async with write_lock(engine), unit_of_work(sessions(engine)) as session:
        c = await service.get(session, await _workspace(session, workspace_id), ref)
        c = await service.ACTIONS[action](session, c, ACTOR)
        state, reason = c.state, c.state_reason
    console.print(f"Campaign {c.name!r} is now {state}" + (f": {reason}" if reason else "."))


async def status(engine: AsyncEngine, console: Console, workspace_id: str | None, ref: str, *, watch: bool) -> int:
    """Print the counters; with ``watch``, a live bar of processed recipients until the campaign ends.
    Answers the exit code: 0, or 1 when it ended stopped or with failures."""
    async with reading(engine) as conn, AsyncSession(bind=conn) as session:
        c = await service.get(session, await _workspace(session, workspace_id), ref)
        campaign_id = c.id
    if watch:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("processed", total=None)
            while True:
                c, counted = await _read(engine, campaign_id)
                done = counted["planned"] - counted["queued"] - counted["sending"]
                bar.update(task, total=max(counted["total"], 1), completed=done,
                           description=f"{c.name} [{c.state}]")
                if c.state in ENDED or c.state in ("paused", "draft"):
                    break
                await asyncio.sleep(0.5)
    c, counted = await _read(engine, campaign_id)
    console.print(f"Campaign {c.name!r} ({c.id}): {c.state}")
    shown = [k for k in ("total", "planned", "queued", "sent", "delivered", "failed", "skipped", "cancelled")
             if counted[k] or k == "total"]
    table = Table(*shown)
    table.add_row(*(str(counted[k]) for k in shown))
    console.print(table)
    for title, key in (("skipped", "skipped_by_reason"), ("failed", "failed_by_reason")):
        if counted[key]:
            console.print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counted[key].items())))
    if c.state_reason:
        console.print(c.state_reason)
    return 1 if c.state == "stopped" or counted["failed"] else 0


async def _read(engine: AsyncEngine, campaign_id: str) -> tuple[Campaign, dict[str, Any]]:
    async with reading(engine) as conn, AsyncSession(bind=conn, expire_on_commit=False) as session:
        c = await session.get(Campaign, campaign_id)
        assert c is not None
        return c, await service.progress(session, c)


async def listing(engine: AsyncEngine, console: Console, workspace_id: str | None) -> None:
    async with reading(engine) as conn, AsyncSession(bind=conn) as session:
        ws = await _workspace(session, workspace_id)
        rows = (await session.scalars(select(Campaign).where(Campaign.workspace_id == ws)
                                      .order_by(Campaign.id.desc()))).all()
        table = Table("id", "name", "channel", "state", "total", "sent", "skipped", "failed")
        for c in rows:
            p = await service.progress(session, c)
            table.add_row(c.id, c.name, c.channel, c.state, str(c.total), str(p["sent"] + p["delivered"]),
                          str(p["skipped"]), str(p["failed"]))
    console.print(table)
