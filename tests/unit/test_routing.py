"""The app tries its routers in a chosen order (busiest first, for speed): every route must still be reached
through its own router, never caught by an earlier one whose path pattern also matches."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Match

from herald.app import create_app
from herald.settings import Settings


def test_every_route_is_reached_through_its_own_router() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///unused.db", secret_key="k" * 32))
    top = list(app.router.routes)
    checked, misrouted = 0, []
    for owner, entry in enumerate(top):
        router = getattr(entry, "original_router", None)
        for route in getattr(router, "routes", []):
            if not isinstance(route, APIRoute):
                continue
            path = re.sub(r"\{[^}]+\}", "x1", route.path)
            for method in route.methods:
                scope = {"type": "http", "path": path, "method": method, "root_path": "", "app": app,
                         "path_params": {}}
                first = next(i for i, candidate in enumerate(top) if candidate.matches(scope)[0] == Match.FULL)
                checked += 1
                if first != owner:
                    misrouted.append(f"{method} {route.path}")
    assert checked > 100
    assert misrouted == []
    routers = [entry.original_router.prefix for entry in top if hasattr(entry, "original_router")]
    assert routers[:3] == ["/v1/events", "/v1/messages", "/webhooks"]  # the busiest are tried first
