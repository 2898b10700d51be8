"""The web console: server-rendered pages (Jinja2 + htmx) over the same services as the API.

``router`` holds the pages (under ``/console``, and ``/`` redirecting there); ``STATIC_DIR`` is served at
``/console/static`` (the pinned htmx and our stylesheet; no CDN)."""

from herald.console.audience import router as audience_router
from herald.console.campaigns import router as campaigns_router
from herald.console.interactions import router as interactions_router
from herald.console.routes import router
from herald.console.triggers import router as triggers_router
from herald.console.views import STATIC_DIR

__all__ = ["STATIC_DIR", "audience_router", "campaigns_router", "interactions_router", "router", "triggers_router"]
