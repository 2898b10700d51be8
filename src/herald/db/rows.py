"""ORM objects from rows read outside the ORM (a statement on the transaction's own psycopg connection, on a
hot path), made as a query would have made them: datetimes aware and in UTC (as :class:`UTCDateTime` answers
them), persistent in the session with nothing to write, and the session's own object where it has one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from herald.db.base import Base

T = TypeVar("T", bound=Base)


def loaded(session: AsyncSession, model: type[T], names: Sequence[str], values: Sequence[Any]) -> T:
    """``model`` with ``names`` set to ``values``; ``names`` start with the primary key."""
    present = session.identity_map.get(identity_key(model, (values[0],)))
    if present is not None:
        return present  # type: ignore[return-value]
    made = model(**{name: value.astimezone(UTC) if isinstance(value, datetime) else value
                    for name, value in zip(names, values, strict=True)})
    make_transient_to_detached(made)
    session.add(made)
    return made
