"""Herald's webhook signatures are the Standard Webhooks ones: a receiver's verifier library accepts them only
if the key decoding, the signed string and the encoding are all exactly the specification's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from herald.channels.base import Envelope, PermanentError, TransientError
from herald.channels.webhook import WebhookProvider, WebhookSettings, outcome, sign, signing_key

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_the_specifications_test_vector_is_reproduced() -> None:
    signature = sign(signing_key(SECRET), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_request_is_signed_over_its_exact_body_with_a_fresh_timestamp() -> None:
    provider = WebhookProvider(WebhookSettings(url="https://crm.example/hooks", secret=SECRET))
    envelope = Envelope("msg_1", "webhook", "C-1", {"json": {"title": "Bill ready", "name": 'A "q"'}},
                        created_at=datetime(2026, 12, 3, tzinfo=UTC))
    body, headers = provider.request(envelope, now=1_800_000_000)
    assert body == b'{"id":"msg_1","to":"C-1","created_at":"2026-12-03T00:00:00+00:00",' \
                   b'"data":{"title":"Bill ready","name":"A \\"q\\""}}'
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == "1800000000"
    assert headers["webhook-signature"] == sign(signing_key(SECRET), "msg_1", 1_800_000_000, body)
    assert provider.request(envelope, now=1_800_000_060)[1]["webhook-signature"] != headers["webhook-signature"]


@pytest.mark.parametrize(("settings", "problem"), [
    ({"url": "https://x.example/h", "secret": "not base64!"}, "whsec_"),
    ({"url": "https://x.example/h", "secret": "whsec_c2hvcnQ="}, "24 to 64 bytes"),
    ({"url": "ftp://x.example/h", "secret": SECRET}, "pattern"),
    ({"url": "https://user:pw@x.example/h", "secret": SECRET}, "credentials"),
    ({"url": "https://x.example/h", "secret": SECRET, "headers": {"webhook-id": "x"}}, "set by Herald"),
    ({"url": "https://x.example/h", "secret": SECRET, "headers": {"bad header": "x"}}, "not a header name"),
])
def test_bad_settings_are_refused_with_the_reason(settings: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        WebhookSettings.model_validate(settings)


@pytest.mark.parametrize(("status", "kind"), [(200, None), (204, None), (408, TransientError),
                                              (429, TransientError), (503, TransientError),
                                              (410, PermanentError), (400, PermanentError), (401, PermanentError)])
def test_answers_map_onto_delivered_retried_or_failed(status: int, kind: type[Exception] | None) -> None:
    if kind is None:
        assert outcome("msg_1", status, b"", None).delivered
        return
    with pytest.raises(kind):
        outcome("msg_1", status, b"nope", "3")
