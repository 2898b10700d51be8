"""/v1/suppressions and /v1/dnc-lists: adding, checking "blocked and why", lifting, all audited."""

from __future__ import annotations

from tests.conftest import Running


async def test_check_says_whether_and_why_an_address_is_blocked(herald: Running) -> None:
    client = await herald.authed()
    clear = (await client.get("/v1/suppressions", params={"address": "+1 415 555 0160"})).json()
    assert clear == {"address": "+14155550160", "channel": "sms", "blocked": False, "blocked_for": [], "entries": []}

    added = await client.post("/v1/suppressions", json={"entries": [
        {"address": "+14155550160", "scope": "marketing", "reason": "asked in branch"},
        {"address": "Mixed.Case@Example.com"},
        {"address": "not-a-phone"},
    ]})
    assert added.status_code == 201
    report = added.json()
    assert (report["added"], report["already_present"]) == (2, 0)
    assert report["failed"][0]["index"] == 2
    again = (await client.post("/v1/suppressions", json={"entries": [{"address": "mixed.case@example.com"}]})).json()
    assert (again["added"], again["already_present"]) == (0, 1)

    marketing = (await client.get("/v1/suppressions", params={"address": "(415) 555-0160"})).json()
    assert marketing["blocked_for"] == ["direct_marketing", "affiliate_marketing"]
    assert marketing["entries"][0]["reason"] == "asked in branch"
    email = (await client.get("/v1/suppressions", params={"address": "MIXED.case@example.com"})).json()
    assert email["blocked"] is True
    assert len(email["blocked_for"]) == 5

    lifted = await client.delete("/v1/suppressions", params={"address": "+14155550160"})
    assert lifted.status_code == 204
    assert (await client.delete("/v1/suppressions", params={"address": "+14155550160"})).status_code == 404
    actions = [a["action"] for a in (await client.get("/v1/audit")).json()["data"]]
    assert "suppression.added" in actions
    assert "suppression.lifted" in actions


async def test_dnc_lists_crud_and_entries(herald: Running) -> None:
    client = await herald.authed()
    made = await client.post("/v1/dnc-lists", json={"name": "Collections", "description": "legal hold"})
    assert made.status_code == 201
    dup = await client.post("/v1/dnc-lists", json={"name": "Collections"})
    assert (dup.status_code, dup.json()["code"]) == (409, "dnc_list_name_taken")
    entries = [{"address": f"+1415555{n:04d}"} for n in range(200, 260)]
    assert (await client.post("/v1/dnc-lists/Collections/entries", json={"entries": entries})).json()["added"] == 60
    listed = (await client.get("/v1/dnc-lists")).json()
    assert [(d["name"], d["kind"], d["entries"]) for d in listed] == [("Suppression list", "suppression", 0),
                                                                      ("Collections", "dnc", 60)]
    page = (await client.get("/v1/dnc-lists/Collections/entries", params={"limit": 50})).json()
    rest = (await client.get("/v1/dnc-lists/Collections/entries", params={"cursor": page["next_cursor"]})).json()
    assert len(page["data"]) + len(rest["data"]) == 60
    assert rest["next_cursor"] is None
    gone = await client.delete("/v1/dnc-lists/Collections/entries", params={"address": "+14155550200"})
    assert gone.status_code == 204
    assert (await client.delete("/v1/dnc-lists/Collections")).status_code == 204
    assert (await client.get("/v1/dnc-lists/Collections")).status_code == 404


async def test_bad_suppression_input(herald: Running) -> None:
    client = await herald.authed()
    bad_scope = await client.post("/v1/suppressions", json={"entries": [{"address": "+14155550100", "scope": "x"}]})
    assert (bad_scope.status_code, bad_scope.json()["code"]) == (422, "unknown_scope")
    one_bad = await client.post("/v1/suppressions", json={"entries": [{"address": "nope@"}]})
    assert (one_bad.status_code, one_bad.json()["code"]) == (422, "invalid_email")
    empty = await client.post("/v1/suppressions", json={"entries": []})
    assert empty.status_code == 422
    channel = await client.get("/v1/suppressions", params={"address": "x", "channel": "fax"})
    assert channel.json()["code"] == "unknown_channel"
