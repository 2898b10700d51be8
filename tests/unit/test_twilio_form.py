"""The Twilio provider's hand-built create-message form is exactly what ``urlencode`` makes of the fields."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.channels.base import Envelope
from herald.channels.sms.twilio import TwilioProvider, TwilioSettings

SID, TOKEN = "AC" + "0" * 32, "token"
CALLBACK = "https://herald.example.com/webhooks/twilio/prv_01ABC/status?mid="


def _envelope(to: str, body: str, sender: str | None, callback: str | None) -> Envelope:
    return Envelope(message_id="msg_1", channel="sms", to=to, content={"body": body}, sender=sender,
                    callback_url=callback, created_at=datetime.now(UTC), headers={})


def _expected(env: Envelope, body: str, from_number: str | None, service: str | None) -> str:
    form = {"To": env.to, "Body": body}
    if env.sender or from_number:
        form["From"] = env.sender or from_number or ""
    else:
        form["MessagingServiceSid"] = service or ""
    if env.callback_url:
        form["StatusCallback"] = env.callback_url
    return urlencode(form)


@pytest.mark.parametrize(("sender", "from_number", "service", "callback"), [
    (None, "+15005550006", None, CALLBACK + "msg_01XYZ"),
    ("Acme Bank", "+15005550006", None, CALLBACK + "msg_2"),
    (None, None, "MG" + "2" * 32, CALLBACK + "msg_3"),
    (None, "+15005550006", None, None),
    (None, "+15005550006", None, "https://h.example/cb?a=1&b=ä ö+"),
    (None, "+15005550006", None, "https://h.example/no-query"),
])
def test_form_matches_urlencode(sender: str | None, from_number: str | None, service: str | None,
                                callback: str | None) -> None:
    provider = TwilioProvider(TwilioSettings(account_sid=SID, auth_token=TOKEN, from_number=from_number,
                                             messaging_service_sid=service))
    for body in ("Hello 1", "Grüße & 50% off: https://x.example/?a=b+c 😀", "a\nb\r\nc=d&e"):
        env = _envelope("+447700900123", body, sender, callback)
        for _ in range(2):  # the second time from the remembered encodings
            assert provider._form(env, body).decode() == _expected(env, body, from_number, service)


@given(st.text(min_size=1, max_size=200), st.text(max_size=80), st.text(max_size=20))
def test_form_round_trips_any_text(body: str, prefix: str, mid: str) -> None:
    provider = TwilioProvider(TwilioSettings(account_sid=SID, auth_token=TOKEN, from_number="+15005550006"))
    callback = f"https://h.example/{prefix}?mid={mid}"
    env = _envelope("+447700900123", body, None, callback)
    encoded = provider._form(env, body).decode()
    assert encoded == _expected(env, body, "+15005550006", None)
    assert dict(parse_qsl(encoded, keep_blank_values=True))["StatusCallback"] == callback
