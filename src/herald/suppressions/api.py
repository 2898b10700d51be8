"""``/v1/suppressions`` (the workspace suppression list, and "is this address blocked, and why?") and
``/v1/dnc-lists`` (named do-not-contact lists and their entries)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select

from herald import errors, ids, pagination
from herald.auth.tokens import Principal
from herald.contacts.api import client_ip
from herald.deps import SessionDep, require, workspace_of
from herald.pipeline.policy import Entry
from herald.problems import COMMON_RESPONSES
from herald.redact import mask_address
from herald.suppressions import service
from herald.suppressions.models import DNC, DncList, Suppression
from herald.suppressions.schemas import (
    AddReport,
    CheckOut,
    DncListIn,
    DncListOut,
    DncListPatch,
    EntriesIn,
    EntryIn,
    EntryOut,
    EntryPage,
)

router = APIRouter(tags=["suppressions"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("suppressions:read"))]
Writer = Annotated[Principal, Depends(require("suppressions:write"))]
ListRef = Annotated[str, Path(max_length=200, description="DNC list id or name")]
AddressQ = Annotated[str, Query(min_length=1, max_length=320)]
ChannelQ = Annotated[str | None, Query(max_length=20)]


def _entry_out(e: Entry) -> EntryOut:
    return EntryOut(list_id=e.list_id, list_name=e.list_name, list_kind=e.list_kind, channel=e.channel,
                    address=e.address, scope=e.scope, source=e.source, reason=e.reason, created_at=e.at)


async def _add(request: Request, session: SessionDep, principal: Principal, target: DncList,
               entries: list[EntryIn], source: str) -> AddReport:
    workspace = await workspace_of(session, principal)
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, object]] = []
    for index, entry in enumerate(entries):
        try:
            parsed = service.parse_address(entry.address, entry.channel, workspace.default_region)
        except errors.Invalid as exc:
            failed.append({"index": index, "code": exc.code, "message": exc.detail})
            continue
        rows.append({"channel": parsed.channel, "address": parsed.key, "scope": entry.scope, "reason": entry.reason})
    if failed and len(entries) == 1:
        raise errors.Invalid(str(failed[0]["message"]), code=str(failed[0]["code"]), field="address")
    added, present = await service.add(session, target, rows, source=source, actor=principal.client_id)
    detail: dict[str, Any] = {"added": added}
    if len(rows) == 1:
        detail["address"] = mask_address(rows[0]["address"])
    service.audit_entries(session, target, principal.client_id, "suppression.added", detail, client_ip(request))
    return AddReport(added=added, already_present=present, failed=failed)


@router.get("/v1/suppressions", response_model=CheckOut | EntryPage,
            summary="Is this address blocked, and why (every list)? Without an address: the workspace list")
async def check_or_list(
    session: SessionDep, principal: Reader,
    address: Annotated[str | None, Query(max_length=320)] = None, channel: ChannelQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> CheckOut | EntryPage:
    workspace = await workspace_of(session, principal)
    if address is None:
        target = await service.workspace_list(session, workspace.id)
        return await _page(session, target, limit, cursor)
    parsed = service.parse_address(address, channel, workspace.default_region)
    entries, blocked = await service.check(session, workspace.id, parsed)
    return CheckOut(address=parsed.key, channel=parsed.channel, blocked=bool(blocked), blocked_for=blocked,
                    entries=[_entry_out(e) for e in entries])


@router.post("/v1/suppressions", response_model=AddReport, status_code=201,
             summary="Add addresses to the workspace suppression list")
async def add_suppressions(request: Request, req: EntriesIn, session: SessionDep, principal: Writer) -> AddReport:
    target = await service.workspace_list(session, principal.workspace_id)
    return await _add(request, session, principal, target, req.entries, "manual")


@router.delete("/v1/suppressions", status_code=204, summary="Lift an address from the workspace suppression list")
async def lift_suppression(request: Request, session: SessionDep, principal: Writer, address: AddressQ,
                           channel: ChannelQ = None) -> Response:
    workspace = await workspace_of(session, principal)
    parsed = service.parse_address(address, channel, workspace.default_region)
    target = await service.workspace_list(session, workspace.id)
    if not await service.lift(session, target, parsed):
        raise errors.NotFound("That address is not on the suppression list.", code="suppression_not_found")
    service.audit_entries(session, target, principal.client_id, "suppression.lifted",
                          {"address": mask_address(parsed.key), "channel": parsed.channel}, client_ip(request))
    return Response(status_code=204)


async def _page(session: SessionDep, target: DncList, limit: int, cursor: str | None) -> EntryPage:
    query = select(Suppression).where(Suppression.list_id == target.id)
    if cursor:
        query = query.where(Suppression.id < pagination.after_row(cursor))
    rows = list((await session.scalars(query.order_by(Suppression.id.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    data = [EntryOut(list_id=target.id, list_name=target.name, list_kind=target.kind, channel=s.channel,
                     address=s.address, scope=s.scope, source=s.source, reason=s.reason, created_by=s.created_by,
                     created_at=s.created_at) for s in rows]
    return EntryPage(data=data, next_cursor=str(rows[-1].id) if more and rows else None)


def _list_out(d: DncList, entries: int) -> DncListOut:
    return DncListOut(id=d.id, name=d.name, kind=d.kind, description=d.description, always=d.always,
                      entries=entries, created_at=d.created_at)


async def _name_free(session: SessionDep, workspace_id: str, name: str) -> None:
    taken = await session.scalar(select(DncList.id).where(DncList.workspace_id == workspace_id, DncList.name == name))
    if taken:
        raise errors.Conflict(f"A list named {name!r} exists already.", code="dnc_list_name_taken", field="name")


@router.post("/v1/dnc-lists", response_model=DncListOut, status_code=201, summary="Create a do-not-contact list")
async def create_list(request: Request, req: DncListIn, session: SessionDep, principal: Writer) -> DncListOut:
    await _name_free(session, principal.workspace_id, req.name)
    made = DncList(id=ids.new_id("dnc"), workspace_id=principal.workspace_id, name=req.name, kind=DNC,
                   description=req.description, always=req.always)
    session.add(made)
    await session.flush()
    service.audit_entries(session, made, principal.client_id, "dnc_list.created", {"always": req.always},
                          client_ip(request))
    return _list_out(made, 0)


@router.get("/v1/dnc-lists", response_model=list[DncListOut], summary="The do-not-contact lists")
async def list_lists(session: SessionDep, principal: Reader) -> list[DncListOut]:
    await service.workspace_list(session, principal.workspace_id)
    rows = list((await session.scalars(select(DncList).where(DncList.workspace_id == principal.workspace_id)
                                       .order_by(DncList.kind.desc(), DncList.name))).all())
    sizes = await service.counts(session, [d.id for d in rows])
    return [_list_out(d, sizes.get(d.id, 0)) for d in rows]


@router.get("/v1/dnc-lists/{ref}", response_model=DncListOut, summary="One do-not-contact list")
async def get_list(ref: ListRef, session: SessionDep, principal: Reader) -> DncListOut:
    target = await service.get_list(session, principal.workspace_id, ref)
    return _list_out(target, (await service.counts(session, [target.id])).get(target.id, 0))


@router.patch("/v1/dnc-lists/{ref}", response_model=DncListOut, summary="Rename or re-scope a list")
async def patch_list(request: Request, ref: ListRef, req: DncListPatch, session: SessionDep, principal: Writer
                     ) -> DncListOut:
    target = await service.get_list(session, principal.workspace_id, ref)
    changes = req.model_dump(exclude_unset=True, exclude_none=True)
    if changes.get("name", target.name) != target.name:
        await _name_free(session, principal.workspace_id, changes["name"])
    for name, value in changes.items():
        setattr(target, name, value)
    service.audit_entries(session, target, principal.client_id, "dnc_list.updated", changes, client_ip(request))
    return _list_out(target, (await service.counts(session, [target.id])).get(target.id, 0))


@router.delete("/v1/dnc-lists/{ref}", status_code=204, summary="Delete a list and its entries")
async def delete_list(request: Request, ref: ListRef, session: SessionDep, principal: Writer) -> Response:
    target = await service.get_list(session, principal.workspace_id, ref)
    service.audit_entries(session, target, principal.client_id, "dnc_list.deleted", {}, client_ip(request))
    await session.delete(target)
    return Response(status_code=204)


@router.post("/v1/dnc-lists/{ref}/entries", response_model=AddReport, status_code=201,
             summary="Add addresses to a list (up to 10,000 per call)")
async def add_entries(request: Request, ref: ListRef, req: EntriesIn, session: SessionDep, principal: Writer
                      ) -> AddReport:
    target = await service.get_list(session, principal.workspace_id, ref)
    return await _add(request, session, principal, target, req.entries, "api")


@router.get("/v1/dnc-lists/{ref}/entries", response_model=EntryPage, summary="A list's entries, newest first")
async def list_entries(ref: ListRef, session: SessionDep, principal: Reader,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       cursor: Annotated[str | None, Query(max_length=40)] = None) -> EntryPage:
    return await _page(session, await service.get_list(session, principal.workspace_id, ref), limit, cursor)


@router.delete("/v1/dnc-lists/{ref}/entries", status_code=204, summary="Remove an address from a list")
async def remove_entry(request: Request, ref: ListRef, session: SessionDep, principal: Writer, address: AddressQ,
                       channel: ChannelQ = None) -> Response:
    workspace = await workspace_of(session, principal)
    target = await service.get_list(session, workspace.id, ref)
    parsed = service.parse_address(address, channel, workspace.default_region)
    if not await service.lift(session, target, parsed):
        raise errors.NotFound("That address is not on this list.", code="suppression_not_found")
    service.audit_entries(session, target, principal.client_id, "suppression.lifted",
                          {"address": mask_address(parsed.key), "channel": parsed.channel}, client_ip(request))
    return Response(status_code=204)
