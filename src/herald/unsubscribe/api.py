"""``/u/{token}``: the page behind an unsubscribe or opt-in link, and its POST (one-click for unsubscribe,
RFC 8058).

No login and no CSRF token: the signed token is the capability, and it can only withdraw (or, an opt-in link,
grant) one purpose. GET never changes anything (mail scanners and link previews follow links); POST changes,
idempotently, whatever its body (``List-Unsubscribe=One-Click`` from a mail provider, the page's button, or
nothing). Answers are HTML pages, also for a bad link (404), never problem documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from herald import errors
from herald.auth.models import Workspace
from herald.contacts import consent
from herald.contacts.models import Contact
from herald.deps import SessionDep, StateDep
from herald.unsubscribe import links

router = APIRouter(include_in_schema=False)
Token = Annotated[str, PathParam()]
"""No length limit here: a too-long token gets the 404 page from ``links.verify``, not a 422 document."""

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_LABELS = {"direct_marketing": "marketing emails", "affiliate_marketing": "offers from our partners",
           "service": "service messages"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _page(step: str, heading: str, *, status: int = 200, token: str = "", label: str = "",
          workspace: str = "") -> HTMLResponse:
    html = _ENV.get_template("page.html").render(step=step, heading=heading, token=token, label=label,
                                                 workspace=workspace)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _not_found() -> HTMLResponse:
    return _page("invalid", "This link does not work", status=404)


async def _load(session: SessionDep, claims: links.Claims, *, lock: bool) -> tuple[Workspace, Contact | None]:
    """The link's workspace (``NotFound`` when it is gone) and its contact, when still there and not erased."""
    workspace = await session.get(Workspace, claims.workspace_id)
    if workspace is None:
        raise errors.NotFound("The workspace of this link no longer exists.", code="invalid_unsubscribe_link")
    # Locked for the POST, so that two clicks at once cannot both withdraw (and audit) on PostgreSQL.
    contact = await session.get(Contact, claims.contact_id, with_for_update=lock, populate_existing=lock)
    if contact is None or contact.workspace_id != workspace.id or contact.erased_at is not None:
        return workspace, None
    return workspace, contact


@router.get("/u/{token}")
async def confirm(session: SessionDep, state: StateDep, token: Token) -> HTMLResponse:
    """Ask; change nothing."""
    try:
        claims = links.verify(state.keyring, token)
        workspace, contact = await _load(session, claims, lock=False)
    except errors.NotFound:
        return _not_found()
    label = _LABELS[claims.purpose]
    if claims.grant:
        if contact is None or consent.granted(contact.consent or {}, claims.purpose):
            return _page("subscribed", "You are subscribed", label=label, workspace=workspace.name)
        return _page("offer", f"Receive {label} from {workspace.name}?", token=token, label=label,
                     workspace=workspace.name)
    if contact is None or consent.withdrawn(contact.consent or {}, claims.purpose):
        return _page("done", "You are already unsubscribed", label=label, workspace=workspace.name)
    return _page("confirm", f"Unsubscribe from {label} from {workspace.name}?", token=token, label=label,
                 workspace=workspace.name)


@router.post("/u/{token}")
async def unsubscribe(request: Request, session: SessionDep, state: StateDep, token: Token) -> HTMLResponse:
    """Withdraw the link's purpose; a repeat, or a contact that is gone, is a 200 that changes nothing."""
    try:
        claims = links.verify(state.keyring, token)
        workspace, contact = await _load(session, claims, lock=True)
    except errors.NotFound:
        return _not_found()
    if contact is not None:
        consent.change(session, contact, claims.purpose, claims.grant,
                       source="link" if claims.grant else "unsubscribe", actor="recipient",
                       ip=request.client.host if request.client else None,
                       detail={"message_id": claims.message_id} if claims.message_id else None)
    if claims.grant:
        return _page("subscribed", "You are subscribed", label=_LABELS[claims.purpose], workspace=workspace.name)
    return _page("done", "You are unsubscribed", label=_LABELS[claims.purpose], workspace=workspace.name)
