"""``/v1/contacts``: upsert, look up, change, consent, and the privacy rights (export, erase)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from herald import errors, idempotency
from herald.auth.tokens import Principal
from herald.contacts import consent, fields, privacy, service
from herald.contacts.schemas import ConsentChange, ContactIn, ContactOut, ContactPage, ContactPatch
from herald.deps import SessionDep, require, workspace_of
from herald.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1/contacts", tags=["contacts"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("contacts:read"))]
Writer = Annotated[Principal, Depends(require("contacts:write"))]
ContactId = Annotated[str, Path(max_length=64)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("", response_model=ContactOut, status_code=201, summary="Create a contact, or update the one "
             "holding this external_id", responses={200: {"description": "Updated (or unchanged)"}})
async def upsert_contact(
    request: Request, req: ContactIn, session: SessionDep, principal: Writer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    reservation, replay = await idempotency.begin(session, principal.workspace_id, idempotency_key,
                                                  request.url.path, req.model_dump(mode="json"))
    if replay is not None:
        return replay
    contact, status = await service.upsert(session, await workspace_of(session, principal), req)
    if req.consent:
        service.audit_change(session, contact, principal.client_id, f"contact.{status}", client_ip(request),
                             {"consent_stated": {k: v for k, v in req.consent.items() if v is not None}})
    body = service.to_out(contact).model_dump(mode="json")
    code = 201 if status == "created" else 200
    reservation.store(code, body)
    return JSONResponse(body, status_code=code, headers={"Location": f"/v1/contacts/{contact.id}"})


@router.get("", response_model=ContactPage, summary="List or look up contacts, newest first")
async def list_contacts(
    session: SessionDep, principal: Reader,
    external_id: Annotated[str | None, Query(max_length=200)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    workspace = await workspace_of(session, principal)
    stated = {"email": email, "phone": phone}
    wanted = {k: v for k, v in stated.items() if v}
    normalized = fields.clean(wanted, workspace.default_region).values if wanted else {}
    rows, next_cursor = await service.page(session, principal.workspace_id, limit=limit, cursor=cursor,
                                           filters={"external_id": external_id, **normalized})
    return {"data": [service.to_out(c).model_dump(mode="json") for c in rows], "next_cursor": next_cursor}


@router.get("/{contact_id}", response_model=ContactOut, summary="One contact")
async def get_contact(contact_id: ContactId, session: SessionDep, principal: Reader) -> ContactOut:
    return service.to_out(await service.get(session, principal.workspace_id, contact_id))


@router.patch("/{contact_id}", response_model=ContactOut, summary="Change a contact's fields")
async def patch_contact(contact_id: ContactId, req: ContactPatch, session: SessionDep, principal: Writer
                        ) -> ContactOut:
    contact = await service.get(session, principal.workspace_id, contact_id)
    await service.update(session, await workspace_of(session, principal), contact, req)
    return service.to_out(contact)


@router.put("/{contact_id}/consent", response_model=ContactOut, summary="Grant or withdraw consent per purpose "
            "(audited with source, actor, time and IP)")
async def put_consent(request: Request, contact_id: ContactId, req: ConsentChange, session: SessionDep,
                      principal: Writer) -> ContactOut:
    contact = await service.get(session, principal.workspace_id, contact_id)
    if contact.erased_at is not None:
        raise errors.Conflict("This contact was erased; it cannot be changed.", code="contact_erased")
    for purpose in req.purposes:
        consent.check_purpose(purpose)
    for purpose, granted in req.purposes.items():
        consent.change(session, contact, purpose, granted, source=req.source, actor=principal.client_id,
                       ip=client_ip(request))
    return service.to_out(contact)


@router.get("/{contact_id}/export", summary="Everything Herald holds about this contact (privacy export)")
async def export_contact(request: Request, contact_id: ContactId, session: SessionDep, principal: Reader
                         ) -> dict[str, Any]:
    contact = await service.get(session, principal.workspace_id, contact_id)
    data = await privacy.export(session, contact)
    service.audit_change(session, contact, principal.client_id, "contact.exported", client_ip(request))
    return data


@router.post("/{contact_id}/erase", response_model=ContactOut, summary="Erase the contact's personal data "
             "(messages and counts are kept, anonymised; waiting messages are cancelled)")
async def erase_contact(request: Request, contact_id: ContactId, session: SessionDep, principal: Writer
                        ) -> ContactOut:
    contact = await service.get(session, principal.workspace_id, contact_id)
    if contact.erased_at is None:
        cancelled = await privacy.erase(session, contact)
        service.audit_change(session, contact, principal.client_id, "contact.erased", client_ip(request),
                             {"cancelled_messages": cancelled})
    return service.to_out(contact)
