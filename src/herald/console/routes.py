"""The console's pages: sign-in, dashboard, messages, providers and a test send.

Every page works over the same services as the API (``messages.service``, ``providers.service``) and only
ever shows the signed-in user's workspace. Errors become HTML pages here (see :class:`ConsoleRoute`), not
the API's problem documents."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from herald import errors
from herald.auth import passwords
from herald.auth.models import ConsoleUser, Workspace
from herald.console import session as cs
from herald.console import views
from herald.deps import SessionDep, StateDep
from herald.messages import service as messages
from herald.messages.api import timeline
from herald.messages.filters import Filter
from herald.messages.schemas import MessageCreate
from herald.providers import service as providers
from herald.providers.models import Provider

log = structlog.get_logger(__name__)

LOGIN = "/console/login"
HOME = "/console"
PAGE_SIZE = 50
SENDERS = ("admin", "editor")
SEND_CHANNELS = ("sms", "email")
SEND_FIELDS = ("channel", "to", "body", "subject", "text")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


class LoginRequired(Exception):
    """No valid session: pages answer a redirect to the sign-in form."""


class CsrfFailed(Exception):
    """A POST without the CSRF token of the caller's session (or login form)."""


@dataclass(frozen=True)
class Signed:
    """The signed-in user of a request, with the CSRF token its forms must carry."""

    user: ConsoleUser
    session: cs.Session
    csrf: str

    @property
    def can_send(self) -> bool:
        return self.user.role in SENDERS


def _harden(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    signed = getattr(request.state, "console_signed", None)
    return views.render("error.html", {"signed": signed, "nav": "", "title": title, "detail": detail},
                        status=status)


def _safe_next(value: str | None) -> str:
    """Only our own console paths are followed after sign-in (no open redirect)."""
    if value and (value == HOME or value.startswith(HOME + "/")) and "//" not in value and "\\" not in value:
        return value
    return HOME


class ConsoleRoute(APIRoute):
    """Turns sign-in, permission and not-found errors into HTML answers and adds security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except LoginRequired:
                if request.headers.get("hx-request"):
                    response = Response(status_code=401, headers={"HX-Redirect": LOGIN})
                else:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    query = "" if target == HOME else "?" + urlencode({"next": target})
                    response = RedirectResponse(LOGIN + query, status_code=303)
            except CsrfFailed:
                response = _error_page(request, 403, "Form expired",
                                       "The form was missing its security token or it did not match your "
                                       "session. Go back, reload the page and try again.")
            except errors.NotPermitted as exc:
                response = _error_page(request, 403, "Not allowed", exc.detail)
            except errors.NotFound as exc:
                response = _error_page(request, 404, "Not found", exc.detail)
            return _harden(response)

        return handler


router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


async def _signed(request: Request, session: SessionDep, state: StateDep) -> Signed:
    sess = cs.verify(state.keyring, request.cookies.get(cs.SESSION_COOKIE))
    if sess is None or cs.console_state(request).is_revoked(sess):
        raise LoginRequired
    user = await session.get(ConsoleUser, sess.user_id)
    if user is None or user.workspace_id != sess.workspace_id:
        raise LoginRequired
    signed = Signed(user, sess, cs.csrf_token(state.keyring, "session", sess.sid))
    request.state.console_signed = signed
    return signed


SignedDep = Annotated[Signed, Depends(_signed)]
CsrfForm = Annotated[str, Form(alias=cs.CSRF_FIELD)]


def _check_csrf(state: StateDep, signed: Signed, submitted: str) -> None:
    if not cs.csrf_ok(state.keyring, "session", signed.session.sid, submitted):
        raise CsrfFailed


def _page(signed: Signed, nav: str, **context: Any) -> dict[str, Any]:
    return {"signed": signed, "nav": nav, **context}


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


# -- sign-in ------------------------------------------------------------------------------------------------

def _login_form(request: Request, state: StateDep, *, email: str = "", error: str | None = None,
                next_: str = HOME, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    nonce, fresh = cs.login_nonce(request)
    response = views.render("login.html", {
        "signed": None, "nav": "", "email": email, "error": error, "next": _safe_next(next_),
        "csrf": cs.csrf_token(state.keyring, "login", nonce),
    }, status=status, headers=headers)
    if fresh:
        cs.set_login_cookie(response, request, nonce)
    return response


@router.get("/console/login")
async def login_page(request: Request, state: StateDep,
                     next_: Annotated[str, Query(alias="next", max_length=500)] = HOME) -> Response:
    sess = cs.verify(state.keyring, request.cookies.get(cs.SESSION_COOKIE))
    if sess is not None and not cs.console_state(request).is_revoked(sess):
        return RedirectResponse(_safe_next(next_), status_code=303)
    cs.dummy_hash()  # computed once per process now, so no sign-in attempt pays for it (a timing tell)
    return _login_form(request, state, next_=next_)


@router.post("/console/login")
async def login(
    request: Request, session: SessionDep, state: StateDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: CsrfForm = "",
    next_: Annotated[str, Form(alias="next", max_length=500)] = HOME,
) -> Response:
    if not cs.csrf_ok(state.keyring, "login", request.cookies.get(cs.LOGIN_COOKIE), csrf):
        raise CsrfFailed
    address = email.strip().lower()
    throttle = cs.console_state(request).throttle
    wait = throttle.retry_after(address)
    if wait > 0:
        log.warning("console.login_throttled")
        minutes = max(1, round(wait / 60))
        return _login_form(request, state, email=email, next_=next_, status=429,
                           headers={"Retry-After": str(int(wait) + 1)},
                           error=f"Too many failed sign-ins for this email. Try again in about {minutes} "
                                 f"minute{'s' if minutes != 1 else ''}.")
    user = await session.scalar(select(ConsoleUser).where(ConsoleUser.email == address)) if address else None
    # Verify against a dummy hash when the email is unknown: the same work, so timing tells nothing.
    ok = passwords.verify_secret(password, user.password_hash if user else cs.dummy_hash())
    if user is None or not ok:
        throttle.failed(address)
        log.info("console.login_failed")
        return _login_form(request, state, email=email, next_=next_, status=400,
                           error="Wrong email or password.")
    throttle.succeeded(address)
    token, _ = cs.issue(state.keyring, user_id=user.id, workspace_id=user.workspace_id)
    log.info("console.login", user_id=user.id, workspace_id=user.workspace_id)
    response = RedirectResponse(_safe_next(next_), status_code=303)
    cs.set_session_cookie(response, request, token)
    cs.clear_login_cookie(response, request)
    return response


@router.post("/console/logout")
async def logout(request: Request, state: StateDep, signed: SignedDep, csrf: CsrfForm = "") -> Response:
    _check_csrf(state, signed, csrf)
    cs.console_state(request).revoke(signed.session)
    log.info("console.logout", user_id=signed.user.id)
    response = RedirectResponse(LOGIN, status_code=303)
    cs.clear_session_cookie(response, request)
    return response


# -- dashboard ----------------------------------------------------------------------------------------------

async def _dashboard_context(session: SessionDep, signed: Signed) -> dict[str, Any]:
    ws = signed.user.workspace_id
    stats = await views.dashboard_stats(session, ws)
    newest, _ = await messages.page(session, ws, Filter(), limit=20, cursor=None)
    return _page(signed, "dashboard", stats=stats, newest=newest,
                 providers=await views.provider_names(session, ws))


@router.get("/console")
async def dashboard(session: SessionDep, signed: SignedDep) -> Response:
    return views.render("dashboard.html", await _dashboard_context(session, signed))


@router.get("/console/fragments/dashboard")
async def dashboard_fragment(session: SessionDep, signed: SignedDep) -> Response:
    """The live part of the dashboard, polled by htmx."""
    return views.render("_dashboard.html", await _dashboard_context(session, signed))


# -- messages (the list and its export: console/interactions.py) ----------------------------------------------

@router.get("/console/messages/{message_id}")
async def message_detail(
    session: SessionDep, signed: SignedDep, message_id: Annotated[str, Path(max_length=64)],
) -> Response:
    message = await messages.get(session, signed.user.workspace_id, message_id)
    events, attempts = await messages.history(session, message.id)
    content = await messages.content_of(session, message.id)
    return views.render("message.html", _page(
        signed, "messages", message=message, content=content, timeline=timeline(events, attempts),
        attempts=attempts, providers=await views.provider_names(session, signed.user.workspace_id),
    ))


# -- providers ----------------------------------------------------------------------------------------------

@router.get("/console/providers")
async def provider_list(session: SessionDep, state: StateDep, signed: SignedDep) -> Response:
    rows = await session.scalars(select(Provider).where(Provider.workspace_id == signed.user.workspace_id)
                                 .order_by(Provider.channel, Provider.priority.desc(), Provider.name))
    out = [providers.to_out(p, state.keyring) for p in rows]
    return views.render("providers.html", _page(signed, "providers", providers=out))


# -- test send ----------------------------------------------------------------------------------------------

def _require_sender(signed: Signed) -> None:
    if not signed.can_send:
        raise errors.NotPermitted(f"Your role ({signed.user.role}) may look but not send; an admin or editor "
                                  "can send test messages.")


def _send_form(signed: Signed, values: dict[str, str], *, error: str | None = None,
               field: str | None = None, status: int = 200) -> Response:
    return views.render("send.html", _page(signed, "send", values=values, error=error, field=field,
                                           channels=SEND_CHANNELS), status=status)


@router.get("/console/send")
async def send_page(signed: SignedDep) -> Response:
    _require_sender(signed)
    return _send_form(signed, {"channel": "sms", "to": "", "body": "", "subject": "", "text": ""})


@router.post("/console/send")
async def send(
    request: Request, session: SessionDep, state: StateDep, signed: SignedDep,
    csrf: CsrfForm = "",
    channel: Annotated[str, Form(max_length=20)] = "sms",
    to: Annotated[str, Form(max_length=1000)] = "",
    body: Annotated[str, Form(max_length=20_000)] = "",
    subject: Annotated[str, Form(max_length=2000)] = "",
    text: Annotated[str, Form(max_length=200_000)] = "",
) -> Response:
    _require_sender(signed)
    _check_csrf(state, signed, csrf)
    values = {"channel": channel, "to": to, "body": body, "subject": subject, "text": text}
    parts: dict[str, Any] = ({"body": body or None} if channel == "sms"
                             else {"subject": subject or None, "text": text or None})
    try:
        req = MessageCreate(channel=channel, to=to.strip(), **parts)
        workspace = await session.get(Workspace, signed.user.workspace_id)
        if workspace is None:
            raise LoginRequired
        message = await messages.create(session, workspace, req, renderer=state.renderer,
                                        sms_max_segments=state.settings.sms_max_segments)
        await session.flush()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first.get("loc") else None
        return _send_form(signed, values, error=f"{where}: {first['msg']}" if where else first["msg"],
                          field=where, status=422)
    except errors.HeraldError as exc:
        return _send_form(signed, values, error=exc.detail, field=_form_field(exc.field), status=422)
    log.info("console.test_send", user_id=signed.user.id, message_id=message.id, channel=channel)
    request.state.after_commit = state.wake_dispatcher
    return RedirectResponse(f"/console/messages/{message.id}", status_code=303)


def _form_field(name: str | None) -> str | None:
    """The form input a service error belongs to (``html`` errors are shown at the email text)."""
    if name == "html":
        return "text"
    return name if name in SEND_FIELDS else None
