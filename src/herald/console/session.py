"""Console sign-in state: the session cookie, CSRF tokens and the failed-sign-in throttle.

* The session is a JWT (HS256) in an HttpOnly, SameSite=Lax cookie (Secure over https). Its key is derived
  from the keyring's token key with a console-only label, so an API Bearer token can never pass as a
  console session (nor the reverse), and rotating ``HERALD_SECRET_KEY`` ends every session.
* Each session carries a random id (``sid``). The CSRF token of a form is an HMAC of that id under a second
  derived key: tied to the session, checked on every POST, and nothing has to be stored to check it.
* Before sign-in there is no session, so the login form is protected the same way with a random nonce kept
  in a short-lived cookie of its own (a signed double-submit token).
* Logging out deletes the cookie and remembers the ``sid`` as revoked in this process until it expires.
  The user row is read on every request, so a deleted user or a changed role takes effect at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

from herald.auth import passwords
from herald.crypto import Keyring

SESSION_COOKIE = "herald_console"
LOGIN_COOKIE = "herald_console_login"
SESSION_TTL = 8 * 3600
LOGIN_TTL = 3600
CSRF_FIELD = "csrf_token"
AUDIENCE = "herald-console"
ISSUER = "herald"

_SESSION_LABEL = b"herald/console/session"
_CSRF_LABEL = b"herald/console/csrf"

# Failed sign-ins: after MAX_FAILURES within FAILURE_WINDOW seconds for one email, further attempts for it
# are refused (without checking the password) until the oldest failure leaves the window.
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0
_MAX_TRACKED = 10_000


def _derive(base: bytes, label: bytes) -> bytes:
    return hmac.new(base, label, hashlib.sha256).digest()


def session_keys(keyring: Keyring) -> list[bytes]:
    """The current session-signing key first, then those of rotated-out secret keys."""
    return [_derive(k, _SESSION_LABEL) for k in (keyring.token_key, *keyring.old_token_keys)]


def _csrf_key(keyring: Keyring) -> bytes:
    return _derive(keyring.token_key, _CSRF_LABEL)


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session cookie: who, in which workspace, and the id its CSRF token is bound to."""

    user_id: str
    workspace_id: str
    sid: str
    expires: int


def issue(keyring: Keyring, *, user_id: str, workspace_id: str, ttl: int = SESSION_TTL) -> tuple[str, Session]:
    """A fresh signed session token (and what it says)."""
    now = int(time.time())
    sess = Session(user_id, workspace_id, secrets.token_urlsafe(16), now + ttl)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "ws": workspace_id, "sid": sess.sid,
              "iat": now, "exp": sess.expires}
    return jwt.encode(claims, session_keys(keyring)[0], algorithm="HS256"), sess


def verify(keyring: Keyring, token: str | None) -> Session | None:
    """The session in ``token`` when it is genuine and unexpired; None otherwise (never raises)."""
    if not token:
        return None
    for key in session_keys(keyring):
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "ws", "sid"]},
            )
        except jwt.ExpiredSignatureError:
            return None
        except jwt.InvalidTokenError:
            continue
        return Session(str(claims["sub"]), str(claims["ws"]), str(claims["sid"]), int(claims["exp"]))
    return None


def csrf_token(keyring: Keyring, purpose: str, value: str) -> str:
    """The CSRF token for a session id (purpose ``session``) or a login nonce (purpose ``login``)."""
    mac = hmac.new(_csrf_key(keyring), f"{purpose}:{value}".encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_ok(keyring: Keyring, purpose: str, value: str | None, submitted: str | None) -> bool:
    """Constant-time check of a submitted CSRF token."""
    if not value or not submitted:
        return False
    return hmac.compare_digest(csrf_token(keyring, purpose, value), submitted)


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _cookie(response: Response, request: Request, name: str, path: str, value: str | None, ttl: int = 0) -> None:
    """Set (or, with ``value`` None, delete) a console cookie: HttpOnly, SameSite=Lax, Secure over https."""
    flags = {"path": path, "httponly": True, "samesite": "lax", "secure": _is_https(request)}
    if value is None:
        response.delete_cookie(name, **flags)  # type: ignore[arg-type]
    else:
        response.set_cookie(name, value, max_age=ttl, **flags)  # type: ignore[arg-type]


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    _cookie(response, request, SESSION_COOKIE, "/console", token, SESSION_TTL)


def clear_session_cookie(response: Response, request: Request) -> None:
    _cookie(response, request, SESSION_COOKIE, "/console", None)


def login_nonce(request: Request) -> tuple[str, bool]:
    """The login form's nonce from its cookie, or a new one; the flag says whether to set the cookie."""
    current = request.cookies.get(LOGIN_COOKIE, "")
    if 16 <= len(current) <= 64 and current.replace("-", "").replace("_", "").isalnum():
        return current, False
    return secrets.token_urlsafe(24), True


def set_login_cookie(response: Response, request: Request, nonce: str) -> None:
    _cookie(response, request, LOGIN_COOKIE, "/console/login", nonce, LOGIN_TTL)


def clear_login_cookie(response: Response, request: Request) -> None:
    _cookie(response, request, LOGIN_COOKIE, "/console/login", None)


@functools.cache
def dummy_hash() -> str:
    """A real argon2 hash to verify against when the email is unknown: the same work either way."""
    return passwords.hash_secret(secrets.token_urlsafe(16))


@dataclass
class Throttle:
    """Failed sign-ins per email in this process (a small brake on password guessing, not a firewall)."""

    failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, email: str, now: float) -> deque[float]:
        times = self.failures.get(email, deque())
        while times and times[0] <= now - FAILURE_WINDOW:
            times.popleft()
        return times

    def retry_after(self, email: str, now: float | None = None) -> float:
        """Seconds until ``email`` may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        times = self._recent(email, now)
        if len(times) < MAX_FAILURES:
            return 0.0
        return max(0.0, times[0] + FAILURE_WINDOW - now)

    def failed(self, email: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self.failures) >= _MAX_TRACKED:
            self._prune(now)
        times = self._recent(email, now)
        times.append(now)
        while len(times) > MAX_FAILURES:
            times.popleft()
        self.failures[email] = times

    def succeeded(self, email: str) -> None:
        self.failures.pop(email, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self.failures.items() if not v or v[-1] <= now - FAILURE_WINDOW]:
            del self.failures[key]
        while len(self.failures) >= _MAX_TRACKED:  # still full of fresh entries: drop the oldest-inserted
            del self.failures[next(iter(self.failures))]


@dataclass
class ConsoleState:
    """Per-process console state, kept on ``app.state`` (each app in a test run gets its own)."""

    throttle: Throttle = field(default_factory=Throttle)
    revoked: dict[str, int] = field(default_factory=dict)
    """Logged-out session ids and when their tokens expire anyway."""

    def revoke(self, sess: Session) -> None:
        now = int(time.time())
        for sid in [s for s, exp in self.revoked.items() if exp < now]:
            del self.revoked[sid]
        self.revoked[sess.sid] = sess.expires

    def is_revoked(self, sess: Session) -> bool:
        return sess.sid in self.revoked


def console_state(request: Request) -> ConsoleState:
    found = getattr(request.app.state, "herald_console", None)
    if isinstance(found, ConsoleState):
        return found
    created = ConsoleState()
    request.app.state.herald_console = created
    return created
