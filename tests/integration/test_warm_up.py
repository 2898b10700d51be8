"""Herald builds its request path before serving: the first requests after a start or deploy must not wait
~0.3 s of CPU for FastAPI to build the route tables and Starlette the middleware stack."""

from __future__ import annotations

from tests.conftest import Running


async def test_the_app_is_built_before_the_first_request(herald: Running) -> None:
    assert herald.app.middleware_stack is not None
    # The warm-up's own request (a path no route matches) was answered as any other and left nothing behind.
    resp = await herald.client.get("/.warm-up")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
