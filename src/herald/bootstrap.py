"""First start: a default workspace, a console admin, an API client and demo providers for every channel
(file providers, and a real communication queue), so a send works at once. Credentials come from HERALD_*
variables or are generated and shown once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.auth import service as auth
from herald.auth.models import Workspace
from herald.channels.base import CHANNELS
from herald.crypto import Keyring
from herald.db.session import make_sessionmaker, unit_of_work
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings

DEFAULT_WORKSPACE = "ws_default"


@dataclass(frozen=True)
class FirstStart:
    admin_email: str
    admin_password: str | None
    client_id: str
    client_secret: str | None
    """None when taken from the environment (we never echo what the operator chose)."""


async def first_start(settings: Settings, engine: AsyncEngine, keyring: Keyring) -> FirstStart | None:
    """Create the initial rows when the database has no workspace; answer what to tell the operator."""
    sessions = make_sessionmaker(engine)
    try:
        async with unit_of_work(sessions) as session:
            if await session.scalar(select(func.count()).select_from(Workspace)):
                return None
            ws = await auth.create_workspace(session, name="Default", region=settings.default_region,
                                             workspace_id=DEFAULT_WORKSPACE)
            await session.flush()
            password = settings.admin_password or secrets.token_urlsafe(12)
            await auth.create_console_user(session, ws.id, email=settings.admin_email, password=password)
            issued = await auth.create_client(session, ws.id, name="default", actor="bootstrap",
                                              client_id=settings.client_id or None,
                                              secret=settings.client_secret or None)
            for channel in CHANNELS:
                # A queue is Herald's own: its demo is a real one, for a portal to pull from (/v1/queues/demo-queue).
                kind = "queue" if channel == "queue" else "file"
                await providers.create(session, keyring, ws.id, ProviderCreate(
                    name=f"demo-{channel}", kind=kind, channel=channel, priority=-100), actor="bootstrap")
    except IntegrityError:
        return None  # another process bootstrapped at the same moment
    return FirstStart(
        admin_email=settings.admin_email,
        admin_password=None if settings.admin_password else password,
        client_id=issued.client.id,
        client_secret=None if settings.client_secret else issued.secret,
    )
