"""Push payloads for APNs and FCM, and their sizes against the providers' 4 KB limit.

Previews and sends must measure the same bytes, so the payloads are built here once and encoded by
:func:`encode` the way Herald sends them: compact JSON, UTF-8, no ``\\u`` escapes (an emoji counts 4 bytes,
not 12). APNs refuses a regular notification whose payload passes 4096 bytes; FCM HTTP v1 limits a message to
4 KB too, and we count the whole ``{"message": …}`` object except the device token, which is slightly
conservative. A payload over either limit is refused (:class:`PushTooLarge`) rather than cut.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from herald.errors import Invalid, TooLarge

__all__ = [
    "APNS_LIMIT", "FCM_LIMIT", "PushTooLarge", "apns_payload", "check_push", "encode", "fcm_payload",
    "payload_sizes",
]

APNS_LIMIT = 4096
"""Bytes, for regular remote notifications (VoIP pushes may use 5120; Herald does not send those)."""
FCM_LIMIT = 4096
"""Bytes, for an FCM HTTP v1 message."""
IMAGE_KEY = "image_url"
"""Top-level APNs key holding a rich push's image, read by the app's Notification Service Extension."""

Kind = Literal["basic", "rich"]
_FCM_RESERVED = frozenset({"from", "notification", "message_type", "collapse_key"})


class PushTooLarge(TooLarge):
    """A push payload over a provider's limit; ``provider`` is ``apns`` or ``fcm``."""

    def __init__(self, provider: str, size: int, limit: int) -> None:
        super().__init__(
            f"The {provider.upper()} payload is {size} bytes; the limit is {limit} bytes. Shorten the text or"
            " the data.", code="push_too_large",
        )
        self.provider, self.size, self.limit = provider, size, limit


def encode(payload: Mapping[str, Any]) -> bytes:
    """The bytes Herald sends: compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _kind(kind: str) -> None:
    if kind not in ("basic", "rich"):
        raise Invalid(f"Push kind must be 'basic' or 'rich', not {kind!r}", code="invalid_push_kind", field="kind")


def apns_payload(
    title: str | None, body: str, *, image_url: str | None = None, data: Mapping[str, Any] | None = None,
    kind: str = "basic", badge: int | None = None, sound: str | None = None,
) -> dict[str, Any]:
    """Apple's payload: ``aps.alert.title/body``, ``badge``, ``sound``; a rich push with an image sets
    ``mutable-content: 1`` (so the Notification Service Extension may attach it) and carries the URL under
    ``image_url``. Custom ``data`` goes at the top level, beside ``aps``, which it may not replace."""
    _kind(kind)
    alert: dict[str, str] = {"title": title, "body": body} if title else {"body": body}
    aps: dict[str, Any] = {"alert": alert}
    if badge is not None:
        if isinstance(badge, bool) or not isinstance(badge, int) or badge < 0:
            raise Invalid("The badge is a whole number of at least 0", code="invalid_push_badge", field="badge")
        aps["badge"] = badge
    if sound:
        aps["sound"] = sound
    payload: dict[str, Any] = {"aps": aps}
    rich = kind == "rich" and bool(image_url)
    if rich:
        aps["mutable-content"] = 1
    for key, value in (data or {}).items():
        if key == "aps" or (rich and key == IMAGE_KEY):
            raise Invalid(f"The data key {key!r} is reserved in APNs payloads", code="invalid_push_data",
                          field=f"data.{key}")
        payload[key] = value
    if rich:
        payload[IMAGE_KEY] = image_url
    return payload


def _fcm_data(data: Mapping[str, Any]) -> dict[str, str]:
    """FCM data is a map of strings; anything else is refused rather than guessed at."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise Invalid("FCM data keys are non-empty strings", code="invalid_push_data", field="data")
        if key in _FCM_RESERVED or key.startswith(("google", "gcm")):
            raise Invalid(f"The data key {key!r} is reserved by FCM", code="invalid_push_data", field=f"data.{key}")
        if not isinstance(value, str):
            raise Invalid(
                f"FCM data values must be strings; data.{key} is {type(value).__name__}. Send text (for"
                " structured values, JSON-encode them into a string).", code="invalid_push_data", field=f"data.{key}",
            )
        out[key] = value
    return out


def fcm_payload(
    title: str | None, body: str, *, image_url: str | None = None, data: Mapping[str, Any] | None = None,
    kind: str = "basic",
) -> dict[str, Any]:
    """FCM HTTP v1 ``{"message": {"notification": {title, body, image}, "data": {…}}}`` without the device
    token (added at send). The image goes with rich pushes only; ``data`` values must be strings."""
    _kind(kind)
    notification: dict[str, str] = {"title": title, "body": body} if title else {"body": body}
    if kind == "rich" and image_url:
        notification["image"] = image_url
    message: dict[str, Any] = {"notification": notification}
    if data:
        message["data"] = _fcm_data(data)
    return {"message": message}


def payload_sizes(
    title: str | None, body: str, *, image_url: str | None = None, data: Mapping[str, Any] | None = None,
    kind: str = "basic", badge: int | None = None, sound: str | None = None,
) -> dict[str, dict[str, Any]]:
    """``{"apns": {"bytes", "limit", "fits"}, "fcm": {…}}`` for a preview."""
    apns = len(encode(apns_payload(title, body, image_url=image_url, data=data, kind=kind, badge=badge, sound=sound)))
    fcm = len(encode(fcm_payload(title, body, image_url=image_url, data=data, kind=kind)))
    return {
        "apns": {"bytes": apns, "limit": APNS_LIMIT, "fits": apns <= APNS_LIMIT},
        "fcm": {"bytes": fcm, "limit": FCM_LIMIT, "fits": fcm <= FCM_LIMIT},
    }


def check_push(
    title: str | None, body: str, *, image_url: str | None = None, data: Mapping[str, Any] | None = None,
    kind: str = "basic", badge: int | None = None, sound: str | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`payload_sizes`, raising :class:`PushTooLarge` for the first provider over its limit."""
    sizes = payload_sizes(title, body, image_url=image_url, data=data, kind=kind, badge=badge, sound=sound)
    for provider, size in sizes.items():
        if not size["fits"]:
            raise PushTooLarge(provider, size["bytes"], size["limit"])
    return sizes
