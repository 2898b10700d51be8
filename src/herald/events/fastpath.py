"""``POST /v1/events`` without the framework, when nothing about the request is unusual.

The busiest route of all does little work of its own: check the token, parse one small JSON body, hand the
event to the group commit (:mod:`herald.events.coalesce`) and answer. Going through FastAPI's middleware,
routing, dependency solving and body handling cost about as much CPU as storing the event. This ASGI
middleware, outermost in the stack, serves such a request itself: a Bearer token that verifies and holds
``events:write``, a JSON body within the size limit that parses as :class:`EventIn`, and an answer or a Herald
error from the group commit.

Anything else (no or a bad token, a missing scope, another content type, a body that is too large, not JSON
or not a valid event) goes to the app unchanged, with the body it already read handed on, so every refusal
is the app's own problem+json, word for word. An error raised while storing the event is answered by the
app's own exception handlers (:mod:`herald.problems`), so it is the same too."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald import errors
from herald.auth import tokens
from herald.deps import AppState, bearer
from herald.events.coalesce import coalescer
from herald.events.schemas import EventIn

PATH = "/v1/events"
SCOPE = "events:write"


class EventFastPath:
    def __init__(self, app: ASGIApp, owner: Any, max_bytes: int) -> None:
        self.app = app
        self.owner = owner  # the FastAPI app: its state and exception handlers
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        state: AppState | None = getattr(self.owner.state, "herald", None)
        principal = _principal(state, headers.get(b"authorization", b""))
        declared = headers.get(b"content-length", b"")
        if (state is None or principal is None or not declared.isdigit() or int(declared) > self.max_bytes
                or not headers.get(b"content-type", b"").startswith(b"application/json")):
            await self.app(scope, receive, send)
            return
        body, messages = await _read(receive)
        item = _event(body)
        if item is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        try:
            out = await coalescer(state).submit(principal, item)
        except Exception as exc:  # answered as the app answers it (problem+json), and logged there
            response = await self._handled(scope, receive, exc)
        else:
            response = JSONResponse(out, status_code=200 if out["duplicate"] else 202,
                                    headers={"Location": f"{PATH}/{out['id']}"})
        await response(scope, receive, send)

    async def _handled(self, scope: Scope, receive: Receive, exc: Exception) -> Any:
        handlers = self.owner.exception_handlers
        handler = next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)
        return await handler(Request(scope, receive), exc)


def _principal(state: AppState | None, header: bytes) -> tokens.Principal | None:
    token = bearer(header.decode("latin-1"))
    if state is None or token is None:
        return None
    try:
        principal = tokens.verify(state.keyring, token)
    except errors.HeraldError:
        return None
    return principal if SCOPE in principal.scopes else None


async def _read(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body (its size was declared and is within the limit), and the messages it came in."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request"), messages


def _event(body: bytes) -> EventIn | None:
    try:
        return EventIn.model_validate(json.loads(body))  # as FastAPI reads a JSON body: parse, then validate
    except (ValueError, ValidationError):
        return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` for the app: the messages already read, then the connection's own."""
    pending = list(messages)

    async def again() -> Message:
        return pending.pop(0) if pending else await receive()

    return again
