"""``/v1/clients``: API clients of the workspace. A secret is shown once, at creation; only its hash is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from herald import errors
from herald.auth import scopes, service
from herald.auth.models import ApiClient
from herald.auth.tokens import Principal
from herald.deps import SessionDep, require
from herald.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1/clients", tags=["clients"], responses={**COMMON_RESPONSES})
Admin = Annotated[Principal, Depends(require("clients:write"))]


class ClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default_factory=lambda: list(scopes.ALL), description=", ".join(scopes.ALL))


class ClientOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    active: bool
    created_at: datetime
    last_used_at: datetime | None


class ClientCreated(ClientOut):
    secret: str = Field(description="Shown this once; store it now")


def _out(c: ApiClient) -> ClientOut:
    return ClientOut(id=c.id, name=c.name, scopes=list(c.scopes), active=c.active, created_at=c.created_at,
                     last_used_at=c.last_used_at)


@router.post("", status_code=201, response_model=ClientCreated, summary="Create an API client")
async def create_client(req: ClientCreate, session: SessionDep, principal: Admin) -> ClientCreated:
    issued = await service.create_client(session, principal.workspace_id, name=req.name, actor=principal.client_id,
                                         scope_list=req.scopes)
    await session.flush()
    return ClientCreated(**_out(issued.client).model_dump(), secret=issued.secret)


@router.get("", response_model=list[ClientOut], summary="List API clients")
async def list_clients(session: SessionDep, principal: Admin) -> list[ClientOut]:
    rows = await session.scalars(select(ApiClient).where(ApiClient.workspace_id == principal.workspace_id)
                                 .order_by(ApiClient.created_at))
    return [_out(c) for c in rows]


@router.delete("/{client_id}", status_code=204, summary="Revoke an API client (no new tokens)")
async def revoke_client(client_id: Annotated[str, Path(max_length=64)], session: SessionDep, principal: Admin
                        ) -> Response:
    client = await session.get(ApiClient, client_id)
    if client is None or client.workspace_id != principal.workspace_id:
        raise errors.NotFound(f"No API client {client_id!r} in this workspace.", code="client_not_found")
    client.active = False
    service.audit(session, principal.workspace_id, principal.client_id, "client.revoked", client_id)
    return Response(status_code=204)
