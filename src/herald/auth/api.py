"""``POST /oauth/token``: OAuth 2.0 client credentials (RFC 6749 §4.4), form-encoded, with the client's
credentials in HTTP Basic or in the body."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from herald.auth import service, tokens
from herald.deps import SessionDep, StateDep
from herald.problems import problem

router = APIRouter(tags=["auth"])


def _oauth_error(status: int, error: str, description: str, basic: bool = False) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="herald"'} if basic else None
    # RFC 6749 clients read "error"; the rest is RFC 9457.
    return problem(status, error, description, headers=headers, error=error, error_description=description)


@router.post("/oauth/token", summary="Exchange client credentials for a Bearer token")
async def token(
    request: Request,
    session: SessionDep,
    state: StateDep,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "The Basic credentials are not valid base64.", True)
        client_id, _, client_secret = decoded.partition(":")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    if not client_id or not client_secret:
        return _oauth_error(401, "invalid_client", "Client credentials are required (Basic or body).", True)
    client = await service.authenticate_client(session, client_id, client_secret)
    if client is None:
        return _oauth_error(401, "invalid_client", "Unknown client or wrong secret.", True)
    granted = list(client.scopes)
    if scope:
        asked = scope.split()
        extra = sorted(set(asked) - set(granted))
        if extra:
            return _oauth_error(400, "invalid_scope", f"This client may not ask for: {' '.join(extra)}")
        granted = asked
    ttl = state.settings.token_ttl_seconds
    access = tokens.issue(state.keyring, workspace_id=client.workspace_id, client_id=client.id,
                          scopes=granted, ttl=ttl)
    body = {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "scope": " ".join(granted)}
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
