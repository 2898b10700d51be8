"""Domain errors. Services raise these; :mod:`herald.problems` turns them into RFC 9457 responses in one
place, so no service knows about HTTP."""

from __future__ import annotations

from typing import Any


class HeraldError(Exception):
    """``code`` is stable and documented; ``field`` names the offending input when there is one."""

    code = "error"

    def __init__(
        self, detail: str, *, code: str | None = None, field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.field = field
        self.errors = errors


class Invalid(HeraldError):
    code = "invalid"


class RenderFailed(Invalid):
    """A template could not be rendered for one recipient. The message is stored as failed (the caller
    catches this and commits); ``message_id`` names it."""

    code = "render_error"

    def __init__(self, detail: str, *, message_id: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors)
        self.message_id = message_id


class NotFound(HeraldError):
    code = "not_found"


class Conflict(HeraldError):
    code = "conflict"


class TooLarge(HeraldError):
    code = "too_large"


class NotAuthenticated(HeraldError):
    code = "not_authenticated"


class NotPermitted(HeraldError):
    code = "forbidden"


class Unavailable(HeraldError):
    code = "unavailable"
