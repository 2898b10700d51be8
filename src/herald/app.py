"""The FastAPI application: API, webhooks, operations endpoints, and (in ``serve``) the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Message, Scope

from herald import console, gcpolicy, health, problems
from herald.audit import api as audit_api
from herald.auth import api as auth_api
from herald.auth import clients as clients_api
from herald.campaigns import api as campaigns_api
from herald.campaigns import history as attempts_api
from herald.commqueue import api as queues_api
from herald.contacts import api as contacts_api
from herald.crypto import Keyring
from herald.db.session import make_engine, make_sessionmaker
from herald.deps import AppState
from herald.events import api as events_api
from herald.events.fastpath import EventFastPath
from herald.imports import api as imports_api
from herald.inbound import api as inbound_api
from herald.inbound import rules_api as keywords_api
from herald.limits import BodyLimit
from herald.lists import api as lists_api
from herald.logs import configure_logging
from herald.messages import api as messages_api
from herald.metrics import Metrics
from herald.providers import api as providers_api
from herald.settings import Settings
from herald.suppressions import api as suppressions_api
from herald.templates import api as templates_api
from herald.templates.liquid import Renderer
from herald.tools import api as tools_api
from herald.triggers import api as triggers_api
from herald.unsubscribe import api as unsubscribe_api
from herald.webhooks import api as webhooks_api
from herald.webhooks import clickatell as clickatell_webhooks
from herald.webhooks import http as http_webhooks
from herald.worker import Worker


def create_app(settings: Settings, *, with_worker: bool = False, settle_gc: bool = False) -> FastAPI:
    """The app; ``with_worker`` also runs the dispatcher and jobs in this process (``herald serve``).
    ``settle_gc`` (a server process of its own, not a test) freezes what start-up made (:mod:`herald.gcpolicy`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        engine = make_engine(settings.effective_database_url)
        keyring = Keyring.from_settings(settings)
        metrics = Metrics()
        renderer = Renderer(output_limit=settings.template_output_limit)
        state = AppState(settings, engine, make_sessionmaker(engine), keyring, metrics, renderer)
        worker = Worker(settings, engine, keyring, metrics) if with_worker else None
        if worker:
            state.wake_dispatcher = worker.wake
            state.opted_out = worker.opted_out
            state.handoff, state.adopt = worker.dispatcher.offer, worker.dispatcher.adopt
            worker.start()
        app.state.herald, app.state.worker = state, worker
        await _warm_up(app)
        if settle_gc:
            gcpolicy.settle()
        try:
            yield
        finally:
            if worker:
                await worker.shutdown()
            await engine.dispose()

    app = FastAPI(
        title="Herald",
        version="0.1.0",
        summary="Customer notifications: SMS and email now; push and wallet passes next.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes, upload_bytes=settings.max_import_bytes)
    app.add_middleware(EventFastPath, owner=app, max_bytes=settings.max_request_bytes)  # outermost of ours
    # FastAPI tries the routers in this order for every request: the busiest (events, sends, provider
    # callbacks) come first. No path of one router matches another's (tests/unit/test_routing.py).
    for router in (events_api.router, messages_api.router, webhooks_api.router, auth_api.router,
                   clients_api.router, templates_api.router, providers_api.router, tools_api.router,
                   health.router, audit_api.router, unsubscribe_api.router, contacts_api.router,
                   lists_api.router, imports_api.router, suppressions_api.router, inbound_api.router,
                   campaigns_api.router, attempts_api.router, events_api.types_router, triggers_api.router,
                   keywords_api.router, queues_api.router):
        app.include_router(router)
    app.include_router(clickatell_webhooks.router)  # beside webhooks_api.router: /webhooks/clickatell/...
    app.include_router(http_webhooks.router)
    app.include_router(console.interactions_router, include_in_schema=False)  # before /console/messages/{id}
    app.include_router(console.router, include_in_schema=False)
    app.include_router(console.audience_router, include_in_schema=False)
    app.include_router(console.campaigns_router, include_in_schema=False)
    app.include_router(console.triggers_router, include_in_schema=False)
    app.mount("/console/static", StaticFiles(directory=console.STATIC_DIR), name="console-static")
    _document_problem(app)
    return app


async def _warm_up(app: FastAPI) -> None:
    """Send one request that no route matches through the whole app before serving. FastAPI builds its
    routers' route tables, and Starlette the middleware stack, on the first request that walks them: ~0.3 s of
    CPU that the first real requests after a start or deploy would otherwise wait for."""
    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                    "scheme": "http", "path": "/.warm-up", "raw_path": b"/.warm-up", "root_path": "",
                    "query_string": b"", "headers": [], "client": None, "server": None, "state": {}}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Message) -> None:
        return None

    await app(scope, receive, send)


def _document_problem(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict:  # type: ignore[type-arg]
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = {
            "type": "object",
            "required": ["type", "title", "status", "code", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "code": {"type": "string"}, "detail": {"type": "string"}, "instance": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}},
            },
        }
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                statuses = ["400", "401", "403", "413", "422", "500", "503"]
                statuses += ["404"] if "{" in path else []
                statuses += ["409"] if method in ("post", "patch", "delete") else []
                for status in statuses:
                    responses.setdefault(status, {"description": "Problem details (RFC 9457)"})
                for status, response in responses.items():
                    if status.startswith(("4", "5")):
                        response["content"] = problem
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
