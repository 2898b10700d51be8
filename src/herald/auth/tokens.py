"""Short-lived Bearer tokens (JWT, HS256) for API clients, verified without a database round trip."""

from __future__ import annotations

import time
import weakref
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
    """The token's principal, or 401. A client sends the same token with every request until it expires, and
    checking it (base64, HMAC, claims) costs more than the rest of a small request's routing: a token that
    verified is remembered, per keyring, until one second before it expires, when it is checked in full again
    (so an expired token always gets its precise error)."""
    verified = _VERIFIED.setdefault(keyring, {})
    remembered = verified.get(token)
    if remembered is not None and remembered[1] > time.time():
        return remembered[0]
    principal, expires = _verify(keyring, token)
    if len(verified) >= VERIFIED_LIMIT:
        verified.clear()  # a bounded memory; clients simply get checked in full once more
    verified[token] = (principal, expires - 1)
    return principal


VERIFIED_LIMIT = 10_000
_VERIFIED: weakref.WeakKeyDictionary[Keyring, dict[str, tuple[Principal, float]]] = weakref.WeakKeyDictionary()


def _verify(keyring: Keyring, token: str) -> tuple[Principal, float]:
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
        principal = Principal(claims["ws"], claims["sub"], frozenset(claims.get("scope", "").split()))
        return principal, float(claims["exp"])
    raise errors.NotAuthenticated("The access token is not valid.", code="invalid_token") from last
