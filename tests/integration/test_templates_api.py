"""/v1/templates and template sends, over the real app on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Running

ATM = {
    "name": "atm-withdrawal", "channel": "sms", "default_locale": "en",
    "variants": {
        "en": {"body": "Hi {{ contact.first_name }}, {{ event.amount | money: event.currency }} was withdrawn "
                       "with card {{ event.card | mask }}."},
        "fr": {"body": "Bonjour {{ contact.first_name }}, retrait de {{ event.amount | money: event.currency }}."},
    },
    "sample_data": {"contact": {"first_name": "Lisa"},
                    "event": {"amount": "200.00", "currency": "EUR", "card": "4111111111111234"}},
}
DATA = {"contact": {"first_name": "Jane"}, "event": {"amount": "1234.5", "currency": "USD", "card": "4111111111119876"}}


async def _create(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/templates", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def test_create_send_and_record_the_version(herald: Running) -> None:
    client = await herald.authed()
    tpl = await _create(client, ATM)
    assert tpl["version"] == 1
    assert tpl["locales"] == ["en", "fr"]
    assert tpl["warnings"] == []
    sent = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100",
                                                    "template": "atm-withdrawal", "data": DATA})
    assert sent.status_code == 202, sent.text
    msg = (await client.get(f"/v1/messages/{sent.json()['id']}")).json()
    assert msg["content"]["body"] == "Hi Jane, $1,234.50 was withdrawn with card XXXXXXXXXXXX9876."
    assert (msg["template_id"], msg["template_version"], msg["locale"]) == (tpl["id"], 1, "en")

    edited = await client.patch(f"/v1/templates/{tpl['id']}", json={"variants": {
        "en": {"body": "Card {{ event.card | mask }}: {{ event.amount | money: event.currency }} withdrawn."}}})
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    again = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100",
                                                     "template": tpl["id"], "data": DATA})
    msg2 = (await client.get(f"/v1/messages/{again.json()['id']}")).json()
    assert msg2["template_version"] == 2
    assert msg2["content"]["body"].startswith("Card XXXXXXXXXXXX9876")
    versions = (await client.get(f"/v1/templates/{tpl['id']}/versions")).json()
    assert [v["version"] for v in versions] == [2, 1]
    first = (await client.get(f"/v1/templates/{tpl['id']}/versions/1")).json()
    assert "fr" in first["variants"]


async def test_locale_fallback_chain(herald: Running) -> None:
    client = await herald.authed()
    await _create(client, ATM)
    for wanted, expected in [("fr-CA", "fr"), ("fr", "fr"), ("de", "en"), (None, "en")]:
        body = {"channel": "sms", "to": "+14155550100", "template": "atm-withdrawal", "data": DATA}
        if wanted:
            body["locale"] = wanted
        sent = await client.post("/v1/messages", json=body)
        assert sent.status_code == 202, sent.text
        assert sent.json()["locale"] == expected, wanted
    bad = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100",
                                                   "template": "atm-withdrawal", "data": DATA, "locale": "xx-QQ"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "unknown_locale"


async def test_overrides_change_this_message_only(herald: Running) -> None:
    client = await herald.authed()
    await _create(client, ATM)
    sent = await client.post("/v1/messages", json={
        "channel": "sms", "to": "+14155550100", "template": "atm-withdrawal", "data": DATA,
        "overrides": {"body": "URGENT {{ contact.first_name }}: call us about card {{ event.card | mask }}."}})
    assert sent.status_code == 202, sent.text
    msg = (await client.get(f"/v1/messages/{sent.json()['id']}")).json()
    assert msg["content"]["body"] == "URGENT Jane: call us about card XXXXXXXXXXXX9876."
    tpl = (await client.get("/v1/templates/atm-withdrawal")).json()
    assert tpl["version"] == 1
    assert tpl["variants"]["en"]["body"] == ATM["variants"]["en"]["body"]  # type: ignore[index]


async def test_missing_variable_fails_the_message_never_sends_it(herald: Running) -> None:
    client = await herald.authed()
    await _create(client, ATM)
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100",
                                                    "template": "atm-withdrawal", "data": {"event": DATA["event"]}})
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["code"] == "render_error"
    assert "contact" in problem["detail"]
    msg = (await client.get(f"/v1/messages/{problem['message_id']}")).json()
    assert (msg["state"], msg["reason"]) == ("failed", "render_error")
    assert msg["content"] == {}


async def test_save_time_errors_have_line_and_column(herald: Running) -> None:
    client = await herald.authed()
    cases = [
        ({"body": "Hello {{ contact.name "}, "syntax_error"),
        ({"body": "Hi\n{{ contact.name | shout }}"}, "unknown_filter"),
        ({"body": "{% include 'secrets' %}"}, None),
    ]
    for parts, code in cases:
        resp = await client.post("/v1/templates", json={"name": "bad", "channel": "sms", "variants": {"en": parts}})
        assert resp.status_code == 422, (parts, resp.text)
        problem = resp.json()
        if code:
            assert problem["code"] == code
            assert problem["errors"][0]["line"] >= 1
            assert problem["errors"][0]["field"] == "variants.en.body"
    for body, code in [
        ({"name": "x", "channel": "sms", "variants": {"en": {"text": "hi"}}}, "unknown_part"),
        ({"name": "x", "channel": "sms", "variants": {"en": {"body": "hi"}}, "default_locale": "fr"},
         "missing_default_locale"),
        ({"name": "x", "channel": "sms", "variants": {"zz-ZZ-ZZ": {"body": "hi"}}}, "unknown_locale"),
        ({"name": "x", "channel": "fax", "variants": {"en": {"body": "hi"}}}, "unknown_channel"),
    ]:
        resp = await client.post("/v1/templates", json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == code
    await _create(client, ATM)
    dup = await client.post("/v1/templates", json=ATM)
    assert dup.status_code == 409
    assert dup.json()["code"] == "template_name_taken"


async def test_variables_missing_from_sample_data_are_warnings(herald: Running) -> None:
    client = await herald.authed()
    tpl = await _create(client, {**ATM, "name": "warn", "sample_data": {"contact": {"first_name": "L"}}})
    missing = {w["variable"] for w in tpl["warnings"]}
    assert "event.amount" in missing
    assert "contact.first_name" not in missing


async def test_email_from_mjml_with_escaping_and_preview(herald: Running) -> None:
    client = await herald.authed()
    tpl = await _create(client, {
        "name": "statement", "channel": "email",
        "variants": {"en": {
            "subject": "Your statement, {{ contact.first_name }}",
            "mjml": "<mjml><mj-body><mj-section><mj-column><mj-text color=\"#333\">Hello "
                    "{{ contact.first_name }}, <a href=\"{{ event.url }}\">see your statement</a>"
                    "</mj-text></mj-column></mj-section></mj-body></mjml>"}},
        "sample_data": {"contact": {"first_name": "Lisa"}, "event": {"url": "https://bank.example/s/1"}},
    })
    assert "<html" in tpl["prepared"]["en"]["html"].lower()
    assert "mjml" in tpl["variants"]["en"]
    preview = await client.post(f"/v1/templates/{tpl['id']}/preview", json={})
    assert preview.status_code == 200, preview.text
    out = preview.json()
    assert "Lisa" in out["parts"]["html"]
    assert "https://bank.example/s/1" in [link["url"] for link in out["analysis"]["links"]]
    assert out["analysis"]["size"] > 0
    assert "Lisa" in out["parts"]["text"]
    evil = {"contact": {"first_name": "<script>alert(1)</script>"}, "event": {"url": "https://x.example"}}
    sent = await client.post("/v1/messages", json={"channel": "email", "to": "jane@example.com",
                                                    "template": "statement", "data": evil})
    assert sent.status_code == 202, sent.text
    content = (await client.get(f"/v1/messages/{sent.json()['id']}")).json()["content"]
    assert "<script>" not in content["html"]
    assert "&lt;script&gt;" in content["html"]
    assert content["subject"] == "Your statement, <script>alert(1)</script>"  # a subject is not HTML


async def test_sms_preview_analysis_and_segment_limit(herald: Running) -> None:
    client = await herald.authed()
    tpl = await _create(client, {"name": "long", "channel": "sms", "variants": {"en": {
        "body": "{{ contact.first_name }} 😀 {% for i in (1..n) %}long text {% endfor %}"}},
        "sample_data": {"contact": {"first_name": "Lisa"}, "n": 3}})
    preview = (await client.post(f"/v1/templates/{tpl['id']}/preview", json={})).json()
    assert preview["analysis"]["encoding"] == "UCS-2"
    assert "😀" in preview["analysis"]["ucs2_characters"]
    assert preview["analysis"]["segments"] == 1
    huge = await client.post(f"/v1/templates/{tpl['id']}/preview", json={"data": {"contact": {"first_name": "L"},
                                                                                    "n": 200}})
    assert huge.status_code == 413
    assert huge.json()["code"] == "too_many_segments"


async def test_archived_templates_cannot_be_used(herald: Running) -> None:
    client = await herald.authed()
    tpl = await _create(client, ATM)
    assert (await client.delete(f"/v1/templates/{tpl['id']}")).status_code == 204
    assert (await client.get(f"/v1/templates/{tpl['id']}")).status_code == 404
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100",
                                                    "template": "atm-withdrawal", "data": DATA})
    assert resp.status_code == 404
    assert resp.json()["code"] == "template_not_found"
    assert (await client.post("/v1/templates", json=ATM)).status_code == 201  # the name is free again
