"""The Clickatell provider's pure parts: the mapping of send answers (both code tables) and of status and reply
callbacks (flat Platform and One API shapes), callback token authentication, and settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from herald.channels.base import PermanentError, Receipt, SendResult, TransientError
from herald.channels.sms.clickatell import (
    SPEC,
    ClickatellProvider,
    ClickatellSettings,
    InboundSms,
    authenticate,
    parse_inbound,
    parse_status_callback,
    send_outcome,
)

TOKEN = "a-webhook-token-0123456789"


def settings(**changes: Any) -> ClickatellSettings:
    return ClickatellSettings(**{"api_key": "key==", "webhook_token": TOKEN, **changes})


def answer(*entries: dict[str, Any], error: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"messages": list(entries), "error": error}).encode()


def refused(code: Any, description: str = "") -> dict[str, Any]:
    return {"apiMessageId": None, "accepted": False, "to": "447700900123",
            "error": {"code": code, "description": description, "documentation": "https://docs.example"}}


OK = {"apiMessageId": "77fb29998253415fa5d66971d519d362", "accepted": True, "to": "447700900123", "error": None}


def test_an_accepted_message_is_its_api_message_id():
    assert send_outcome(202, answer(OK), None) == SendResult("77fb29998253415fa5d66971d519d362", code="202")
    assert send_outcome(200, answer({**OK, "clientMessageId": "msg_1"}), None).provider_message_id == OK[
        "apiMessageId"]


@pytest.mark.parametrize(
    ("status", "raw", "retry_after", "error", "attrs"),
    [
        # The Platform REST table.
        (400, answer(refused("101", "Invalid or missing parameters")), None, PermanentError, {"code": "101"}),
        (400, answer(refused("105", "Invalid destination address")), None, PermanentError,
         {"code": "105", "message": "Clickatell error 105: Invalid destination address"}),
        (401, answer(error={"code": "108"}), None, PermanentError,
         {"code": "108", "message": "Clickatell error 108: Invalid or missing API key"}),
        (400, answer(refused("114")), None, PermanentError, {"code": "114"}),
        (400, answer(refused("121", "Destination mobile number blocked")), None, PermanentError, {"code": "121"}),
        (400, answer(refused("301", "No credit left")), None, TransientError, {"code": "301", "retry_after": 60.0}),
        (400, answer(refused("001")), None, PermanentError, {"code": "1"}),  # zero-padded codes are read as numbers
        # The One API table.
        (401, answer(error={"code": 1, "description": "Invalid or missing Integration API Key"}), None,
         PermanentError, {"code": "1"}),
        (400, answer(refused(25, "Invalid recipient address")), None, PermanentError, {"code": "25"}),
        (400, answer(refused(26, "Recipient opted out")), None, PermanentError, {"code": "26"}),
        (400, answer(error={"code": 43, "description": "Rate limit"}), None, TransientError,
         {"code": "43", "retry_after": 1.0}),
        (200, answer(refused(77)), None, PermanentError, {"message": "Clickatell error 77: Clickatell error"}),
        # HTTP outcomes.
        (429, answer(error={"code": 43, "description": "Rate limit"}), "7", TransientError,
         {"code": "43", "retry_after": 7.0, "maybe_sent": False}),
        (429, b"slow down", None, TransientError, {"code": "429", "retry_after": None}),
        (402, answer(error={"code": 20, "description": "Insufficient account balance"}), None, TransientError,
         {"code": "20", "retry_after": 60.0}),
        (500, b"", None, TransientError, {"code": "500", "maybe_sent": False}),
        (503, answer(error={"code": 19}), None, TransientError, {"code": "19", "maybe_sent": False}),
        (502, b"bad gateway", None, TransientError, {"code": "502", "maybe_sent": True}),
        (408, b"", None, TransientError, {"code": "408"}),
        (403, b"Forbidden", None, PermanentError, {"code": "403"}),
        (404, b"", None, PermanentError, {"code": "404", "message": "Clickatell HTTP 404: empty answer"}),
        # Unreadable 2xx answers: Clickatell may have taken the message.
        (202, b"<html>oops</html>", None, TransientError, {"maybe_sent": True}),
        (202, answer(), None, TransientError, {"maybe_sent": True}),
        (202, answer({**OK, "apiMessageId": None}), None, TransientError, {"maybe_sent": True}),
    ],
)
def test_send_outcome_maps_every_status(status: int, raw: bytes, retry_after: str | None,
                                        error: type[Exception], attrs: dict[str, Any]):
    with pytest.raises(error) as caught:
        send_outcome(status, raw, retry_after)
    assert type(caught.value) is error
    for name, value in attrs.items():
        assert getattr(caught.value, name) == value, name


def platform(code: int, name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"integrationName": "herald", "messageId": "api-1", "requestId": "req-1", "clientMessageId": "msg_1",
            "to": "447700900123", "from": "", "statusCode": code, "status": name,
            "statusDescription": description, "timestamp": 1700000000000, **extra}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (platform(4, "RECEIVED_BY_RECIPIENT", "Received by recipient"),
         Receipt("api-1", "delivered", None, "Clickatell: 4 received_by_recipient (Received by recipient)",
                 "msg_1")),
        (platform(3, "DELIVERED_TO_GATEWAY"), Receipt("api-1", "sent", None, "Clickatell: 3 delivered_to_gateway",
                                                      "msg_1")),
        ({**platform(4, ""), "statusCode": "004", "status": None}, Receipt("api-1", "delivered", None,
                                                                           "Clickatell: 4", "msg_1")),
        (platform(7, "ERROR_DELIVERING_MESSAGE"),
         Receipt("api-1", "undelivered", "7", "Clickatell: 7 error_delivering_message", "msg_1")),
        (platform(10, "MESSAGE_EXPIRED"), Receipt("api-1", "undelivered", "10", "Clickatell: 10 message_expired",
                                                  "msg_1")),
        (platform(5, "ERROR_WITH_MESSAGE"), Receipt("api-1", "failed", "5", "Clickatell: 5 error_with_message",
                                                    "msg_1")),
        (platform(9, "ROUTING_ERROR"), Receipt("api-1", "failed", "9", "Clickatell: 9 routing_error", "msg_1")),
        (platform(12, "OUT_OF_CREDIT"), Receipt("api-1", "failed", "12", "Clickatell: 12 out_of_credit", "msg_1")),
        (platform(7, "ERROR_DELIVERING_MESSAGE", "Destination mobile number blocked"),
         Receipt("api-1", "bounced", "7",
                 "Clickatell: 7 error_delivering_message (Destination mobile number blocked)", "msg_1")),
        # One API names win over the clashing numbers: 5 is DEVICE_ACK there.
        (platform(5, "DEVICE_ACK"), Receipt("api-1", "delivered", None, "Clickatell: 5 device_ack", "msg_1")),
        (platform(29, "RECIPIENT_DOES_NOT_EXIST"),
         Receipt("api-1", "bounced", "29", "Clickatell: 29 recipient_does_not_exist", "msg_1")),
        ({**platform(4, "RECEIVED_BY_RECIPIENT"), "clientMessageId": ""},
         Receipt("api-1", "delivered", None, "Clickatell: 4 received_by_recipient", None)),
    ],
)
def test_parse_status_callback(body: dict[str, Any], expected: Receipt):
    assert parse_status_callback(body) == [expected]


@pytest.mark.parametrize("body", [platform(2, "MESSAGE_QUEUED"), platform(1, "MESSAGE_NOT_FOUND"),
                                  platform(11, "DELAYED"), platform(4, "RECEIVED_BY_RECIPIENT", messageId=""),
                                  platform(2, "QUEUED"), {"status": "RECEIVED_BY_RECIPIENT"}, {}])
def test_status_callbacks_that_are_not_final_or_not_about_a_message_give_nothing(body: dict[str, Any]):
    assert parse_status_callback(body) == []


def test_the_one_api_envelope_lists_several_updates():
    body = {"integrationId": "x", "integrationName": "herald", "event": {"messageStatusUpdate": [
        {"channel": "sms", "messageId": "a", "clientMessageId": "msg_a", "statusCode": 5, "status": "DEVICE_ACK"},
        {"channel": "sms", "messageId": "b", "statusCode": 23, "status": "DELIVERY_FAILURE"},
        "junk"]}}
    assert [(r.provider_message_id, r.state, r.herald_message_id) for r in parse_status_callback(body)] == [
        ("a", "delivered", "msg_a"), ("b", "undelivered", None)]


def test_parse_inbound_reads_both_shapes_and_needs_the_ids():
    flat = {"integrationName": "herald", "messageId": "orig-1", "replyMessageId": "reply-1",
            "fromNumber": "14155550123", "toNumber": "14155550199", "timestamp": 1700000000000, "text": "STOP",
            "charset": "UTF-8"}
    assert parse_inbound(flat) == [InboundSms("reply-1", "14155550123", "14155550199", "STOP")]
    assert parse_inbound({k: v for k, v in flat.items() if k != "replyMessageId"}) == [
        InboundSms("orig-1", "14155550123", "14155550199", "STOP")]  # the brief's shape: messageId alone
    for missing in ("fromNumber", "toNumber"):
        assert parse_inbound({k: v for k, v in flat.items() if k != missing}) is None
    assert parse_inbound({"fromNumber": "1", "toNumber": "2"}) is None
    one_api = {"event": {"moText": [{"channel": "sms", "messageId": "mo-1", "from": "2799900001",
                                     "to": "2799900002", "content": "Hi 🙂", "charset": "UTF-8"}]}}
    assert parse_inbound(one_api) == [InboundSms("mo-1", "2799900001", "2799900002", "Hi 🙂")]
    assert parse_inbound({"event": {"moText": []}}) is None


def test_authenticate_compares_the_token():
    assert authenticate(settings(), TOKEN) is True
    for wrong in (None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper()):
        assert authenticate(settings(), wrong) is False


@pytest.mark.parametrize(
    "changes",
    [{"webhook_token": "short"}, {"webhook_token": None}, {"from_number": "not a valid sender"},
     {"from_number": "+0"}, {"base_url": "ftp://x"}, {"timeout": 0.5}, {"max_connections": 0}, {"unexpected": 1}],
)
def test_settings_validation_rejects(changes: dict[str, Any]):
    with pytest.raises(ValidationError):
        settings(**changes)


def test_settings_defaults_and_spec_declares_secrets():
    s = settings()
    assert (s.base_url, s.from_number) == ("https://platform.clickatell.com", None)
    assert isinstance(s.api_key, SecretStr)
    assert isinstance(s.webhook_token, SecretStr)
    assert "key==" not in repr(s)
    assert TOKEN not in repr(s)
    assert SPEC.kind == "clickatell"
    assert SPEC.channels == frozenset({"sms"})
    assert SPEC.secret_field_names() == ("api_key", "webhook_token")
    assert isinstance(SPEC.factory(settings(from_number="HERALD"), None), ClickatellProvider)
