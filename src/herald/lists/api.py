"""``/v1/lists``: contact lists, their members (added in batches) and their per-row fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import delete, select

from herald import errors, pagination
from herald.auth.tokens import Principal
from herald.contacts.models import Contact
from herald.deps import SessionDep, require, workspace_of
from herald.lists import service
from herald.lists.models import ContactList, ListMember
from herald.lists.schemas import ListIn, ListOut, ListPatch, MemberOut, MemberPage, MembersIn, MembersReport
from herald.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1/lists", tags=["lists"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("contacts:read"))]
Writer = Annotated[Principal, Depends(require("contacts:write"))]
ListRef = Annotated[str, Path(max_length=200, description="List id or name")]


@router.post("", response_model=ListOut, status_code=201, summary="Create a contact list")
async def create_list(req: ListIn, session: SessionDep, principal: Writer) -> ListOut:
    return service.to_out(await service.create(session, principal.workspace_id, req.name, req.description), 0)


@router.get("", response_model=list[ListOut], summary="The contact lists, with member counts")
async def list_lists(session: SessionDep, principal: Reader) -> list[ListOut]:
    rows = list((await session.scalars(select(ContactList).where(ContactList.workspace_id == principal.workspace_id)
                                       .order_by(ContactList.name))).all())
    counts = await service.sizes(session, [r.id for r in rows])
    return [service.to_out(r, counts.get(r.id, 0)) for r in rows]


@router.get("/{ref}", response_model=ListOut, summary="One list")
async def get_list(ref: ListRef, session: SessionDep, principal: Reader) -> ListOut:
    lst = await service.get(session, principal.workspace_id, ref)
    return service.to_out(lst, (await service.sizes(session, [lst.id])).get(lst.id, 0))


@router.patch("/{ref}", response_model=ListOut, summary="Rename or describe a list")
async def patch_list(ref: ListRef, req: ListPatch, session: SessionDep, principal: Writer) -> ListOut:
    lst = await service.get(session, principal.workspace_id, ref)
    if req.name is not None:
        await service.rename(session, lst, req.name)
    if req.description is not None:
        lst.description = req.description
    return service.to_out(lst, (await service.sizes(session, [lst.id])).get(lst.id, 0))


@router.delete("/{ref}", status_code=204, summary="Delete a list (its contacts stay)")
async def delete_list(ref: ListRef, session: SessionDep, principal: Writer) -> Response:
    await session.delete(await service.get(session, principal.workspace_id, ref))
    return Response(status_code=204)


@router.post("/{ref}/members", response_model=MembersReport, summary="Add or update members (up to 10,000 per "
             "call); contacts are upserted on `key`, bad members are reported by index")
async def add_members(ref: ListRef, req: MembersIn, session: SessionDep, principal: Writer
                      ) -> MembersReport:
    workspace = await workspace_of(session, principal)
    lst = await service.get(session, workspace.id, ref)
    return await service.add_members(session, workspace, lst, req.members, req.key)


@router.get("/{ref}/members", response_model=MemberPage, summary="A list's members in the order they were added")
async def list_members(ref: ListRef, session: SessionDep, principal: Reader,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       cursor: Annotated[str | None, Query(max_length=40)] = None) -> MemberPage:
    lst = await service.get(session, principal.workspace_id, ref)
    query = (select(ListMember, Contact).join(Contact, Contact.id == ListMember.contact_id)
             .where(ListMember.list_id == lst.id))
    if cursor:
        query = query.where(ListMember.id > pagination.after_row(cursor))
    rows = list((await session.execute(query.order_by(ListMember.id).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    data = [MemberOut(contact_id=c.id, name=c.name, email=c.email, phone=c.phone, fields=m.fields or {},
                      priority=m.priority, added_at=m.created_at) for m, c in rows]
    return MemberPage(data=data, next_cursor=str(rows[-1][0].id) if more and rows else None)


@router.delete("/{ref}/members/{contact_id}", status_code=204, summary="Remove a contact from a list")
async def remove_member(ref: ListRef, contact_id: Annotated[str, Path(max_length=64)],
                        session: SessionDep, principal: Writer) -> Response:
    lst = await service.get(session, principal.workspace_id, ref)
    result = await session.execute(delete(ListMember).where(ListMember.list_id == lst.id,
                                                            ListMember.contact_id == contact_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise errors.NotFound("That contact is not on this list.", code="member_not_found")
    return Response(status_code=204)
