"""Building blocks for campaign tests: a fake Twilio provider, a list of contacts, and a campaign run to its end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from herald.fakes.twilio import FakeTwilio
from tests.conftest import wait_for

SID = "AC" + "7" * 32
TOKEN = "campaign-twilio-token"


def zone_at_hour(hour: int) -> str:
    """An IANA zone (Etc/GMT±N) where the local time now is ``hour`` o'clock (give or take the minutes), so a
    test of send windows does not depend on when it runs."""
    offset = (hour - datetime.now(UTC).hour + 12) % 24 - 12
    # Etc zones have inverted signs: Etc/GMT-3 is UTC+3.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


async def add_twilio(client: httpx.AsyncClient, fake: FakeTwilio) -> dict[str, Any]:
    settings = {"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550199", "base_url": fake.base_url,
                "timeout": 2.0}
    resp = await client.post("/v1/providers", json={"name": "twilio", "kind": "twilio", "priority": 10,
                                                    "settings": settings})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def person(i: int, *, consent: bool | None = True, zone: str | None = None, **extra: Any) -> dict[str, Any]:
    contact: dict[str, Any] = {"external_id": f"c{i}", "name": f"Person{i} Test", "phone": f"+1415555{i:04d}",
                               "email": f"p{i}@example.com"}
    if consent is not None:
        contact["consent"] = {"direct_marketing": consent}
    if zone:
        contact["timezone"] = zone
    return {"contact": contact, "fields": extra.pop("fields", {"offer": f"{i}% off"}), **extra}


async def make_list(client: httpx.AsyncClient, name: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    resp = await client.post("/v1/lists", json={"name": name})
    assert resp.status_code == 201, resp.text
    made = dict(resp.json())
    resp = await client.post(f"/v1/lists/{made['id']}/members", json={"members": members})
    assert resp.status_code == 200, resp.text
    assert not resp.json()["failed"], resp.text
    return made


async def sms_template(client: httpx.AsyncClient, body: str = "Hi {{ contact.first_name }}: {{ row.offer }}",
                       name: str = "promo") -> dict[str, Any]:
    resp = await client.post("/v1/templates", json={"name": name, "channel": "sms",
                                                    "variants": {"en": {"body": body}}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def campaign(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await client.post("/v1/campaigns", json={"name": "Spring", "channel": "sms", **body})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def act(client: httpx.AsyncClient, campaign_id: str, action: str, status: int = 200) -> dict[str, Any]:
    resp = await client.post(f"/v1/campaigns/{campaign_id}/{action}")
    assert resp.status_code == status, resp.text
    return dict(resp.json())


async def until(client: httpx.AsyncClient, campaign_id: str, check: Any, timeout: float = 20) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        data = dict((await client.get(f"/v1/campaigns/{campaign_id}")).json())
        return data if check(data) else None

    return dict(await wait_for(probe, timeout))
