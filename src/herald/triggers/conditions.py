"""A trigger's conditions: its filter, its counters ("third purchase this month", "first purchase ever"),
the matches of waits and exits, and a date schedule's condition. Expressions are compiled once per source."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors
from herald.events.models import Event
from herald.triggers import durations, expr

FILTER_ROOTS = frozenset({"event", "contact"})
MATCH_ROOTS = frozenset({"event", "entry", "contact"})
CONTACT_ROOTS = frozenset({"contact"})
COUNT_CAP = 100_000
"""A counter with a match reads at most this many events of the contact (a count beyond it is "at least")."""


@lru_cache(maxsize=1024)
def compiled(source: str, roots: frozenset[str]) -> expr.Expr:
    return expr.compile(source, roots)


def check(source: str | None, roots: frozenset[str], field: str) -> None:
    """Refuse an expression that does not parse: 422 naming the field and the character position."""
    if source is None:
        return
    try:
        compiled(source, roots)
    except expr.ExprError as exc:
        raise errors.Invalid(f"{field}: {exc}", code="invalid_expression", field=field, errors=[
            {"field": field, "code": "invalid_expression", "message": exc.message, "position": exc.position}]) from None


def passes(source: str | None, roots: frozenset[str], scope: dict[str, Any]) -> bool:
    return source is None or compiled(source, roots).evaluate(scope)


def period_start(period: str, at: datetime, tz: ZoneInfo) -> datetime | None:
    """The first instant counted: calendar periods begin at local midnight (weeks on Monday); a duration is a
    rolling window ending at ``at``; ``ever`` has no start."""
    if period == "ever":
        return None
    local = at.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start = midnight
    elif period == "week":
        start = midnight - timedelta(days=local.weekday())
    elif period == "month":
        start = midnight.replace(day=1)
    elif period == "year":
        start = midnight.replace(month=1, day=1)
    else:
        return at - durations.parse(period)
    return durations.at_local(start.date(), start.time(), tz)


def check_period(period: str, field: str) -> None:
    if period in ("ever", "day", "week", "month", "year"):
        return
    try:
        durations.parse(period)
    except ValueError as exc:
        raise errors.Invalid(f"{field}: {exc}; or use ever, day, week, month, year", code="invalid_period",
                             field=field) from None


_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


async def counters_hold(session: AsyncSession, counters: list[dict[str, Any]], *, contact_id: str,
                        at: datetime, tz: ZoneInfo, scope: dict[str, Any]) -> bool:
    """Every counter holds for this contact, counting its stored events up to ``at`` (the current event is
    stored before triggers run, so "first purchase ever" is a count of 1)."""
    for counter in counters:
        start = period_start(counter.get("period", "ever"), at, tz)
        query = select(Event.payload).where(Event.contact_id == contact_id, Event.type == counter["event"],
                                            Event.occurred_at <= at)
        if start is not None:
            query = query.where(Event.occurred_at >= start)
        if counter.get("match"):
            rule = compiled(counter["match"], FILTER_ROOTS)
            payloads = (await session.scalars(query.limit(COUNT_CAP))).all()
            count = sum(1 for p in payloads if rule.evaluate({**scope, "event": p}))
        else:
            count = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        if not _COMPARE[counter.get("op", "==")](count, int(counter["count"])):
            return False
    return True
