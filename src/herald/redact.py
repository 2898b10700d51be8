"""Masking for logs: phone numbers and emails are personal data, never logged whole."""

from __future__ import annotations


def mask_address(address: str | None) -> str:
    """``+447700900123`` -> ``+44*******123``; ``jane.doe@example.com`` -> ``j***@example.com``."""
    if not address:
        return ""
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(address) <= 6:
        return "*" * len(address)
    return address[:3] + "*" * (len(address) - 6) + address[-3:]
