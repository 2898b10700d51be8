"""One way to clean contact input, shared by the API, list adds and CSV imports.

Every function returns the stored form or raises ``errors.Invalid`` whose detail a non-technical user can act
on: an import shows it next to the failed line. These run once per field of a million-row import, so the
common cases take fast paths that are tested to give exactly the libraries' answers."""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, timedelta
from functools import cache, lru_cache

import email_validator
import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.core import get_global
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, DOT_ATOM_TEXT_HOSTNAME
from phonenumbers import PhoneNumberType

from herald import errors
from herald.contacts import phonefast

MAX_NAME = 200
MAX_EMAIL = 254
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
_EXCEL_FLOAT = re.compile(r"(\+?\d{5,})\.0+")
_SMS_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_KIND_NAMES = {
    PhoneNumberType.TOLL_FREE: "a toll-free", PhoneNumberType.PREMIUM_RATE: "a premium-rate",
    PhoneNumberType.SHARED_COST: "a shared-cost", PhoneNumberType.VOIP: "an internet (VoIP)",
    PhoneNumberType.PERSONAL_NUMBER: "a personal forwarding", PhoneNumberType.PAGER: "a pager",
    PhoneNumberType.UAN: "a company switchboard", PhoneNumberType.VOICEMAIL: "a voicemail",
}
_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "does not start with a country code we know",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short to be a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "is too short to be a phone number",
    phonenumbers.NumberParseException.TOO_LONG: "is too long to be a phone number",
}
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_WHITESPACE = re.compile(r"\s+")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]00:00(?::00(?:\.0+)?)?Z?)?")
_DAY_FIRST = re.compile(r"(\d{1,2})([./])(\d{1,2})\2(\d{4})")
_SERIAL = re.compile(r"\d{5}(?:\.0+)?")
_EXCEL_EPOCH = date(1899, 12, 30)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z]{4})?(?:[-_](?:[A-Za-z]{2}|\d{3}))?")
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
_YES = frozenset({"yes", "y", "true", "1", "granted", "opt in", "opted in", "optin", "ja", "oui", "sí", "si"})
_NO = frozenset({"no", "n", "false", "0", "withdrawn", "denied", "opt out", "opted out", "optout", "nein", "non"})
_WORDS = "yes, y, true, 1, granted, opt-in, opted in, ja, oui, sí — or no, n, false, 0, withdrawn, denied, opt-out, " \
         "opted out, nein, non"


def _shown(raw: str) -> str:
    text = raw.strip()
    return f'"{text[:60]}…"' if len(text) > 60 else f'"{text}"'


def phone(raw: str, region: str, *, for_sms: bool = True) -> str:
    """E.164 form of ``raw``; a number without a country code is read as one of ``region`` (ISO code). With
    ``for_sms`` only numbers that can receive SMS (mobile, or fixed-line-or-mobile as in the US) pass."""
    return _phone(raw, region, for_sms)[0]


def phone_and_zone(raw: str, region: str, *, for_sms: bool = True) -> tuple[str, str | None]:
    """:func:`phone` and :func:`timezone_for_phone` at the cost of one classification (imports do both)."""
    e164, kind, country_code = _phone(raw, region, for_sms)
    return e164, _zone(e164, kind, country_code)


def _phone(raw: str, region: str, for_sms: bool) -> tuple[str, int, int]:
    if "\r" in raw or "\n" in raw:
        raise errors.Invalid(f"{_shown(raw)} contains a line break; a phone number is one line.",
                             code="invalid_phone", field="phone")
    text = raw.strip()
    if ("E" in text or "e" in text) and _SCIENTIFIC.fullmatch(text):
        raise errors.Invalid(f"{_shown(raw)} is not a phone number: Excel turned this number into scientific "
                             "notation and lost digits; format the column as text and export again.",
                             code="phone_scientific_notation", field="phone")
    as_float = _EXCEL_FLOAT.fullmatch(text) if text.endswith((".0", "00")) else None
    if as_float:
        text = as_float.group(1)
    region = (region or "").upper()
    e164, kind, country_code = phonefast.classify(text, region) or _parse_phone(text, raw, region)
    if for_sms and kind not in _SMS_TYPES:
        if kind == PhoneNumberType.FIXED_LINE:
            raise errors.Invalid(f"{e164} is a landline; it cannot receive SMS.", code="landline", field="phone")
        raise errors.Invalid(f"{e164} is {_KIND_NAMES.get(kind, 'a non-mobile')} number; it cannot receive SMS.",
                             code="not_mobile", field="phone")
    return e164, kind, country_code


def _parse_phone(text: str, raw: str, region: str) -> tuple[str, int, int]:
    """The full ``phonenumbers`` path, for anything the fast path does not answer, with the reason spelled out."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        problem = _PARSE_PROBLEMS.get(exc.error_type, "is not a phone number")
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not text.startswith("+"):
            problem = "has no country code; write it with + and the country code, for example +44 7400 123456"
        raise errors.Invalid(f"{_shown(raw)} {problem}.", code="invalid_phone", field="phone") from exc
    if number.extension:
        raise errors.Invalid(f"{_shown(raw)} has an extension ({number.extension}); give the number alone.",
                             code="invalid_phone", field="phone")
    kind = phonenumbers.number_type(number)
    code = number.country_code or 0
    if not phonenumbers.is_valid_number(number) or kind == PhoneNumberType.UNKNOWN:
        country = _country_name(phonenumbers.region_code_for_country_code(code))
        reason = phonenumbers.is_possible_number_with_reason(number)
        short = f"has too few digits for a phone number in {country}"
        problem = {phonenumbers.ValidationResult.TOO_SHORT: short,
                   phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: f"{short} (is the area code missing?)",
                   phonenumbers.ValidationResult.TOO_LONG: f"has too many digits for a phone number in {country}"}.get(
                       reason, f"is not a valid phone number in {country}")
        hint = "" if text.startswith(("+", "00")) else \
            f" (numbers without a country code are read as numbers in {_country_name(region)})"
        raise errors.Invalid(f"{_shown(raw)} {problem}{hint}.", code="invalid_phone", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), kind, code


@cache
def _country_name(region: str) -> str:
    return (Locale("en").territories.get(region) if region.isalpha() else None) or "no particular country"


def timezone_for_phone(e164: str) -> str | None:
    """The IANA zone of a number when phonenumbers' time-zone data names exactly one, else ``None``."""
    found = phonefast.classify(e164, "ZZ") or phonefast.slow_classify(e164, "ZZ")
    if found is None:
        return None
    return _zone(*found)


def _zone(number: str, kind: int, country_code: int) -> str | None:
    data, longest = _zone_data()
    geographical = phonenumbers.is_number_type_geographical(kind, country_code)
    digits, extra = (number[1:], 0) if geographical else (str(country_code), 1)
    for size in range(longest, 0, -1):
        prefix = digits[:size + extra]
        if prefix in data:
            zones = data[prefix]
            if len(zones) == 1:
                return zones[0] if zones[0] != "Etc/Unknown" else None
            return _primary_zone(country_code, zones)
    return None


@cache
def _primary_zone(country_code: int, zones: tuple[str, ...]) -> str | None:
    """For a number that could be in several zones (a UK mobile: London, Jersey, Guernsey, Isle of Man), the
    country's one primary zone when CLDR names exactly one and it is among them; otherwise unknown (Australia,
    the US without an area code), so callers apply their strictest rule."""
    primary = get_global("territory_zones").get(phonenumbers.region_code_for_country_code(country_code), ())
    return primary[0] if len(primary) == 1 and primary[0] in zones else None


@cache
def _zone_data() -> tuple[dict[str, tuple[str, ...]], int]:
    from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

    return TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX


def email(raw: str) -> str:
    """The address as email-validator normalises it (domain lower-cased, Unicode NFC), without DNS checks."""
    if "\r" in raw or "\n" in raw:
        raise errors.Invalid(f"{_shown(raw)} contains a line break; an email address is one line.",
                             code="invalid_email", field="email")
    text = raw.strip()
    if len(text) > MAX_EMAIL:
        raise errors.Invalid(f"{_shown(raw)} is longer than {MAX_EMAIL} characters, too long for an email address.",
                             code="invalid_email", field="email")
    fast = fast_email(text)
    if fast is not None:
        return fast
    try:
        return email_validator.validate_email(text, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as exc:
        raise errors.Invalid(f"{_shown(raw)} is not a valid email address: {exc}", code="invalid_email",
                             field="email") from exc


def fast_email(text: str) -> str | None:
    """email-validator's normalised form of a plain ASCII ``local@host.tld`` (dot-atom local part, LDH host
    labels, no ``--`` so no Punycode), repeating its checks; ``None`` means "ask email-validator"."""
    if not text.isascii() or '"' in text or "<" in text:
        return None
    local, at, domain = text.partition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or len(local) + 1 + len(domain) > MAX_EMAIL:
        return None
    _check_special_use()
    host = _fast_host(domain)
    if host is None:
        return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    return f"{local}@{host}"


@lru_cache(maxsize=4096)
def _fast_host(domain: str) -> str | None:
    """The domain part of :func:`fast_email`, remembered per domain: a contact list's addresses share a few
    (gmail.com, ...), and these checks were half of an address's ~2.7 µs."""
    if not DOT_ATOM_TEXT_HOSTNAME.match(domain) or len(domain) > 253:
        return None
    host = domain.lower()
    labels = host.split(".")
    if len(labels) < 2 or "--" in host or not host[-1].isalpha() or max(map(len, labels)) > 63:
        return None
    single, dotted = _special_use[1]
    if labels[-1] in single or (dotted and any(host == d or host.endswith("." + d) for d in dotted)):
        return None
    return host


_special_use: tuple[list[str], tuple[frozenset[str], tuple[str, ...]]] = ([""], (frozenset(), ()))


def _check_special_use() -> None:
    """email-validator's special-use names (a list it lets applications change) split into single labels (which
    only a last label can equal, as the fast path's hosts have a dot) and dotted names, checked as it does;
    when the list changed, the hosts remembered by :func:`_fast_host` are forgotten."""
    global _special_use
    names = email_validator.SPECIAL_USE_DOMAIN_NAMES
    if names != _special_use[0]:
        _special_use = (list(names), (frozenset(n for n in names if "." not in n),
                                      tuple(n for n in names if "." in n)))
        _fast_host.cache_clear()


def address_key(channel: str, address: str) -> str:
    """What suppressions match on: E.164 for ``sms``, the lower-cased address for ``email``, and the token (or
    any other channel's address) as it is."""
    if channel == "sms":
        compact = re.sub(r"[\s().-]", "", address)
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        if _E164.fullmatch(compact):
            return compact
        found = phonefast.classify(compact, "ZZ") or phonefast.slow_classify(compact, "ZZ")
        return found[0] if found else compact
    if channel == "email":
        return address.strip().lower()
    return address


def timezone(raw: str) -> str:
    """The canonical spelling of an IANA time zone named in any case (``europe/london`` → ``Europe/London``)."""
    found = _zones().get(raw.strip().replace(" ", "_").casefold())
    if found is None:
        raise errors.Invalid(f"{_shown(raw)} is not a time zone; use an IANA name such as Europe/London or "
                             "America/New_York.", code="unknown_timezone", field="timezone")
    return found


@cache
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones() if name not in _NOT_ZONES}


@lru_cache(maxsize=4096)
def locale(raw: str) -> str:
    """A BCP 47 tag babel knows: ``en``, ``en-GB``, ``pt_BR`` → ``pt-BR``, ``zh-hant-tw`` → ``zh-Hant-TW``."""
    text = raw.strip()
    problem = errors.Invalid(f"{_shown(raw)} is not a language we know; use a code such as en, en-GB or pt-BR.",
                             code="unknown_locale", field="locale")
    if not _LOCALE.fullmatch(text) or text.lower() in ("und", "root"):
        raise problem
    try:
        parsed = Locale.parse(text.replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError) as exc:
        raise problem from exc
    return "-".join(p for p in (parsed.language, parsed.script, parsed.territory) if p)


def birthday(raw: str) -> date:
    """A date of birth from ``YYYY-MM-DD``; from ``DD.MM.YYYY`` (dots are day-first wherever they are used:
    Germany, Russia, Scandinavia...); from ``DD/MM/YYYY`` only when that order is the one reading (the day is
    over 12, or equals the month): ``05/06/1990`` is refused, never guessed, because the US writes it
    month first."""
    text = raw.strip()
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        return _birth_date(raw, int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    day_first = _DAY_FIRST.fullmatch(text)
    if day_first:
        day, month, year = int(day_first.group(1)), int(day_first.group(3)), int(day_first.group(4))
        dotted = day_first.group(2) == "."
        if dotted or day > 12 or day == month or not (day and month and month <= 31):
            return _birth_date(raw, year, month, day)
        read = (f"{_MONTHS[day - 1]} {month}, {year} (month first)" if month > 12
                else f"{day} {_MONTHS[month - 1]} or {month} {_MONTHS[day - 1]} {year}")
        raise errors.Invalid(f"{_shown(raw)} could be {read}; write dates as YYYY-MM-DD, for example 1990-05-31.",
                             code="ambiguous_date", field="birthday")
    if _SERIAL.fullmatch(text):
        serial = int(float(text))
        meant = (_EXCEL_EPOCH + timedelta(days=serial)).isoformat()
        raise errors.Invalid(f"{_shown(raw)} is how Excel stores a date (this one is {meant}), not the date "
                             "itself; format the column as a date (YYYY-MM-DD) and export again.",
                             code="birthday_serial_number", field="birthday")
    raise errors.Invalid(f"{_shown(raw)} is not a date we can read; write it as YYYY-MM-DD, for example "
                         "1990-05-31.", code="invalid_birthday", field="birthday")


def _birth_date(raw: str, year: int, month: int, day: int) -> date:
    try:
        found = date(year, month, day)
    except ValueError as exc:
        raise errors.Invalid(f"{_shown(raw)} is not a real date.", code="invalid_birthday",
                             field="birthday") from exc
    if found.year < 1900 or found > date.today():
        raise errors.Invalid(f"{_shown(raw)} cannot be a date of birth (it must be from 1900 up to today).",
                             code="invalid_birthday", field="birthday")
    return found


def name(raw: str) -> str:
    """One line of text: line breaks, tabs and runs of spaces become single spaces; at most 200 characters."""
    text = _WHITESPACE.sub(" ", raw).strip()
    if len(text) > MAX_NAME:
        raise errors.Invalid(f"The name {_shown(text)} is {len(text)} characters long; at most {MAX_NAME} fit.",
                             code="name_too_long", field="name")
    return text


def _yes_no(raw: str) -> bool | None:
    word = _WHITESPACE.sub(" ", raw.replace("-", " ").replace("_", " ")).strip().casefold()
    if not word:
        return None
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError(word)


def consent(raw: str) -> bool | None:
    """A consent cell: ``True`` granted, ``False`` refused or withdrawn, ``None`` blank (no statement)."""
    try:
        return _yes_no(raw)
    except ValueError:
        raise errors.Invalid(f"{_shown(raw)} does not say yes or no clearly enough for consent; use one of: "
                             f"{_WORDS}, or leave it blank.", code="ambiguous_consent", field="consent") from None


def priority(raw: str) -> bool:
    """A "top of the list" cell: the consent vocabulary, blank meaning no."""
    try:
        return bool(_yes_no(raw))
    except ValueError:
        raise errors.Invalid(f"{_shown(raw)} does not say yes or no; use one of: {_WORDS}, or leave it blank.",
                             code="ambiguous_priority", field="priority") from None
