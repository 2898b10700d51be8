"""Cleaning contact input: every accepted form gives the stored value, every bad one a code and a plain message."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import email_validator
import idna
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from herald import errors
from herald.contacts import normalize

FULL_WIDTH = str.maketrans("0123456789+", "".join(chr(0xFF10 + i) for i in range(10)) + "\uff0b")


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> errors.Invalid:
    with pytest.raises(errors.Invalid) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("07400 123456", "GB", "+447400123456"),
    ("+44 7400 123456", "US", "+447400123456"),
    ("0044 (0)7400-123-456", "GB", "+447400123456"),
    ("00447400123456", "GB", "+447400123456"),
    ("+44.7400.123.456", "GB", "+447400123456"),
    ("  (415) 555-0100 ", "US", "+14155550100"),
    ("14155550100.0", "US", "+14155550100"),
    ("447400123456.0", "GB", "+447400123456"),
    ("+447400123456".translate(FULL_WIDTH), "GB", "+447400123456"),
    ("٠٧٤٠٠١٢٣٤٥٦", "GB", "+447400123456"),
    ("07400 123456".translate(FULL_WIDTH), "gb", "+447400123456"),
    ("+49 151 23456789", "DE", "+4915123456789"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("98765 43210", "IN", "+919876543210"),
    ("0532 123 45 67", "TR", "+905321234567"),
    ("(11) 98765-4321", "BR", "+5511987654321"),
    ("0412 345 678", "AU", "+61412345678"),
    ("090-1234-5678", "JP", "+819012345678"),
    ("138 1234 5678", "CN", "+8613812345678"),
    ("0803 123 4567", "NG", "+2348031234567"),
    ("312 345 6789", "IT", "+393123456789"),
    ("(204) 555-0100", "CA", "+12045550100"),
])
def test_phone_gives_e164(raw: str, region: str, expected: str) -> None:
    assert normalize.phone(raw, region) == expected


@pytest.mark.parametrize(("raw", "region", "code", "words"), [
    ("4.15555E+09", "US", "phone_scientific_notation", "Excel turned this number into scientific notation and lost "
                                                       "digits; format the column as text and export again"),
    ("4,15555E+09", "US", "phone_scientific_notation", "scientific notation"),
    ("4.47E+11", "GB", "phone_scientific_notation", "scientific notation"),
    ("+44 20 7946 0958", "GB", "landline", "+442079460958 is a landline; it cannot receive SMS"),
    ("06 6982 0000", "IT", "landline", "+390669820000 is a landline"),
    ("0800 123 4567", "GB", "not_mobile", "toll-free"),
    ("09098 790123", "GB", "not_mobile", "premium-rate"),
    ("+44 740", "GB", "invalid_phone", "too few digits"),
    ("+44 7400 1234", "GB", "invalid_phone", "too few digits for a phone number in United Kingdom (is the area code"),
    ("+44 7400 123456 789", "GB", "invalid_phone", "too many digits"),
    ("07700 900123", "GB", "invalid_phone", "not a valid phone number in United Kingdom"),
    ("07400 123456", "ZZ", "invalid_phone", "no country code"),
    ("+999 7400 123456", "GB", "invalid_phone", "country code"),
    ("call me", "GB", "invalid_phone", "not a phone number"),
    ("", "GB", "invalid_phone", "not a phone number"),
    ("07400\r\n123456", "GB", "invalid_phone", "line break"),
    ("07400 123456\n", "GB", "invalid_phone", "line break"),
    ("+44 7400 123456 ext. 12", "GB", "invalid_phone", "extension"),
])
def test_phone_problems_are_named(raw: str, region: str, code: str, words: str) -> None:
    problem = refused(normalize.phone, raw, region)
    assert (problem.code, problem.field) == (code, "phone")
    assert words in problem.detail


def test_phone_accepts_landlines_and_other_kinds_when_not_for_sms() -> None:
    assert normalize.phone("+44 20 7946 0958", "GB", for_sms=False) == "+442079460958"
    assert normalize.phone("0800 123 4567", "GB", for_sms=False) == "+448001234567"
    assert normalize.phone("(415) 555-0100", "US", for_sms=True) == "+14155550100"


@pytest.mark.parametrize(("e164", "zone"), [
    ("+14155550100", "America/Los_Angeles"), ("+12015550123", "America/New_York"),
    ("+4915123456789", "Europe/Berlin"), ("+5511987654321", "America/Sao_Paulo"),
    ("+61412345678", None), ("+447400123456", "Europe/London"), ("+999123", None), ("not a number", None),
])
def test_timezone_for_phone_only_when_there_is_exactly_one(e164: str, zone: str | None) -> None:
    """One zone, or the country's one primary zone among several (a UK mobile may be in Jersey too, but
    London is the answer); Australia's several real zones stay unknown."""
    assert normalize.timezone_for_phone(e164) == zone


@pytest.mark.parametrize(("raw", "expected"), [
    ("Jane.Doe@Example.COM", "Jane.Doe@example.com"),
    ("  jane@example.com\t", "jane@example.com"),
    ("INFO@Example.com", "info@example.com"),
    ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
    ("jose@bücher.de", "jose@bücher.de"),
    ("jose@xn--bcher-kva.de", "jose@bücher.de"),
    ("zoë@example.com", "zoë@example.com"),
])
def test_email_normalises(raw: str, expected: str) -> None:
    assert normalize.email(raw) == expected


@pytest.mark.parametrize(("raw", "words"), [
    ("x@localhost", "should have a period"),
    ("a@b.test", "special-use"),
    ("a@host.local", "special-use"),
    ('"john doe"@example.com', "Quoting"),
    ("jane@", "after the @-sign"),
    ("jane.example.com", "@-sign"),
    ("a@b@c.com", "invalid characters"),
    ("jane@example.com\r\nBcc: x@y.com", "line break"),
    ("a" * 250 + "@example.com", "longer than 254 characters"),
    ("Jane <jane@example.com>", "display name"),
    ("", "@-sign"),
])
def test_email_problems_are_named(raw: str, words: str) -> None:
    problem = refused(normalize.email, raw)
    assert (problem.code, problem.field) == ("invalid_email", "email")
    assert words in problem.detail


def test_the_ascii_letters_digits_dot_and_hyphen_map_to_lower_case_under_uts46() -> None:
    for char in string.ascii_letters + string.digits + ".-":
        assert idna.uts46_remap(char, std3_rules=False, transitional=False) == char.lower()


ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~."
LABEL = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=12) | st.sampled_from(
    ["xn--bcher-kva", "ab--cd", "a" * 64, "a" * 63, "123", "bücher", "ex ample", "\uff25\uff38"])
TLD = st.sampled_from(["com", "CO", "uk", "test", "localhost", "local", "invalid", "onion", "arpa", "example",
                       "x1", "1", "museum", "xn--p1ai", "Test", "ARPA"])
DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, max_size=4), TLD) | st.sampled_from(
    ["localhost", "[127.0.0.1]", "example..com", "-a.com", "a-.com", "a.com.", ".a.com", "a.b.c.d.e.f.g.h.com"])
LOCAL = st.text(ATEXT, min_size=0, max_size=20) | st.sampled_from(
    ['"quoted"', '"a b"', "INFO", "Postmaster", "a..b", ".a", "a.", "é", "a" * 65, "a@b", "x<y"])


@settings(max_examples=1500, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
@example(local="jane", domain="example.com")
@example(local="x", domain="localhost")
@example(local="a", domain="b.test")
@example(local='"a b"', domain="example.com")
@example(local="a", domain="xn--bcher-kva.de")
@example(local="0", domain="000--0.com")
@example(local="a" * 64, domain="b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com")
def test_fast_email_gives_email_validators_answer_or_none(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    fast = normalize.fast_email(address)
    try:
        expected: str | None = email_validator.validate_email(address, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        expected = None
    assert fast is None or fast == expected
    # The fast path leaves any host with "--" (Punycode and its look-alikes, e.g. 000--0.com) to the library.
    if expected is not None and address.isascii() and "--" not in domain and '"' not in address:
        assert fast == expected


def test_fast_email_follows_a_change_to_the_special_use_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize.fast_email("jane@shop.example.com") == "jane@shop.example.com"  # its host is now remembered
    monkeypatch.setattr(email_validator, "SPECIAL_USE_DOMAIN_NAMES", [*email_validator.SPECIAL_USE_DOMAIN_NAMES,
                                                                       "example.com"])
    assert normalize.fast_email("jane@shop.example.com") is None
    monkeypatch.undo()
    assert normalize.fast_email("jane@shop.example.com") == "jane@shop.example.com"


@pytest.mark.parametrize(("channel", "address", "key"), [
    ("sms", "+447400123456", "+447400123456"),
    ("sms", "+44 7400 123456", "+447400123456"),
    ("sms", "0044 7400 123456", "+447400123456"),
    ("email", " Jane.Doe@Example.com ", "jane.doe@example.com"),
    ("push", "Tok En/123", "Tok En/123"),
])
def test_address_key(channel: str, address: str, key: str) -> None:
    assert normalize.address_key(channel, address) == key


@pytest.mark.parametrize(("raw", "expected"), [
    ("Europe/London", "Europe/London"), ("europe/london", "Europe/London"), (" AMERICA/NEW_YORK ", "America/New_York"),
    ("America/New York", "America/New_York"), ("utc", "UTC"),
])
def test_timezone_gives_the_canonical_name(raw: str, expected: str) -> None:
    assert normalize.timezone(raw) == expected


@pytest.mark.parametrize("raw", ["Mars/Olympus", "GMT+1", "localtime", "", "London"])
def test_unknown_timezones_are_refused(raw: str) -> None:
    problem = refused(normalize.timezone, raw)
    assert (problem.code, problem.field) == ("unknown_timezone", "timezone")


@pytest.mark.parametrize(("raw", "expected"), [
    ("en", "en"), ("EN", "en"), ("en-GB", "en-GB"), ("en_gb", "en-GB"), ("pt_BR", "pt-BR"), ("pt-br", "pt-BR"),
    ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419"), (" de ", "de"),
])
def test_locale_gives_a_bcp47_tag(raw: str, expected: str) -> None:
    assert normalize.locale(raw) == expected


@pytest.mark.parametrize("raw", ["xx", "en-XX", "english", "C", "und", "root", "en-US-POSIX", "", "e"])
def test_unknown_locales_are_refused(raw: str) -> None:
    problem = refused(normalize.locale, raw)
    assert (problem.code, problem.field) == ("unknown_locale", "locale")


@pytest.mark.parametrize(("raw", "expected"), [
    ("1990-05-31", date(1990, 5, 31)), (" 1990-5-3 ", date(1990, 5, 3)), ("1990-05-31 00:00:00", date(1990, 5, 31)),
    ("1990-05-31T00:00:00", date(1990, 5, 31)), ("31.05.1990", date(1990, 5, 31)),
    ("05.06.1990", date(1990, 6, 5)), ("13/05/1990", date(1990, 5, 13)),
    ("05/05/1990", date(1990, 5, 5)), ("1900-01-01", date(1900, 1, 1)),
])
def test_birthday_reads_unambiguous_dates(raw: str, expected: date) -> None:
    assert normalize.birthday(raw) == expected


@pytest.mark.parametrize(("raw", "code", "words"), [
    ("05/06/1990", "ambiguous_date", "could be 5 June or 6 May 1990; write dates as YYYY-MM-DD"),
    ("05/13/1990", "ambiguous_date", "May 13, 1990 (month first)"),
    ("33970", "birthday_serial_number", "this one is 1993-01-01"),
    ("33970.0", "birthday_serial_number", "format the column as a date"),
    ("1899-12-31", "invalid_birthday", "from 1900 up to today"),
    ((date.today() + timedelta(days=1)).isoformat(), "invalid_birthday", "from 1900 up to today"),
    ("1990-02-30", "invalid_birthday", "not a real date"),
    ("31/02/1990", "invalid_birthday", "not a real date"),
    ("1990", "invalid_birthday", "YYYY-MM-DD"),
    ("next tuesday", "invalid_birthday", "YYYY-MM-DD"),
])
def test_birthday_problems_are_named(raw: str, code: str, words: str) -> None:
    problem = refused(normalize.birthday, raw)
    assert (problem.code, problem.field) == (code, "birthday")
    assert words in problem.detail


def test_today_is_a_possible_birthday() -> None:
    assert normalize.birthday(date.today().isoformat()) == date.today()


@pytest.mark.parametrize(("raw", "expected"), [
    ("  Jane   Doe ", "Jane Doe"), ("Jane\r\nDoe", "Jane Doe"), ("Jane\tQ.\u00a0Doe", "Jane Q. Doe"), ("", ""),
    ("=SUM(A1)", "=SUM(A1)"), ("x" * 200, "x" * 200),
])
def test_name_is_one_tidy_line(raw: str, expected: str) -> None:
    assert normalize.name(raw) == expected


def test_a_name_over_200_characters_is_refused() -> None:
    problem = refused(normalize.name, "x" * 201)
    assert (problem.code, problem.field) == ("name_too_long", "name")


YES = ["yes", "Y", "TRUE", "1", "granted", "opt-in", "Opt In", "opted in", "opted-in", "ja", "Oui", "sí", "SÍ"]
NO = ["no", "N", "false", "0", "withdrawn", "denied", "opt-out", "opted out", "NEIN", "non"]


@pytest.mark.parametrize(("raw", "expected"), [(w, True) for w in YES] + [(w, False) for w in NO]
                         + [("", None), ("   ", None)])
def test_consent_vocabulary(raw: str, expected: bool | None) -> None:
    assert normalize.consent(raw) is expected
    assert normalize.priority(raw) is bool(expected)


@pytest.mark.parametrize("raw", ["maybe", "yes please", "x", "2", "1.0", "unknown", "✓"])
def test_anything_else_is_ambiguous_and_lists_the_words(raw: str) -> None:
    problem = refused(normalize.consent, raw)
    assert (problem.code, problem.field) == ("ambiguous_consent", "consent")
    assert "yes, y, true, 1, granted, opt-in" in problem.detail
    assert "leave it blank" in problem.detail
    assert refused(normalize.priority, raw).code == "ambiguous_priority"
