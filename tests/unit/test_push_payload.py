"""Push payloads: Apple's and FCM v1's shapes, sizes as sent (compact UTF-8 JSON) and the 4096-byte limit."""

from __future__ import annotations

import json

import pytest

from herald.errors import Invalid, TooLarge
from herald.templates import push
from herald.templates.push import PushTooLarge


def test_apns_basic_shape() -> None:
    payload = push.apns_payload("Hi", "Your order shipped", data={"order_id": "o_1", "n": 3}, badge=2,
                                sound="default")
    assert payload == {
        "aps": {"alert": {"title": "Hi", "body": "Your order shipped"}, "badge": 2, "sound": "default"},
        "order_id": "o_1",
        "n": 3,
    }


def test_apns_rich_push_with_image_is_mutable() -> None:
    payload = push.apns_payload("Hi", "Look", image_url="https://cdn.example.com/a.jpg", kind="rich")
    assert payload["aps"]["mutable-content"] == 1
    assert payload[push.IMAGE_KEY] == "https://cdn.example.com/a.jpg"
    basic = push.apns_payload("Hi", "Look", image_url="https://cdn.example.com/a.jpg")
    assert "mutable-content" not in basic["aps"]
    assert push.IMAGE_KEY not in basic
    assert "mutable-content" not in push.apns_payload("Hi", "Look", kind="rich")["aps"]


def test_apns_without_title_and_reserved_keys() -> None:
    assert push.apns_payload(None, "Body") == {"aps": {"alert": {"body": "Body"}}}
    with pytest.raises(Invalid):
        push.apns_payload("t", "b", data={"aps": {"badge": 1}})
    with pytest.raises(Invalid):
        push.apns_payload("t", "b", badge=-1)
    with pytest.raises(Invalid):
        push.apns_payload("t", "b", kind="fancy")


def test_fcm_shapes() -> None:
    assert push.fcm_payload("Hi", "Body", data={"order_id": "o_1"}) == {
        "message": {"notification": {"title": "Hi", "body": "Body"}, "data": {"order_id": "o_1"}}
    }
    rich = push.fcm_payload("Hi", "Body", image_url="https://cdn.example.com/a.jpg", kind="rich")
    assert rich["message"]["notification"]["image"] == "https://cdn.example.com/a.jpg"
    assert "image" not in push.fcm_payload("Hi", "Body", image_url="https://cdn.example.com/a.jpg")["message"][
        "notification"]
    assert push.fcm_payload(None, "Body") == {"message": {"notification": {"body": "Body"}}}


@pytest.mark.parametrize("value", [3, 1.5, True, None, {"a": 1}, ["x"]])
def test_fcm_data_values_must_be_strings(value: object) -> None:
    with pytest.raises(Invalid) as info:
        push.fcm_payload("t", "b", data={"k": value})
    assert info.value.code == "invalid_push_data"
    assert info.value.field == "data.k"
    assert "must be strings" in str(info.value)


@pytest.mark.parametrize("key", ["from", "notification", "google.sent_time", "gcm.x", ""])
def test_fcm_reserved_data_keys(key: str) -> None:
    with pytest.raises(Invalid):
        push.fcm_payload("t", "b", data={key: "v"})


def test_sizes_are_compact_utf8_json_emoji_counting_four_bytes() -> None:
    sizes = push.payload_sizes("Hi 👋", "Café ☕", data={"k": "v"})
    apns = push.apns_payload("Hi 👋", "Café ☕", data={"k": "v"})
    fcm = push.fcm_payload("Hi 👋", "Café ☕", data={"k": "v"})
    assert sizes["apns"]["bytes"] == len(json.dumps(apns, separators=(",", ":"), ensure_ascii=False).encode())
    assert sizes["fcm"]["bytes"] == len(json.dumps(fcm, separators=(",", ":"), ensure_ascii=False).encode())
    assert push.encode({"b": "👋"}) == '{"b":"👋"}'.encode()  # 4 bytes, not a 12-byte \\ud83d\\udc4b escape
    assert sizes["apns"]["limit"] == sizes["fcm"]["limit"] == 4096
    assert sizes["apns"]["fits"]
    assert sizes["fcm"]["fits"]


def _body_for(size: int, provider: str) -> str:
    """A body (ending in an emoji) making that provider's payload exactly ``size`` bytes."""
    build = push.apns_payload if provider == "apns" else push.fcm_payload
    overhead = len(push.encode(build("T", "")))
    body = "x" * (size - overhead - 4) + "🎉"
    assert len(push.encode(build("T", body))) == size
    return body


@pytest.mark.parametrize("provider", ["apns", "fcm"])
def test_4096_bytes_fit_and_4097_are_refused(provider: str) -> None:
    exact = push.payload_sizes("T", _body_for(4096, provider))[provider]
    assert exact == {"bytes": 4096, "limit": 4096, "fits": True}
    if provider == "fcm":  # FCM's wrapper is the larger one, so the whole check passes too
        push.check_push("T", _body_for(4096, provider))
    with pytest.raises(PushTooLarge) as info:  # APNs is checked first; at FCM's 4097 APNs is still smaller
        push.check_push("T", _body_for(4097, provider))
    assert (info.value.provider, info.value.size, info.value.limit) == (provider, 4097, 4096)
    assert isinstance(info.value, TooLarge)
    assert info.value.code == "push_too_large"
    assert "4097" in str(info.value)


def test_preview_sizes_report_over_limit_without_raising() -> None:
    sizes = push.payload_sizes("T", "é" * 3000)  # 6000 bytes of UTF-8 in 3000 characters
    assert not sizes["apns"]["fits"]
    assert not sizes["fcm"]["fits"]
    assert sizes["apns"]["bytes"] > 6000


def test_rich_image_counts_towards_the_size() -> None:
    url = "https://cdn.example.com/" + "a" * 100 + ".jpg"
    basic = push.payload_sizes("T", "B", image_url=url)
    rich = push.payload_sizes("T", "B", image_url=url, kind="rich")
    assert rich["apns"]["bytes"] > basic["apns"]["bytes"] + 100
    assert rich["fcm"]["bytes"] > basic["fcm"]["bytes"] + 100
