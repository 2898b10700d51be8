"""A STOP reaches worker processes on PostgreSQL at once: the webhook's transaction NOTIFYs the address, every
worker's listener hands it to its dispatcher, and the dispatcher will not send a claimed marketing message to
it -- while answers to the keyword still go."""

from __future__ import annotations

import asyncio
import time

from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.pipeline.optouts import RecentOptOuts
from herald.queue import notify
from tests.conftest import wait_for


async def test_an_opt_out_is_heard_by_listening_workers(pg_url: str) -> None:
    heard = RecentOptOuts()
    woken: list[int] = []
    stop = asyncio.Event()
    listener = asyncio.create_task(notify.listen(pg_url, lambda: woken.append(1), stop, opted_out=heard.add))
    engine = make_engine(pg_url, pool_size=1)
    try:
        await wait_for(lambda: _async(bool(woken)))  # listening (it wakes once when it connects)
        async with unit_of_work(make_sessionmaker(engine)) as session:
            await notify.opt_out(session, "+14155550123")
            assert "+14155550123" not in heard, "nothing is announced before the commit"
        await wait_for(lambda: _async("+14155550123" in heard), timeout=5)
        assert "+14155550124" not in heard
    finally:
        stop.set()
        await listener
        await engine.dispose()


async def _async(value: bool) -> bool:
    return value


def test_recent_opt_outs_are_forgotten_after_their_time() -> None:
    recent = RecentOptOuts(keep_seconds=0.05)
    recent.add("+14155550123")
    assert "+14155550123" in recent
    assert "+14155550199" not in recent
    time.sleep(0.06)
    assert "+14155550123" not in recent
