"""Phone numbers and email addresses, normalised the one way Herald stores them."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from herald import errors


def phone_e164(raw: str, region: str, *, field: str = "to") -> str:
    """E.164 form of ``raw``, read against ``region`` when it has no country code; Invalid otherwise."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise errors.Invalid(f"{raw!r} is not a phone number: {exc}", code="invalid_phone", field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise errors.Invalid(
            f"{raw!r} is not a valid phone number (read with default region {region}).",
            code="invalid_phone", field=field,
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(raw: str, *, field: str = "to") -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise errors.Invalid(f"{raw!r} is not a valid email address: {exc}", code="invalid_email",
                             field=field) from exc
