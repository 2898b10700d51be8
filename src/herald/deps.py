"""What every API route can depend on: the process state, a unit-of-work session, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from herald import errors
from herald.auth import tokens
from herald.auth.models import Workspace
from herald.crypto import Keyring
from herald.db.session import unit_of_work, write_lock
from herald.metrics import Metrics
from herald.settings import Settings
from herald.templates.liquid import Renderer

if TYPE_CHECKING:
    from herald.events.coalesce import Coalescer
    from herald.pipeline.handoff import Handoff


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    metrics: Metrics
    renderer: Renderer
    wake_dispatcher: Callable[[], None] = field(default=lambda: None)
    opted_out: Callable[[str], None] = field(default=lambda address: None)
    """Tells this process's dispatcher (``herald serve``) that an address just replied STOP."""
    handoff: Callable[[], Handoff | None] = field(default=lambda: None)
    """A handoff to this process's dispatcher for a transaction that plans messages (``herald serve``)."""
    adopt: Callable[[Handoff | None], None] = field(default=lambda handoff: None)
    """After that transaction's commit: the dispatcher sends what it took."""
    events: Coalescer | None = None
    """Stores the single events of concurrent requests together (made on first use)."""


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.herald
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def _session(request: Request, state: StateDep) -> AsyncIterator[AsyncSession]:
    # scope="function" (below): this commits before the response is sent, so a failed commit is an error
    # response, never a 2xx for something that was not stored.
    async with write_lock(state.engine), unit_of_work(state.sessions) as session:
        yield session
    after = getattr(request.state, "after_commit", None)
    if after is not None:
        after()


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


def bearer(header: str) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _principal(request: Request, state: StateDep) -> tokens.Principal:
    token = bearer(request.headers.get("authorization", ""))
    if token is None:
        raise errors.NotAuthenticated(
            "Send a Bearer token from POST /oauth/token in the Authorization header.", code="missing_token"
        )
    return tokens.verify(state.keyring, token)


CallerDep = Annotated[tokens.Principal, Depends(_principal)]
"""The caller, whatever its scopes (for a dependency of a route that checks them with :func:`require`)."""


def require(scope: str) -> Callable[..., Awaitable[tokens.Principal]]:
    """A dependency that answers the caller when its token holds ``scope``; 401 / 403 otherwise. Dependencies
    here are ``async def``: FastAPI runs a plain ``def`` one in a thread pool, a thread hop per dependency per
    request for work that takes microseconds."""

    async def check(principal: Annotated[tokens.Principal, Depends(_principal)]) -> tokens.Principal:
        if scope not in principal.scopes:
            raise errors.NotPermitted(f"This token lacks the {scope!r} scope.", code="insufficient_scope")
        return principal

    return check


async def workspace_of(session: AsyncSession, principal: tokens.Principal) -> Workspace:
    """The caller's workspace (a token outlives nothing: a deleted workspace's tokens stop here)."""
    workspace = await session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise workspace_gone()
    return workspace


def workspace_gone() -> errors.NotAuthenticated:
    """The answer to a token whose workspace was deleted since it was issued."""
    return errors.NotAuthenticated("The token's workspace no longer exists.", code="invalid_token")
