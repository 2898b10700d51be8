"""Notification history (seed 002: "not notified using the same notification type in the last 30 days"): a
campaign with ``skip_notified_within_days`` skips each contact whose address was sent its template within
that many days, by another campaign or a single send, says so in the dry run and in the recipient's reason,
and sends everyone else; on SQLite and PostgreSQL, through the worker and the fake Twilio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from herald.db.session import unit_of_work
from herald.fakes.twilio import FakeTwilio
from herald.messages.models import Message
from tests.conftest import Running, wait_for
from tests.integration.campaign_setup import (
    act,
    add_twilio,
    campaign,
    make_list,
    person,
    sms_template,
    until,
)


async def sent_days_ago(herald: Running, message_id: str, days: int) -> None:
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        await session.execute(update(Message).where(Message.id == message_id).values(
            sent_at=datetime.now(UTC) - timedelta(days=days)))


async def test_a_contact_sent_the_template_recently_is_skipped_with_the_reason(
        herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    await sms_template(client, "Your bill: {{ row.offer }}", name="bill")
    await sms_template(client, "Offer: {{ contact.first_name }}", name="promo")
    lst = await make_list(client, "Customers", [person(i) for i in range(4)])
    earlier = {}
    for i, template in ((1, "bill"), (2, "bill"), (3, "promo")):  # 0 was never sent anything
        resp = await client.post("/v1/messages", json={"channel": "sms", "to": f"+1415555{i:04d}", "template": template,
                                                       "data": {"row": {"offer": "x"}}, "classification": "service"})
        assert resp.status_code == 202, resp.text
        earlier[i] = resp.json()["id"]

    async def delivered() -> bool | None:
        states = {(await client.get(f"/v1/messages/{m}")).json()["state"] for m in earlier.values()}
        return True if states <= {"sent", "delivered"} else None

    await wait_for(delivered, 20)
    await sent_days_ago(herald_with_worker, earlier[1], 10)  # within 30 days: skipped
    await sent_days_ago(herald_with_worker, earlier[2], 40)  # longer ago: sent again
    await sent_days_ago(herald_with_worker, earlier[3], 5)  # another template: does not count

    refused = await client.post("/v1/campaigns", json={"name": "x", "channel": "sms", "lists": [lst["id"]],
                                                       "message_column": "offer", "skip_notified_within_days": 30})
    assert (refused.status_code, refused.json()["code"]) == (422, "history_needs_template")
    # A service notice: a marketing SMS would wait for 08:00 at the recipients (San Francisco numbers), and this
    # test must not depend on the hour it runs at.
    made = await campaign(client, lists=[lst["id"]], template="bill", skip_notified_within_days=30,
                          classification="service")
    assert made["skip_notified_within_days"] == 30
    dry = (await client.post(f"/v1/campaigns/{made['id']}/preview", json={"samples": 0})).json()
    assert (dry["would_send"], dry["would_skip"]) == (3, {"recently_notified": 1})
    await act(client, made["id"], "start")
    done = await until(client, made["id"], lambda d: d["state"] == "completed")
    assert done["progress"]["skipped_by_reason"] == {"recently_notified": 1}
    skipped = (await client.get(f"/v1/campaigns/{made['id']}/recipients", params={"state": "skipped"})).json()
    assert [(r["to"], r["explanation"]) for r in skipped["data"]] == [
        ("+14155550001", "Not sent: recently_notified: this template went to this phone number in the last 30 days")]
    to_campaign = sorted(m["to"] for m in fake.messages if m["body"].startswith("Your bill") and "% off" in m["body"])
    assert to_campaign == ["+14155550000", "+14155550002", "+14155550003"]
