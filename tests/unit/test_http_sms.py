"""The generic HTTP gateway provider without a network: request templates (body, query, headers), answer rules
(success status and value, transient statuses, message id by path or regex) and settings validation."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from herald.channels.base import Envelope, PermanentError, TransientError
from herald.channels.sms.httpsms import HttpSmsProvider, HttpSmsSettings, lookup

BASE: dict[str, Any] = {"url": "https://sms.example/api/send", "from_number": "HERALD"}


def provider(**values: Any) -> HttpSmsProvider:
    return HttpSmsProvider(HttpSmsSettings(**{**BASE, "body": {"to": "{{ to_digits }}", "msg": "{{ text }}"},
                                              **values}))


def envelope(body: str = "Your code is 123456", **extra: Any) -> Envelope:
    return Envelope(message_id="msg_01TEST", channel="sms", to="+254712345678", content={"body": body}, **extra)


def test_form_body_renders_every_variable() -> None:
    p = provider(body={"to": "{{ to_digits }}", "e164": "{{ to }}", "sender": "{{ from }}", "text": "{{ text }}",
                       "ref": "{{ message_id }}", "uc": "{% if unicode %}1{% else %}0{% endif %}",
                       "parts": "{{ segments }}"})
    kwargs = p.request(envelope(), "Your code is 123456")
    assert kwargs["data"] == {"to": "254712345678", "e164": "+254712345678", "sender": "HERALD",
                              "text": "Your code is 123456", "ref": "msg_01TEST", "uc": "0", "parts": "1"}
    assert (kwargs["method"], str(kwargs["url"])) == ("POST", "https://sms.example/api/send")
    assert "json" not in kwargs


def test_unicode_long_text_sender_override_and_json_body() -> None:
    p = provider(body_format="json", body={"from": "{{ from }}", "uc": "{{ unicode }}", "n": "{{ segments }}"})
    kwargs = p.request(envelope(sender="+14155550199"), "ç" * 71)
    assert kwargs["json"] == {"from": "+14155550199", "uc": "true", "n": "2"}
    assert "data" not in kwargs


def test_get_query_is_added_to_the_url_query_and_headers_render() -> None:
    p = HttpSmsProvider(HttpSmsSettings(**BASE | {"url": "https://sms.example/send?apikey=x", "method": "GET",
                                                  "body_format": "none",
                                                  "query": {"to": "{{ to_digits }}", "text": "{{ text | upcase }}"},
                                                  "headers": {"X-Ref": "herald-{{ message_id }}"}}))
    kwargs = p.request(envelope(), "hi & bye")
    assert str(kwargs["url"]) == "https://sms.example/send?apikey=x&to=254712345678&text=HI+%26+BYE"
    assert kwargs["headers"] == {"X-Ref": "herald-msg_01TEST"}
    assert "data" not in kwargs
    assert "json" not in kwargs


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        ({"auth": "bearer", "token": "t0k"}, ("Authorization", "Bearer t0k")),
        ({"auth": "header", "auth_header": "X-Api-Key", "token": "k3y"}, ("X-Api-Key", "k3y")),
    ],
)
def test_token_auth_goes_in_a_header(auth: dict[str, str], header: tuple[str, str]) -> None:
    kwargs = provider(**auth).request(envelope(), "hi")
    assert kwargs["headers"][header[0]] == header[1]


def test_basic_auth_and_credentials_as_fields() -> None:
    p = provider(auth="basic", username="acme", password="pa55", body={"user": "{{ username }}",
                                                                       "pass": "{{ password }}", "t": "{{ text }}"})
    kwargs = p.request(envelope(), "hi")
    assert kwargs["headers"]["Authorization"] == "Basic " + base64.b64encode(b"acme:pa55").decode()
    assert kwargs["data"] == {"user": "acme", "pass": "pa55", "t": "hi"}


def test_a_header_rendering_a_line_break_is_refused() -> None:
    p = provider(headers={"X-Text": "{{ text }}"})
    with pytest.raises(PermanentError) as caught:
        p.request(envelope(), "a\r\nX-Evil: 1")
    assert caught.value.code == "template"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("data.0.id", "abc"), ("/data/0/id", "abc"), ("/a~1b", 1), ("ok", True)],
)
def test_lookup_dotted_paths_and_json_pointers(path: str, expected: Any) -> None:
    assert lookup({"data": [{"id": "abc"}], "a/b": 1, "ok": True}, path) == expected


def test_lookup_missing_raises_key_error() -> None:
    for path in ("data.1.id", "data.x", "nope", "/data/0/id/deeper"):
        with pytest.raises(KeyError):
            lookup({"data": [{"id": "abc"}]}, path)


STRICT = {"success_path": "status", "success_value": "OK", "message_id_path": "result.id"}


def test_success_with_value_and_id() -> None:
    result = provider(**STRICT).outcome(200, b'{"status": "OK", "result": {"id": 42}}', None)
    assert (result.provider_message_id, result.code, result.detail) == ("42", "200", None)


def test_success_value_mismatch_is_permanent_with_the_gateway_value_as_code() -> None:
    with pytest.raises(PermanentError) as caught:
        provider(**STRICT).outcome(200, b'{"status": "ERR_NUMBER", "error": "bad number"}', None)
    assert caught.value.code == "ERR_NUMBER"
    assert "bad number" in caught.value.message
    with pytest.raises(PermanentError) as missing:
        provider(**STRICT).outcome(200, b'{"error": "no"}', None)
    assert missing.value.code == "rejected"


def test_unreadable_answer_under_a_success_rule_is_maybe_sent() -> None:
    with pytest.raises(TransientError) as caught:
        provider(**STRICT).outcome(200, b"<html>gateway</html>", None)
    assert caught.value.maybe_sent is True


def test_text_answers_and_regex_ids() -> None:
    p = provider(message_id_regex=r"OK: ([0-9a-f]+)")
    assert p.outcome(202, b"OK: 1a2b3c", None).provider_message_id == "1a2b3c"
    whole = provider(message_id_regex=r"[0-9]{6}").outcome(200, b"queued 123456", None)
    assert whole.provider_message_id == "123456"
    absent = p.outcome(200, b"queued", None)
    assert (absent.provider_message_id, absent.detail) == (None, "no message id in the answer")
    assert provider().outcome(200, b"", None).provider_message_id is None


@pytest.mark.parametrize(
    ("status", "error", "attrs"),
    [
        (429, TransientError, {"code": "429", "retry_after": 7.0, "maybe_sent": False}),
        (500, TransientError, {"code": "500", "maybe_sent": False}),
        (502, TransientError, {"code": "502", "maybe_sent": True}),
        (418, TransientError, {"code": "418"}),
        (400, PermanentError, {"code": "400"}),
        (401, PermanentError, {"code": "401"}),
        (201, PermanentError, {"code": "201"}),
    ],
)
def test_status_rules(status: int, error: type[Exception], attrs: dict[str, Any]) -> None:
    p = provider(success_statuses=[200, "202-204"], transient_statuses=[429, 418, "500-599"])
    with pytest.raises(error) as caught:
        p.outcome(status, b'{"status": "ERROR"}', "7")
    assert type(caught.value) is error
    for name, value in attrs.items():
        assert getattr(caught.value, name) == value, name


def test_secrets_are_blanked_out_of_error_excerpts() -> None:
    p = provider(auth="bearer", token="sekrit-token-1")
    with pytest.raises(PermanentError) as caught:
        p.outcome(401, b'{"error": "token sekrit-token-1 is not valid"}', None)
    assert "sekrit" not in caught.value.message
    assert "token *** is not valid" in caught.value.message


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({"body": {"text": "{{ text "}}, "body.text", "invalid template"),
        ({"body": {"text": "{{ text | nosuch }}"}}, "body.text", "unknown filter"),
        ({"body": {"text": "{% include 'x' %}"}}, "body.text", "invalid template"),
        ({"query": {"to": "{{ recipient }}"}}, "query.to", "unknown variable 'recipient'"),
        ({"headers": {"X-A": "{{ contact.name }}"}}, "headers.X-A", "unknown variable 'contact'"),
        ({"headers": {"Bad Header": "x"}}, "headers.Bad Header.[key]", "pattern"),
        ({"url": "ftp://sms.example"}, "url", "pattern"),
        ({"method": "GET"}, "", "GET request has no body"),
        ({"body_format": "none"}, "", "needs body_format"),
        ({"auth": "basic", "username": "u"}, "", "needs 'password'"),
        ({"auth": "header", "token": "t"}, "", "needs 'auth_header'"),
        ({"body": {"p": "{{ password }}"}}, "", "body.p uses 'password'"),
        ({"success_path": "status"}, "", "go together"),
        ({"message_id_regex": "(a)(b)"}, "", "at most one group"),
        ({"message_id_regex": "(unclosed"}, "", "message_id_regex"),
        ({"success_statuses": ["2xx"]}, "success_statuses.0.", "pattern"),
        ({"webhook_token": "short"}, "webhook_token", "at least 16"),
    ],
)
def test_settings_refuse_bad_templates_and_inconsistent_options(values: dict[str, Any], field: str,
                                                                fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HttpSmsSettings(**{**BASE, "body": {"to": "{{ to }}"}, **values})
    errors = caught.value.errors()
    locs = [".".join(str(p) for p in e["loc"]) for e in errors]
    assert any(loc.startswith(field) for loc in locs), locs
    assert any(fragment in e["msg"] for e in errors), [e["msg"] for e in errors]


def test_default_status_rules_and_secret_fields() -> None:
    from herald.channels.sms.httpsms import SPEC

    s = HttpSmsSettings(**BASE, body={"t": "{{ text }}"})
    assert (s.success_statuses, s.transient_statuses) == (["200-299"], [429, "500-599"])
    assert set(SPEC.secret_field_names()) == {"password", "token", "webhook_token"}
