"""The console's audience pages: lists, do-not-contact lists and imports (upload a CSV, watch it run, read the
failed rows), contacts (search, and one contact's consent, lists, suppressions and messages), and "is this
address blocked, and why?". They use the same services as the API and show only the user's workspace."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from sqlalchemy import func, or_, select
from starlette.responses import RedirectResponse, Response, StreamingResponse

from herald import csvsafe, errors
from herald.auth.models import Workspace
from herald.console import routes, views
from herald.contacts import fields
from herald.contacts import service as contacts
from herald.contacts.models import Contact
from herald.deps import SessionDep, StateDep
from herald.imports import service as imports
from herald.imports.models import COMPLETED, FAILED, Import
from herald.lists import service as lists
from herald.lists.models import ContactList, ListMember
from herald.messages.models import Message
from herald.suppressions import service as suppressions
from herald.suppressions.models import DncList

router = APIRouter(route_class=routes.ConsoleRoute, include_in_schema=False)
FAILURES_SHOWN = 100


async def _workspace(session: SessionDep, signed: routes.Signed) -> Workspace:
    workspace = await session.get(Workspace, signed.user.workspace_id)
    if workspace is None:
        raise routes.LoginRequired
    return workspace


@router.get("/console/audience")
async def audience(session: SessionDep, signed: routes.SignedDep,
                   address: Annotated[str | None, Query(max_length=320)] = None) -> Response:
    workspace_id = signed.user.workspace_id
    all_lists = list((await session.scalars(select(ContactList).where(ContactList.workspace_id == workspace_id)
                                            .order_by(ContactList.name))).all())
    members = await lists.sizes(session, [x.id for x in all_lists])
    await suppressions.workspace_list(session, workspace_id)
    dnc = list((await session.scalars(select(DncList).where(DncList.workspace_id == workspace_id)
                                      .order_by(DncList.kind.desc(), DncList.name))).all())
    entries = await suppressions.counts(session, [d.id for d in dnc])
    recent = (await session.scalars(select(Import).where(Import.workspace_id == workspace_id)
                                    .order_by(Import.id.desc()).limit(10))).all()
    check: dict[str, Any] | None = None
    if address:
        try:
            parsed = suppressions.parse_address(address, None, (await _workspace(session, signed)).default_region)
            found, blocked = await suppressions.check(session, workspace_id, parsed)
            check = {"address": parsed.key, "blocked": blocked, "entries": found, "error": None}
        except errors.Invalid as exc:
            check = {"address": address, "blocked": [], "entries": [], "error": exc.detail}
    return views.render("audience.html", routes._page(
        signed, "audience", lists=[(x, members.get(x.id, 0)) for x in all_lists],
        dnc=[(d, entries.get(d.id, 0)) for d in dnc], imports=recent, check=check, address=address or ""))


@router.post("/console/audience/imports")
async def upload(
    request: Request, session: SessionDep, state: StateDep, signed: routes.SignedDep,
    file: Annotated[UploadFile, File()], csrf: routes.CsrfForm = "",
    list_name: Annotated[str, Form(max_length=200)] = "",
    region: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    routes._require_sender(signed)
    routes._check_csrf(state, signed, csrf)
    name = list_name.strip()
    if not name:
        return views.render("error.html", routes._page(signed, "audience", title="No list named",
                                                        detail="Choose or name the list to import into."), status=422)
    workspace_id, actor = signed.user.workspace_id, signed.user.email

    async def body() -> AsyncIterator[bytes]:
        while block := await file.read(imports.CHUNK_BYTES):
            yield block

    try:
        async with session.begin_nested():  # a refused file leaves nothing behind, not even a new list
            target = await session.scalar(select(ContactList).where(ContactList.workspace_id == workspace_id,
                                                                    ContactList.name == name))
            if target is None:
                target = await lists.create(session, workspace_id, name, None)
            imp = await imports.create(session, workspace_id, body(), actor=actor,
                                       max_bytes=state.settings.max_import_bytes, filename=file.filename,
                                       contact_list=target, region=region.strip() or None)
    except errors.HeraldError as exc:
        return views.render("error.html", routes._page(signed, "audience", title="The file was not imported",
                                                        detail=exc.detail), status=422)
    request.state.after_commit = state.wake_dispatcher
    return RedirectResponse(f"/console/imports/{imp.id}", status_code=303)


async def _import(session: SessionDep, signed: routes.Signed, import_id: str) -> Import:
    return await imports.get(session, signed.user.workspace_id, import_id)


@router.get("/console/imports/{import_id}")
async def import_page(session: SessionDep, signed: routes.SignedDep,
                      import_id: Annotated[str, Path(max_length=64)]) -> Response:
    imp = await _import(session, signed, import_id)
    return views.render("import.html", routes._page(signed, "audience", **await _import_context(session, imp)))


@router.get("/console/fragments/imports/{import_id}")
async def import_fragment(session: SessionDep, signed: routes.SignedDep,
                          import_id: Annotated[str, Path(max_length=64)]) -> Response:
    imp = await _import(session, signed, import_id)
    return views.render("_import.html", routes._page(signed, "audience", **await _import_context(session, imp)))


async def _import_context(session: SessionDep, imp: Import) -> dict[str, Any]:
    target = await session.get(ContactList, imp.list_id) if imp.list_id else None
    shown = await imports.failures(session, imp.id, limit=FAILURES_SHOWN)
    return {"imp": imp, "target": target, "failures": shown, "done": imp.state in (COMPLETED, FAILED)}


@router.get("/console/imports/{import_id}/failures.csv")
async def import_failures(session: SessionDep, signed: routes.SignedDep,
                          import_id: Annotated[str, Path(max_length=64)]) -> Response:
    imp = await _import(session, signed, import_id)
    rows = await imports.failures(session, imp.id)
    return StreamingResponse(csvsafe.rows(["row", "code", "reason"], ([f.row_number, f.code, f.reason] for f in rows)),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{imp.id}-failures.csv"'})


@router.get("/console/contacts")
async def contact_list(session: SessionDep, signed: routes.SignedDep,
                       q: Annotated[str | None, Query(max_length=320)] = None) -> Response:
    workspace = await _workspace(session, signed)
    query = select(Contact).where(Contact.workspace_id == workspace.id)
    text = (q or "").strip()
    if text:
        wanted = [Contact.external_id == text, Contact.email == text.lower()]
        with contextlib.suppress(errors.Invalid):  # not a phone number: match the other fields only
            wanted.append(Contact.phone == fields.clean({"phone": text}, workspace.default_region).values["phone"])
        query = query.where(or_(*wanted))
    rows = (await session.scalars(query.order_by(Contact.id.desc()).limit(routes.PAGE_SIZE))).all()
    total = await session.scalar(select(func.count()).select_from(Contact).where(Contact.workspace_id == workspace.id))
    return views.render("contacts.html", routes._page(signed, "contacts", contacts=rows, q=text, total=total or 0))


@router.get("/console/contacts/{contact_id}")
async def contact_detail(session: SessionDep, signed: routes.SignedDep,
                         contact_id: Annotated[str, Path(max_length=64)]) -> Response:
    contact = await contacts.get(session, signed.user.workspace_id, contact_id)
    memberships = (await session.execute(select(ContactList.name, ListMember.fields, ListMember.priority)
                                         .join(ListMember, ListMember.list_id == ContactList.id)
                                         .where(ListMember.contact_id == contact.id))).all()
    blocks = []
    for channel, address in (("sms", contact.phone), ("email", contact.email)):
        if address:
            found, _ = await suppressions.check(session, contact.workspace_id,
                                                suppressions.Address(channel, address))
            blocks.extend(found)
    recent = (await session.scalars(select(Message).where(Message.contact_id == contact.id)
                                    .order_by(Message.id.desc()).limit(20))).all()
    return views.render("contact.html", routes._page(signed, "contacts", contact=contact, memberships=memberships,
                                                     blocks=blocks, messages=recent))
