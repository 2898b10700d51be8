"""``herald import FILE --list NAME``: import a CSV from this machine with a progress bar. The import is an
ordinary import job; this process works on it (any running worker may help), and a crash resumes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald import csvsafe, errors
from herald.auth.models import Workspace
from herald.db import planner_stats
from herald.imports import runner, service
from herald.imports.models import COMPLETED, FAILED, Import
from herald.lists import service as lists
from herald.lists.models import ContactList
from herald.queue.jobs import JobRunner
from herald.queue.models import JOBS


async def _file(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(service.CHUNK_BYTES):
            yield block


def _estimate_rows(path: Path) -> int:
    count = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            count += block.count(b"\n")
    return max(count, 1)


async def run(engine: AsyncEngine, console: Console, path: Path, *, list_name: str, workspace_id: str | None,
              mapping: dict[str, str] | None, key: str | None, region: str | None, max_bytes: int) -> int:
    """Answers the process exit code: 0 when every row went in, 1 when some failed, 2 when the file did."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        query = select(Workspace).order_by(Workspace.created_at).limit(1)
        if workspace_id:
            query = select(Workspace).where(Workspace.id == workspace_id)
        workspace = await session.scalar(query)
        if workspace is None:
            raise errors.NotFound("No such workspace; run `herald migrate` first.", code="workspace_not_found")
        target = await session.scalar(select(ContactList).where(ContactList.workspace_id == workspace.id,
                                                                ContactList.name == list_name))
        if target is None:
            target = await lists.create(session, workspace.id, list_name, None)
            console.print(f"Created the list [bold]{list_name}[/bold] ({target.id}).")
        imp = await service.create(session, workspace.id, _file(path), actor="cli", max_bytes=max_bytes,
                                   filename=path.name, contact_list=target, mapping=mapping, key=key, region=region)
    console.print(f"Import {imp.id}: {imp.encoding}, delimiter {imp.delimiter!r}, key {imp.options.get('key')}")
    # Its own import only: other jobs (journey timers, fan-outs, another import) are the workers' to run.
    jobs = JobRunner(engine, {}, long_handlers={service.JOB_KIND: runner.run}, poll_interval=0.2, periodic=(),
                     only=JOBS.c.unique_key == service.job_key(imp.id))
    stop = asyncio.Event()
    work = asyncio.create_task(jobs.run(stop))
    keeper = asyncio.create_task(planner_stats.keep(engine, stop))  # the import's lookups stay index probes
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("rows", total=_estimate_rows(path) - 1)
            while True:
                async with AsyncSession(engine) as session:
                    current = await session.get(Import, imp.id)
                    assert current is not None
                progress.update(bar, completed=current.rows_done)
                if current.state in (COMPLETED, FAILED):
                    progress.update(bar, total=current.rows_done)
                    break
                await asyncio.sleep(0.25)
    finally:
        stop.set()
        await asyncio.gather(work, keeper)
    return await _report(engine, console, path, current)


async def _report(engine: AsyncEngine, console: Console, path: Path, imp: Import) -> int:
    if imp.state == FAILED:
        console.print(f"[red]The import failed:[/red] {imp.error}")
        return 2
    table = Table("created", "updated", "unchanged", "failed")
    table.add_row(*(str(v) for v in (imp.created, imp.updated, imp.unchanged, imp.failed)))
    console.print(table)
    if not imp.failed:
        return 0
    async with AsyncSession(engine) as session:
        rows = await service.failures(session, imp.id)
    report = path.with_name(path.stem + ".failures.csv")
    with report.open("w", encoding="utf-8", newline="") as out:
        out.writelines(csvsafe.rows(["row", "code", "reason"], ([f.row_number, f.code, f.reason] for f in rows)))
    console.print(f"{imp.failed} rows failed; their line numbers and reasons are in {report}")
    return 1
