"""Short-lived Bearer tokens (JWT, HS256) for API clients, verified without a database round trip."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from herald import errors
from herald.crypto import Keyring

ISSUER = "herald"


@dataclass(frozen=True, slots=True)
class Principal:
    workspace_id: str
    client_id: str
    scopes: frozenset[str]


def issue(keyring: Keyring, *, workspace_id: str, client_id: str, scopes: list[str], ttl: int) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": client_id, "ws": workspace_id, "scope": " ".join(scopes),
              "iat": now, "exp": now + ttl}
    return jwt.encode(claims, keyring.token_key, algorithm="HS256")


def verify(keyring: Keyring, token: str) -> Principal:
    last: Exception | None = None
    for key in (keyring.token_key, *keyring.old_token_keys):
        try:
            claims = jwt.decode(token, key, algorithms=["HS256"], issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "ws"]})
        except jwt.ExpiredSignatureError as exc:
            raise errors.NotAuthenticated("The access token has expired; request a new one.",
                                          code="token_expired") from exc
        except jwt.InvalidTokenError as exc:
            last = exc
            continue
        return Principal(claims["ws"], claims["sub"], frozenset(claims.get("scope", "").split()))
    raise errors.NotAuthenticated("The access token is not valid.", code="invalid_token") from last
