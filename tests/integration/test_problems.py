"""How the API answers when the database cannot take more work: 503 with Retry-After, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.conftest import Running


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_exhausted_connection_pool_answers_503_with_retry_after(herald: Running) -> None:
    def exhausted() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached, connection timed out")

    herald.app.add_api_route("/_test/exhausted", exhausted)
    resp = await herald.client.get("/_test/exhausted")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "1"
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "overloaded"
