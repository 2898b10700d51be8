"""The Vonage provider's pure parts: the webhook signature (against vectors from Vonage's own SDKs), the mapping
of send answers and delivery receipts, number formats and settings."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from herald.channels.base import PermanentError, Receipt, SendResult, TransientError
from herald.channels.sms.vonage import (
    SPEC,
    VonageProvider,
    VonageSettings,
    authenticate,
    compute_signature,
    parse_delivery_receipt,
    parse_inbound,
    send_outcome,
    to_e164,
    verify_signature,
    wire_number,
)

# Vectors from Vonage's Python SDKs: the md5hash one from nexmo-python's test_check_signature / test_signature
# (secret "secret"), the HMAC ones from vonage-python-sdk's http_client/tests/test_auth.py (secret
# "signature_secret"), which signs with HMAC-MD5 by default.
SDK_SECRET = "signature_secret"
PARAMS = {"param1": "value1", "param2": "value2", "timestamp": "1234567890"}


@pytest.mark.parametrize(
    ("secret", "params", "method", "expected"),
    [
        ("secret", {"a": "1", "b": "2", "timestamp": "1461605396"}, "md5hash", "6af838ef94998832dbfc29020b564830"),
        (SDK_SECRET, PARAMS, "md5", "724c2bf6ca423c36e20631b11d1c5753"),
        (SDK_SECRET, PARAMS, "sha256", "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"),
        (SDK_SECRET, {"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}, "md5",
         "2bbf0abafb2c55e5af6231513896a2ac"),  # & and = in values are signed as _
        (SDK_SECRET, {"param": "value", "timestamp": "1234567890"}, "md5", "655a4d0b7f064dff438defc52b012cf5"),
    ],
)
def test_signature_matches_vonage_sdk_vectors(secret: str, params: dict[str, str], method: Any, expected: str):
    assert compute_signature(secret, params, method) == expected
    assert compute_signature(secret, dict(reversed(params.items())), method) == expected  # sorted by name
    signed = {**params, "sig": expected}
    assert compute_signature(secret, signed, method) == expected  # sig itself is not signed
    assert verify_signature(secret, signed, method) is True
    assert verify_signature(secret, {**params, "sig": expected.upper()}, method) is True  # HMAC sigs come upper
    assert verify_signature("other-secret", signed, method) is False
    assert verify_signature(secret, {**signed, "timestamp": "1234567891"}, method) is False
    assert verify_signature(secret, {**signed, "extra": "x"}, method) is False
    assert verify_signature(secret, params, method) is False
    assert verify_signature(secret, {**params, "sig": ""}, method) is False


def test_sha1_and_sha512_are_hmacs_of_the_same_string():
    base = b"&param1=value1&param2=value2&timestamp=1234567890"
    for method in ("sha1", "sha512"):
        expected = hmac.new(SDK_SECRET.encode(), base, getattr(hashlib, method)).hexdigest()
        assert compute_signature(SDK_SECRET, PARAMS, method) == expected  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown signature method"):
        compute_signature(SDK_SECRET, PARAMS, "sha3")  # type: ignore[arg-type]


def settings(**changes: Any) -> VonageSettings:
    return VonageSettings(**{"api_key": "abcd1234", "api_secret": "s3cret", "from_number": "+14155550199",
                             **changes})


def test_authenticate_uses_the_signature_when_there_is_a_secret_else_the_api_key():
    params = {"messageId": "0A1", "status": "delivered", "api-key": "abcd1234", "timestamp": "1700000000"}
    assert authenticate(settings(), params) is True
    assert authenticate(settings(), {**params, "api-key": "abcd1235"}) is False
    assert authenticate(settings(), {k: v for k, v in params.items() if k != "api-key"}) is False
    signed = settings(signature_secret="sig-secret", signature_method="sha256")
    assert authenticate(signed, params) is False  # the right api-key is not enough once signing is on
    good = {**params, "sig": compute_signature("sig-secret", params, "sha256")}
    assert authenticate(signed, good) is True
    assert authenticate(signed, {**good, "status": "failed"}) is False
    assert authenticate(settings(signature_secret="sig-secret"), good) is False  # md5hash expected


def answer(*parts: dict[str, Any]) -> bytes:
    return json.dumps({"message-count": str(len(parts)), "messages": list(parts)}).encode()


OK_PART = {"to": "14155550100", "message-id": "id-1", "status": "0", "remaining-balance": "9.9",
           "message-price": "0.04", "network": "310260"}


@pytest.mark.parametrize(
    ("status", "raw", "retry_after", "error", "attrs"),
    [
        (200, answer({"status": "1", "error-text": "Throttled"}), None, TransientError,
         {"code": "1", "retry_after": 1.0, "maybe_sent": False}),
        (200, answer({"status": "5", "error-text": "Internal Error"}), None, TransientError,
         {"code": "5", "maybe_sent": False}),
        (200, answer({"status": "9", "error-text": "Quota Exceeded - rejected"}), None, TransientError,
         {"code": "9", "retry_after": 60.0}),
        (200, answer({"status": "2", "error-text": "Missing to param"}), None, PermanentError, {"code": "2"}),
        (200, answer({"status": "3"}), None, PermanentError,
         {"code": "3", "message": "Vonage status 3: Invalid parameters"}),
        (200, answer({"status": "4", "error-text": "Bad Credentials"}), None, PermanentError, {"code": "4"}),
        (200, answer({"status": "6"}), None, PermanentError, {"code": "6"}),
        (200, answer({"status": "7", "error-text": "Number barred."}), None, PermanentError, {"code": "7"}),
        (200, answer({"status": "12"}), None, PermanentError, {"code": "12"}),
        (200, answer({"status": "14"}), None, PermanentError, {"code": "14"}),
        (200, answer({"status": "15"}), None, PermanentError, {"code": "15"}),
        (200, answer({"status": "29"}), None, PermanentError,
         {"message": "Vonage status 29: Non-whitelisted destination"}),
        (200, answer({"status": "33"}), None, PermanentError, {"code": "33"}),
        (200, answer({"status": "77"}), None, PermanentError, {"message": "Vonage status 77: Vonage error"}),
        (200, b"<html>oops</html>", None, TransientError, {"maybe_sent": True}),
        (200, answer(), None, TransientError, {"maybe_sent": True}),
        (200, answer({"status": "0"}), None, TransientError, {"maybe_sent": True}),  # no message-id
        (429, b"slow down", "7", TransientError, {"code": "429", "retry_after": 7.0}),
        (500, b"", None, TransientError, {"code": "500", "maybe_sent": False}),
        (502, b"bad gateway", None, TransientError, {"code": "502", "maybe_sent": True}),
        (401, b"Unauthorized", None, PermanentError, {"code": "401"}),
    ],
)
def test_send_outcome_maps_every_status(status: int, raw: bytes, retry_after: str | None,
                                        error: type[Exception], attrs: dict[str, Any]):
    with pytest.raises(error) as caught:
        send_outcome(status, raw, retry_after)
    assert type(caught.value) is error
    for name, value in attrs.items():
        assert getattr(caught.value, name) == value, name


def test_a_long_message_is_its_first_part_and_a_later_refusal_is_reported():
    second = {**OK_PART, "message-id": "id-2"}
    assert send_outcome(200, answer(OK_PART, second), None) == SendResult("id-1", code="0")
    partial = send_outcome(200, answer(OK_PART, {"status": "5", "error-text": "Internal Error"}), None)
    assert partial == SendResult("id-1", code="5", detail="part 2 of 2 refused: Vonage status 5: Internal Error")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"messageId": "A1", "status": "delivered", "err-code": "0", "client-ref": "msg_1"},
         Receipt("A1", "delivered", None, "Vonage: delivered", "msg_1")),
        ({"messageId": "A1", "status": "expired", "err-code": "2"},
         Receipt("A1", "undelivered", "2", "Vonage: expired (2 Absent subscriber - temporary)")),
        ({"messageId": "A1", "status": "failed", "err-code": "3"},
         Receipt("A1", "bounced", "3", "Vonage: failed (3 Absent subscriber - permanent)")),
        ({"messageId": "A1", "status": "rejected", "err-code": "4"},
         Receipt("A1", "bounced", "4", "Vonage: rejected (4 Call barred by user)")),
        ({"messageId": "A1", "status": "failed", "err-code": "6"},
         Receipt("A1", "failed", "6", "Vonage: failed (6 Anti-spam rejection)")),
        ({"messageId": "A1", "status": "rejected", "err-code": "53"},
         Receipt("A1", "failed", "53", "Vonage: rejected (error 53)")),
        ({"messageId": "A1", "status": "accepted", "err-code": "0"}, None),
        ({"messageId": "A1", "status": "buffered", "err-code": "0"}, None),
        ({"messageId": "A1", "status": "unknown", "err-code": "1"}, None),
        ({"status": "delivered"}, None),
    ],
)
def test_parse_delivery_receipt(params: dict[str, str], expected: Receipt | None):
    assert parse_delivery_receipt(params) == expected


def test_parse_inbound_needs_the_ids_and_keeps_an_empty_binary_body():
    params = {"messageId": "0A0000", "msisdn": "14155550123", "to": "14155550199", "type": "binary"}
    sms = parse_inbound(params)
    assert sms is not None
    assert (sms.message_id, sms.sender, sms.to, sms.text) == ("0A0000", "14155550123", "14155550199", "")
    for missing in ("messageId", "msisdn", "to"):
        assert parse_inbound({k: v for k, v in params.items() if k != missing}) is None


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("14155550123", "US", "+14155550123"),  # Vonage's format: international without +
        ("+14155550123", "US", "+14155550123"),
        ("447911123456", "US", "+447911123456"),
        ("4155550123", "US", "+14155550123"),  # national: read against the workspace's region
        ("07911 123456", "GB", "+447911123456"),
        ("447700900123", "US", "+447700900123"),  # fiction range: not assigned, still well-formed
        ("12345", "US", "12345"),  # a short code
        ("HERALD", "US", "HERALD"),  # an alphanumeric sender
    ],
)
def test_to_e164(raw: str, region: str, expected: str):
    assert to_e164(raw, region) == expected


def test_wire_number_drops_the_plus_only():
    assert (wire_number("+14155550100"), wire_number("HERALD"), wire_number("14155550100")) == (
        "14155550100", "HERALD", "14155550100")


@pytest.mark.parametrize(
    "changes",
    [
        {"api_key": ""}, {"api_key": "has space"}, {"from_number": "not a valid sender"}, {"from_number": "+0"},
        {"signature_method": "sha3"}, {"base_url": "ftp://x"}, {"timeout": 0.5}, {"max_connections": 0},
        {"unexpected": 1},
    ],
)
def test_settings_validation_rejects(changes: dict[str, Any]):
    with pytest.raises(ValidationError):
        settings(**changes)


def test_settings_defaults_and_spec_declares_secrets():
    s = settings(from_number="HERALD")
    assert (s.base_url, s.signature_method, s.signature_secret) == ("https://rest.nexmo.com", "md5hash", None)
    assert isinstance(settings(signature_secret="x").signature_secret, SecretStr)
    assert "s3cret" not in repr(s)
    assert SPEC.kind == "vonage"
    assert SPEC.channels == frozenset({"sms"})
    assert SPEC.secret_field_names() == ("api_secret", "signature_secret")
    assert isinstance(SPEC.factory(s, None), VonageProvider)
