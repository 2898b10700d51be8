"""Cleaning contact input, the same way for the API, list adds and CSV imports: every field problem of a
record is collected, so a caller (or an import report) can say everything that is wrong at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from herald import errors
from herald.contacts import normalize
from herald.contacts.consent import check_purpose

CORE = ("external_id", "name", "email", "phone", "locale", "timezone", "birthday")
MAX_ATTRIBUTES_BYTES = 16_384


@dataclass(slots=True)
class Cleaned:
    """Only what the input stated: an absent key means "leave as it is"; ``None`` means "clear"."""

    values: dict[str, Any] = field(default_factory=dict)
    consent: dict[str, bool | None] = field(default_factory=dict)
    attributes: dict[str, Any] | None = None
    phone_timezone: str | None = None
    """The zone of the phone number's area, for contacts whose own time zone is unknown."""


def _external_id(raw: str) -> str:
    value = raw.strip()
    if len(value) > 200 or "\n" in value or "\r" in value or "\t" in value:
        raise errors.Invalid("external_id must be at most 200 characters on one line.", code="invalid_external_id")
    return value


def _birthday(raw: Any) -> date:
    return raw if isinstance(raw, date) else normalize.birthday(str(raw))


_CLEANERS: dict[str, Callable[[Any], Any]] = {
    "external_id": lambda v: _external_id(str(v)),
    "name": lambda v: normalize.name(str(v)),
    "email": lambda v: normalize.address_key("email", normalize.email(str(v))),
    "locale": lambda v: normalize.locale(str(v)),
    "timezone": lambda v: normalize.timezone(str(v)),
    "birthday": _birthday,
}


def clean(raw: Mapping[str, Any], region: str, *, consent: Mapping[str, Any] | None = None,
          attributes: Mapping[str, Any] | None = None) -> Cleaned:
    """Normalise what ``raw`` states (keys among :data:`CORE`). Blank strings mean "not stated" (CSV cells),
    except that an explicit ``None`` from the API clears a field. Raises ``errors.Invalid`` listing every bad
    field."""
    values: dict[str, Any] = {}
    zone: str | None = None
    problems: list[dict[str, Any]] = []
    for name, value in raw.items():
        if value is None:
            if name != "external_id":
                values[name] = None
            continue
        if isinstance(value, str) and (not value or value.isspace()):  # == not value.strip(), without a copy
            continue
        try:
            if name == "phone":
                values[name], zone = normalize.phone_and_zone(str(value), region)
            else:
                values[name] = _CLEANERS[name](value)
        except errors.Invalid as exc:
            problems.append({"field": name, "code": exc.code, "message": exc.detail})
    stated: dict[str, bool | None] = {}
    for purpose, given in (consent or {}).items():
        try:
            check_purpose(purpose)
            plain = isinstance(given, bool) or given is None
            stated[purpose] = given if plain else normalize.consent(str(given))
        except errors.Invalid as exc:
            problems.append({"field": f"consent.{purpose}", "code": exc.code, "message": exc.detail})
    kept: dict[str, Any] | None = None
    if attributes is not None:
        if len(repr(attributes)) > MAX_ATTRIBUTES_BYTES:
            problems.append({"field": "attributes", "code": "attributes_too_large",
                             "message": f"attributes may hold at most {MAX_ATTRIBUTES_BYTES} bytes"})
        kept = dict(attributes)
    if problems:
        detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise errors.Invalid(detail, code=problems[0]["code"], errors=problems)
    return Cleaned(values, stated, kept, zone)
