"""Campaigns end to end in-process (API + dispatcher + job runner) against the fake Twilio, on SQLite and
PostgreSQL: who gets one message and who is skipped and why, the dry run, the live counters, the actions and
their refusals, quiet hours, the error-rate pause, and the exports."""

from __future__ import annotations

import asyncio
import collections
import csv
import io
from datetime import UTC, datetime, timedelta

from herald.fakes.twilio import FakeTwilio
from tests.conftest import Running
from tests.integration.campaign_setup import (
    SID,
    TOKEN,
    act,
    add_twilio,
    campaign,
    make_list,
    person,
    sms_template,
    until,
    zone_at_hour,
)


def ended(data: dict[str, object]) -> bool:
    return data["state"] in ("completed", "stopped", "paused")


async def test_each_eligible_contact_gets_one_message_and_every_skip_says_why(
        herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    noon = zone_at_hour(12)
    members = [person(i, zone=noon) for i in range(1, 13)]
    members[0]["priority"] = True
    members += [person(20, consent=False, zone=noon), person(21, consent=None, zone=noon),
                person(22, zone=noon), person(23, zone=noon)]
    lst = await make_list(client, "Spring list", members)
    other = await make_list(client, "Also", [person(1, zone=noon), person(30, zone=noon)])  # c1 is on both
    resp = await client.post("/v1/dnc-lists", json={"name": "Collections", "always": False})
    assert resp.status_code == 201
    await client.post("/v1/dnc-lists/Collections/entries", json={"entries": [{"address": "+14155550022"}]})
    await client.post("/v1/suppressions", json={"entries": [{"address": "+14155550023", "reason": "asked"}]})
    await sms_template(client)
    made = await campaign(client, lists=[lst["id"], other["name"]], template="promo", dnc_lists=["Collections"])
    assert made["state"] == "draft"
    assert made["progress"]["planned"] == 0

    dry = (await client.post(f"/v1/campaigns/{made['id']}/preview", json={"samples": 2, "cost_per_segment": 0.01}))
    assert dry.status_code == 200, dry.text
    preview = dry.json()
    assert preview["audience"] == 17
    assert preview["would_send"] == 13
    assert preview["would_skip"] == {"opted_out": 1, "no_consent": 1, "dnc:Collections": 1, "suppressed": 1}
    assert preview["samples"][0]["content"]["body"] == "Hi Person1: 1% off"
    assert preview["segments_per_message"]["max"] == 1
    assert preview["estimated_cost"] == 0.13
    assert preview["warnings"] == []
    assert fake.messages == [], "a dry run sends nothing"

    started = await act(client, made["id"], "start")
    assert started["state"] == "running"
    assert started["template_version"] == 1
    done = await until(client, made["id"], ended)
    assert done["state"] == "completed", done
    progress = done["progress"]
    assert (progress["total"], progress["planned"], progress["sent"], progress["skipped"]) == (17, 17, 13, 4)
    assert progress["skipped_by_reason"] == preview["would_skip"]
    bodies = collections.Counter(m["to"] for m in fake.messages)
    assert len(fake.messages) == 13
    assert set(bodies.values()) == {1}, "one message per contact, even on two lists"
    assert "+14155550030" in bodies
    assert "+14155550022" not in bodies
    assert {m["body"] for m in fake.messages} >= {"Hi Person1: 1% off", "Hi Person30: 30% off"}

    skipped = (await client.get(f"/v1/campaigns/{made['id']}/recipients", params={"state": "skipped"})).json()
    why = {r["to"]: r["explanation"] for r in skipped["data"]}
    assert why["+14155550022"] == 'Not sent: suppressed: dnc list "Collections"'
    assert why["+14155550020"].startswith("Not sent: opted_out: direct_marketing consent withdrawn")
    assert why["+14155550023"] == "Not sent: suppressed: manual (asked)"
    page = (await client.get(f"/v1/campaigns/{made['id']}/recipients", params={"limit": 10})).json()
    rest = (await client.get(f"/v1/campaigns/{made['id']}/recipients",
                             params={"limit": 10, "cursor": page["next_cursor"]})).json()
    assert len(page["data"]) == 10
    assert len(rest["data"]) == 7
    assert rest["next_cursor"] is None

    export = await client.get(f"/v1/campaigns/{made['id']}/export.csv")
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert len(rows) == 17
    assert {r["state"] for r in rows} == {"sent", "skipped"}
    assert {r["external_id"] for r in rows if r["reason"] == "no_consent"} == {"c21"}
    history = (await client.get("/v1/attempts", params={"campaign": made["id"], "limit": 5})).json()
    assert history["totals"] == {"attempts": 13, "accepted": 13, "rejected": 0}
    assert len(history["data"]) == 5
    assert history["data"][0]["campaign_id"] == made["id"]
    assert history["data"][0]["accepted"] is True
    pdf = await client.get(f"/v1/campaigns/{made['id']}/report.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")

    for action in ("start", "pause", "resume", "stop"):
        problem = await act(client, made["id"], action, 409)
        assert problem["code"] == "campaign_state"
        assert "completed" in problem["detail"]


async def test_bad_campaigns_are_refused_with_the_field(herald: Running) -> None:
    client = await herald.authed()
    fake_settings = {"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550199",
                     "base_url": "http://127.0.0.1:9"}
    await client.post("/v1/providers", json={"name": "t", "kind": "twilio", "settings": fake_settings})
    lst = await make_list(client, "L", [person(1, fields={"text": "hello"})])
    await sms_template(client)
    await client.post("/v1/templates", json={"name": "mail", "channel": "email",
                                             "variants": {"en": {"subject": "s", "text": "t"}}})
    cases = [
        ({"template": "promo"}, "audience_required", "lists"),
        ({"lists": [lst["id"]]}, "content_required", "template"),
        ({"lists": [lst["id"]], "template": "promo", "message_column": "text"}, "content_required", "template"),
        ({"lists": [lst["id"]], "message_column": "nope"}, "unknown_message_column", "message_column"),
        ({"lists": [lst["id"]], "template": "mail"}, "template_channel_mismatch", "template"),
        ({"lists": [lst["id"]], "template": "promo", "start_at": "2020-01-01T00:00:00Z"}, "start_at_in_past",
         "start_at"),
        ({"lists": [lst["id"]], "template": "promo", "send_window": {"start": "09:00", "end": "09:00"}},
         "empty_window", None),
        ({"lists": [lst["id"]], "template": "promo", "send_window": {"start": "22:00", "end": "07:00"}},
         "window_outside_quiet_hours", "send_window"),
        ({"lists": [lst["id"]], "template": "promo", "classification": "spam"}, "unknown_classification",
         "classification"),
        ({"lists": [lst["id"]], "template": "promo", "dnc_lists": ["Nope"]}, "dnc_list_not_found", "dnc_lists"),
    ]
    for body, code, field in cases:
        resp = await client.post("/v1/campaigns", json={"name": "x", "channel": "sms", **body})
        assert resp.status_code == 422, (body, resp.text)
        problem = resp.json()
        assert problem["code"] == code, (body, problem)
        if field:
            assert field in str(problem), (body, problem)
    made = await campaign(client, lists=[lst["id"]], message_column="text")
    again = await client.post("/v1/campaigns", json={"name": "Spring", "channel": "sms", "lists": [lst["id"]],
                                                     "message_column": "text"})
    assert again.status_code == 409
    assert again.json()["code"] == "campaign_exists"
    assert (await act(client, made["id"], "pause", 409))["code"] == "campaign_state"
    changed = await client.patch(f"/v1/campaigns/{made['id']}", json={"throttle_per_second": 5})
    assert changed.status_code == 200
    assert changed.json()["throttle_per_second"] == 5
    # A draft takes every setting a new campaign takes: the provider, a throttle per minute, or none at all.
    other = (await client.post("/v1/providers", json={"name": "second", "kind": "file", "channel": "sms",
                                                       "settings": {}})).json()
    changed = await client.patch(f"/v1/campaigns/{made['id']}", json={"provider": "second",
                                                                      "throttle_per_minute": 120})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["provider_id"], changed.json()["throttle_per_second"]) == (other["id"], 2)
    cleared = await client.patch(f"/v1/campaigns/{made['id']}", json={"throttle_per_second": None})
    assert cleared.json()["throttle_per_second"] is None
    both = await client.patch(f"/v1/campaigns/{made['id']}", json={"throttle_per_second": 1,
                                                                   "throttle_per_minute": 60})
    assert (both.status_code, both.json()["code"]) == (422, "throttle_twice")
    await act(client, made["id"], "start")
    refused = await client.patch(f"/v1/campaigns/{made['id']}", json={"throttle_per_second": 9})
    assert refused.status_code == 409
    assert (await client.delete(f"/v1/campaigns/{made['id']}")).status_code == 409


async def test_pause_holds_and_resume_sends_the_rest_once(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    lst = await make_list(client, "L", [person(i, fields={"text": f"msg {i}"}) for i in range(60)])
    made = await campaign(client, lists=[lst["id"]], message_column="text", classification="service",
                          throttle_per_second=20)
    await act(client, made["id"], "start")
    await until(client, made["id"], lambda d: d["progress"]["sent"] >= 10)
    paused = await act(client, made["id"], "pause")
    assert paused["state"] == "paused"
    settled = await until(client, made["id"], lambda d: d["progress"]["sending"] == 0)
    held = len(fake.messages)
    assert held < 60
    assert settled["progress"]["sent"] == held
    waiting = (await client.get(f"/v1/campaigns/{made['id']}/recipients", params={"state": "queued"})).json()
    assert waiting["data"]
    assert all("paused" in r["explanation"] for r in waiting["data"])
    await asyncio.sleep(1.5)
    assert len(fake.messages) == held, "a paused campaign sent more"
    await act(client, made["id"], "resume")
    done = await until(client, made["id"], ended)
    assert done["state"] == "completed"
    assert done["progress"]["sent"] == 60
    per = collections.Counter(m["body"] for m in fake.messages)
    assert set(per) == {f"msg {i}" for i in range(60)}
    assert set(per.values()) == {1}


async def test_stop_cancels_what_waits(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    lst = await make_list(client, "L", [person(i, fields={"text": f"msg {i}"}) for i in range(40)])
    made = await campaign(client, lists=[lst["id"]], message_column="text", classification="service",
                          throttle_per_second=10)
    await act(client, made["id"], "start")
    await until(client, made["id"], lambda d: d["progress"]["sent"] >= 3)
    stopped = await act(client, made["id"], "stop")
    assert stopped["state"] == "stopped"
    done = await until(client, made["id"], lambda d: d["progress"]["queued"] + d["progress"]["sending"] == 0)
    assert done["progress"]["cancelled"] > 0
    assert done["progress"]["sent"] + done["progress"]["cancelled"] == 40
    assert len(fake.messages) == done["progress"]["sent"]


async def test_quiet_hours_defer_marketing_sms_to_the_recipients_morning(herald_with_worker: Running,
                                                                         fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    lst = await make_list(client, "L", [person(1, zone=zone_at_hour(13)), person(2, zone=zone_at_hour(3))])
    await sms_template(client)
    made = await campaign(client, lists=[lst["id"]], template="promo")
    await act(client, made["id"], "start")
    await until(client, made["id"], lambda d: d["progress"]["sent"] == 1)
    night = (await client.get(f"/v1/campaigns/{made['id']}/recipients", params={"state": "queued"})).json()
    await until(client, made["id"], lambda d: d["progress"]["queued"] == 1 and d["progress"]["sending"] == 0)
    night = (await client.get(f"/v1/campaigns/{made['id']}/recipients", params={"state": "queued"})).json()
    [row] = night["data"]
    assert row["to"] == "+14155550002"
    assert row["attempts"] == 0
    assert "Deferred: quiet hours until 08:00" in row["explanation"], row
    assert [m["to"] for m in fake.messages] == ["+14155550001"]


async def test_a_failing_provider_pauses_the_campaign_and_says_why(herald_with_worker: Running,
                                                                   fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    fake.fail("500", count=100_000)
    lst = await make_list(client, "L", [person(i, fields={"text": f"msg {i}"}) for i in range(240)])
    made = await campaign(client, lists=[lst["id"]], message_column="text", classification="service",
                          max_error_rate=0.5, throttle_per_second=40)
    await act(client, made["id"], "start")
    paused = await until(client, made["id"], lambda d: d["state"] != "running", timeout=40)
    assert paused["state"] == "paused", paused
    assert paused["state_reason"].startswith("Paused automatically:"), paused
    assert "failed" in paused["state_reason"]
    assert "above the 50% limit" in paused["state_reason"]
    assert "Internal Server Error" in paused["state_reason"], "the reason quotes the latest failure"
    assert paused["progress"]["queued"] > 0, "what had not been tried yet waits for a resume"
    rejected = (await client.get("/v1/attempts", params={"campaign": made["id"], "accepted": "false"})).json()
    assert rejected["totals"]["accepted"] == 0
    assert rejected["totals"]["rejected"] >= 50
    assert rejected["data"][0]["code"] == "500" or rejected["data"][0]["error"], rejected["data"][0]
    exported = await client.get("/v1/attempts.csv", params={"campaign": made["id"]})
    lines = exported.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("attempt_id,time,campaign_id,contact_id")
    assert len(lines) - 1 >= rejected["totals"]["attempts"]


async def test_a_scheduled_campaign_waits_for_its_time_and_counts_the_audience_then(
        herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    lst = await make_list(client, "L", [person(i, fields={"text": f"msg {i}"}) for i in range(3)])
    start_at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    made = await campaign(client, lists=[lst["id"]], message_column="text", classification="service",
                          start_at=start_at)
    scheduled = await act(client, made["id"], "start")
    assert scheduled["state"] == "scheduled"
    late = await client.post(f"/v1/lists/{lst['id']}/members",
                             json={"members": [person(9, fields={"text": "msg 9"})]})
    assert late.status_code == 200
    await asyncio.sleep(1)
    assert fake.messages == [], "nothing goes before start_at"
    done = await until(client, made["id"], ended, timeout=30)
    assert done["state"] == "completed"
    assert done["progress"]["total"] == 4
    assert sorted(m["body"] for m in fake.messages) == ["msg 0", "msg 1", "msg 2", "msg 9"]
    other = await campaign(client, name="Later", lists=[lst["id"]], message_column="text",
                           classification="service", start_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    await act(client, other["id"], "start")
    stopped = await act(client, other["id"], "stop")
    assert stopped["state"] == "stopped"
    assert stopped["progress"]["planned"] == 0
