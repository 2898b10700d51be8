"""``/v1/providers``: configure the accounts messages go out through. Secrets are write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from herald import idempotency
from herald.auth.tokens import Principal
from herald.channels import registry
from herald.deps import SessionDep, StateDep, require
from herald.problems import COMMON_RESPONSES
from herald.providers import service
from herald.providers.models import Provider
from herald.providers.schemas import ProviderCreate, ProviderKindOut, ProviderOut, ProviderUpdate

router = APIRouter(tags=["providers"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("providers:read"))]
Writer = Annotated[Principal, Depends(require("providers:write"))]
ProviderId = Annotated[str, Path(max_length=64)]


@router.get("/v1/provider-kinds", response_model=list[ProviderKindOut], summary="Provider kinds and settings")
async def kinds(_: Reader) -> list[ProviderKindOut]:
    return [
        ProviderKindOut(kind=s.kind, channels=sorted(s.channels), description=s.description,
                        secret_fields=list(s.secret_field_names()),
                        settings_schema=s.settings_model.model_json_schema())
        for s in registry.SPECS.values()
    ]


@router.post("/v1/providers", status_code=201, response_model=ProviderOut, summary="Configure a provider")
async def create_provider(
    request: Request, req: ProviderCreate, session: SessionDep, state: StateDep, principal: Writer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    reservation, replay = await idempotency.begin(session, principal.workspace_id, idempotency_key,
                                                  request.url.path, req.model_dump(mode="json"))
    if replay is not None:
        return replay
    provider = await service.create(session, state.keyring, principal.workspace_id, req, principal.client_id)
    await session.flush()
    body = service.to_out(provider, state.keyring).model_dump(mode="json")
    reservation.store(201, body)
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/providers/{provider.id}"})


@router.get("/v1/providers", response_model=list[ProviderOut], summary="List providers")
async def list_providers(session: SessionDep, state: StateDep, principal: Reader) -> list[ProviderOut]:
    rows = await session.scalars(select(Provider).where(Provider.workspace_id == principal.workspace_id)
                                 .order_by(Provider.channel, Provider.priority.desc(), Provider.name))
    return [service.to_out(p, state.keyring) for p in rows]


@router.get("/v1/providers/{provider_id}", response_model=ProviderOut, summary="One provider")
async def get_provider(provider_id: ProviderId, session: SessionDep, state: StateDep, principal: Reader
                       ) -> ProviderOut:
    return service.to_out(await service.get(session, principal.workspace_id, provider_id), state.keyring)


@router.patch("/v1/providers/{provider_id}", response_model=ProviderOut, summary="Change a provider")
async def update_provider(
    provider_id: ProviderId, req: ProviderUpdate, session: SessionDep, state: StateDep, principal: Writer
) -> ProviderOut:
    provider = await service.get(session, principal.workspace_id, provider_id)
    await service.update(session, state.keyring, provider, req, principal.client_id)
    return service.to_out(provider, state.keyring)


@router.delete("/v1/providers/{provider_id}", status_code=204, summary="Remove a provider")
async def delete_provider(provider_id: ProviderId, session: SessionDep, principal: Writer) -> Response:
    provider = await service.get(session, principal.workspace_id, provider_id)
    await service.delete(session, provider, principal.client_id)
    return Response(status_code=204)


