"""POST /v1/tools/sms-analysis over HTTP, with real tokens from the running app.

Until app.py mounts ``herald.tools.api.router``, the requests go to a small FastAPI app that includes the
router, installs Herald's problem handlers and shares the running app's state (settings, keyring), so
tokens from the real ``/oauth/token`` work. Once the router is mounted, the real app answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from herald import problems
from herald.tools.api import router
from tests.conftest import Running

PATH = "/v1/tools/sms-analysis"


def _mounted(app: FastAPI) -> bool:
    return any(getattr(route, "path", None) == PATH for route in app.routes)


@pytest.fixture
async def tools(herald: Running) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the tools API holding a ``messages:send`` token."""
    token = await herald.token("messages:send")
    if _mounted(herald.app):
        app = herald.app
    else:
        app = FastAPI()
        problems.install(app)
        app.state.herald = herald.app.state.herald
        app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


async def test_needs_a_token(tools: httpx.AsyncClient) -> None:
    resp = await tools.post(PATH, json={"text": "hi"}, headers={"Authorization": ""})
    assert resp.status_code == 401
    assert resp.json()["code"] == "missing_token"


async def test_needs_the_send_scope(herald: Running, tools: httpx.AsyncClient) -> None:
    reader = await herald.token("messages:read")
    resp = await tools.post(PATH, json={"text": "hi"}, headers={"Authorization": f"Bearer {reader}"})
    assert resp.status_code == 403
    assert resp.json()["code"] == "insufficient_scope"


async def test_gsm_text(tools: httpx.AsyncClient) -> None:
    resp = await tools.post(PATH, json={"text": "Your code is 123456 {valid 10 min}"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # 34 characters; { and } count 2 septets each: 36
    assert body["encoding"] == "GSM-7"
    assert (body["characters"], body["units"], body["segments"]) == (34, 36, 1)
    assert (body["per_segment_limit"], body["remaining_in_last_segment"]) == (160, 124)
    assert body["ucs2_characters"] == []
    assert body["warnings"] == []
    assert body["over_limit"] is False
    assert body["max_segments"] == 10
    assert "segments_text" not in body


async def test_ucs2_text_names_the_culprits(tools: httpx.AsyncClient) -> None:
    resp = await tools.post(PATH, json={"text": "It\u2019s ready 😀"})
    body = resp.json()
    assert resp.status_code == 200, resp.text
    assert body["encoding"] == "UCS-2"
    assert body["ucs2_characters"] == ["\u2019", "😀"]
    assert body["units"] == 13  # 12 code points, 😀 takes 2 UTF-16 units
    assert any(w.startswith("UCS-2 because of: \u2019 😀") for w in body["warnings"])


async def test_include_segments(tools: httpx.AsyncClient) -> None:
    text = "a" * 152 + "€" + "b" * 10  # € would straddle 153, so it opens segment 2
    resp = await tools.post(PATH, json={"text": text, "include_segments": True})
    body = resp.json()
    assert body["segments"] == 2
    assert body["segments_text"] == ["a" * 152, "€" + "b" * 10]
    assert "".join(body["segments_text"]) == text


async def test_over_limit_is_flagged_not_refused(tools: httpx.AsyncClient) -> None:
    resp = await tools.post(PATH, json={"text": "a" * 400, "max_segments": 2})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["segments"], body["over_limit"], body["max_segments"]) == (3, True, 2)
    assert any("over the limit of 2" in w for w in body["warnings"])


async def test_split_link_is_reported(tools: httpx.AsyncClient) -> None:
    text = "x" * 140 + " https://example.com/track/ABC123 " + "y" * 30
    body = (await tools.post(PATH, json={"text": text})).json()
    assert body["split_links"] == ["https://example.com/track/ABC123"]


@pytest.mark.parametrize(("payload", "field"), [
    ({}, "text"),
    ({"text": "a" * 10_001}, "text"),
    ({"text": "hi", "max_segments": 0}, "max_segments"),
    ({"text": "hi", "max_segments": 51}, "max_segments"),
    ({"text": 42}, "text"),
])
async def test_invalid_input_is_422(tools: httpx.AsyncClient, payload: dict[str, object], field: str) -> None:
    resp = await tools.post(PATH, json=payload)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"][0]["field"] == field


async def test_empty_text_is_analysed(tools: httpx.AsyncClient) -> None:
    body = (await tools.post(PATH, json={"text": ""})).json()
    assert (body["segments"], body["units"], body["encoding"]) == (0, 0, "GSM-7")
    assert any("empty" in w for w in body["warnings"])
