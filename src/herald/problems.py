"""RFC 9457 problem details for every error the API can answer, with a stable ``code`` and, for input
errors, field-level ``errors``."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from herald import errors

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
_STATUS: dict[type[errors.HeraldError], int] = {
    errors.Invalid: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.NotAuthenticated: 401,
    errors.NotPermitted: 403,
    errors.Unavailable: 503,
}
_TITLES = {
    400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Content too large", 415: "Unsupported media type",
    422: "Invalid input", 429: "Too many requests", 500: "Internal error", 503: "Unavailable",
}


def problem(
    status: int, code: str, detail: str, *, instance: str | None = None,
    errors_: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:herald:problem:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors_:
        body["errors"] = errors_
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or str(loc[-1] if loc else "")


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.HeraldError)
    async def _herald(request: Request, exc: errors.HeraldError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        errs = exc.errors or ([{"field": exc.field, "code": exc.code, "message": exc.detail}] if exc.field else None)
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
        return problem(status, exc.code, exc.detail, instance=request.url.path, errors_=errs, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = exc.errors()
        if any(e.get("type") == "json_invalid" for e in raw):
            where = next(e for e in raw if e.get("type") == "json_invalid")
            pos = (where.get("ctx") or {}).get("error", "")
            return problem(400, "malformed_json", f"The body is not valid JSON: {pos}".rstrip(": "),
                           instance=request.url.path)
        items = [
            {"field": _loc(tuple(e.get("loc", ()))), "code": e.get("type", "invalid"), "message": e.get("msg", "")}
            for e in raw
        ]
        first = items[0] if items else {"field": "", "message": "invalid input"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        return problem(422, "validation_failed", detail, instance=request.url.path, errors_=items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}.get(exc.status_code, "error")
        return problem(exc.status_code, code, str(exc.detail), instance=request.url.path,
                       headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every database connection stayed busy for the pool's whole timeout: overload, not a bug. Nothing was
        # written; the client may retry (with its idempotency key).
        log.warning("api.overloaded", path=request.url.path)
        return problem(503, "overloaded", "Herald is busy; nothing was stored. Retry in a moment.",
                       instance=request.url.path, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unhandled", path=request.url.path)
        return problem(500, "internal_error", "Something went wrong on our side; it has been logged.",
                       instance=request.url.path)


# Declared on every route so the OpenAPI document shows them (and schemathesis knows them).
PROBLEM_SCHEMA = {
    "description": "Problem details (RFC 9457)",
    "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: PROBLEM_SCHEMA, 401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 413: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA,
}
