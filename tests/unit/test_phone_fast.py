"""The phone fast path gives exactly phonenumbers' answer (validity, type, E.164) wherever it answers at all."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from babel.core import get_global
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

from herald import errors
from herald.contacts import normalize, phonefast

FOCUS = ("GB", "US", "CA", "DE", "FR", "IN", "TR", "BR", "AU", "JP", "CN", "NG", "IT")
TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
         PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.VOIP,
         PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.PAGER, PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL)


def _writings(number: phonenumbers.PhoneNumber, rnd: random.Random) -> list[str]:
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    spaced = "".join(c + (" " if rnd.random() < 0.3 else "") for c in e164).strip()
    return [e164, phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL), national,
            "00" + e164[1:], e164[1:], spaced, national.replace(" ", "."), f"({national[:4]}) {national[4:]}"]


def _mutate(text: str, rnd: random.Random) -> str:
    chars = list(text)
    for _ in range(rnd.choice((0, 0, 1, 1, 2))):
        digits = [i for i, c in enumerate(chars) if c.isdigit()]
        if not digits:
            break
        i = rnd.choice(digits)
        op = rnd.random()
        if op < 0.5:
            chars[i] = str(rnd.randint(0, 9))
        elif op < 0.75:
            del chars[i]
        else:
            chars.insert(i, str(rnd.randint(0, 9)))
    return "".join(chars)


def _generated(regions: tuple[str, ...], per_writing: int, seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    cases = []
    for region in regions:
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for writing in _writings(example, rnd):
                for _ in range(per_writing):
                    cases.append((_mutate(writing, rnd), rnd.choice((region, region, "GB", "US", "IT", "BR"))))
    return cases


ITALIAN = [("+39 06 6982 0000", "IT"), ("06 6982 0000", "IT"), ("0039 02 1234 5678", "IT"), ("+39 0585 123456", "IT"),
           ("+39 312 345 6789", "IT"), ("+39 06 698 12345", "VA"), ("+3906698", "IT"), ("+39 0 1234", "IT")]
SHARED_CODES = [("+1 204 555 0100", "US"), ("+1 876 555 0100", "US"), ("+1 684 733 1234", "AS"),
                ("+44 1481 256789", "GB"), ("+44 1624 756789", "GB"), ("+44 7781 123456", "GB"),
                ("+7 701 123 4567", "RU"), ("+7 495 123 4567", "KZ"), ("+61 8 9164 1234", "AU"),
                ("+262 269 61 1234", "RE"), ("+590 690 00 1234", "GP"), ("+358 18 1234567", "FI")]
NATIONAL_PREFIXES = [("0 11 98765 4321", "BR"), ("0xx11 98765 4321", "BR"), ("01481 256789", "GG"),
                     ("1 (204) 555-0100", "CA"), ("011 44 7400 123456", "US"), ("00 1 204 555 0100", "GB"),
                     ("+44 (0) 7400 123456", "GB"), ("44 7400 123456", "GB"), ("0 343 15 555 1212", "AR"),
                     ("0343 15-555-1212", "AR"), ("268 464 1234", "AG"), ("464 1234", "AG"), ("0549 123456", "SM")]


@pytest.mark.parametrize(("text", "region"), ITALIAN + SHARED_CODES + NATIONAL_PREFIXES)
def test_hand_picked_numbers_match_phonenumbers(text: str, region: str) -> None:
    fast = phonefast.classify(text, region)
    assert fast is None or fast == phonefast.slow_classify(text, region)


def test_italian_leading_zeros_are_kept() -> None:
    assert phonefast.classify("06 6982 0000", "IT") == ("+390669820000", PhoneNumberType.FIXED_LINE, 39)
    assert phonefast.classify("+39 312 345 6789", "IT") == ("+393123456789", PhoneNumberType.MOBILE, 39)


def test_regions_sharing_a_calling_code_are_told_apart_like_phonenumbers() -> None:
    assert phonefast.classify("+1 204 555 0100", "US") == phonefast.slow_classify("+1 204 555 0100", "US")
    assert phonefast.classify("+44 1481 256789", "GB") == ("+441481256789", PhoneNumberType.FIXED_LINE, 44)
    parsed = phonenumbers.parse("+441481256789")
    assert phonenumbers.region_code_for_number(parsed) == "GG"


def test_thousands_of_generated_numbers_in_focus_regions_match_and_mostly_take_the_fast_path() -> None:
    cases = _generated(FOCUS, per_writing=6, seed=1)
    assert len(cases) > 3000
    answered = valid = 0
    for text, region in cases:
        slow = phonefast.slow_classify(text, region)
        fast = phonefast.classify(text, region)
        if fast is not None:
            answered += 1
            assert fast == slow, (text, region)
        valid += slow is not None
    assert valid > 1000
    assert answered >= 0.99 * valid


def test_every_region_matches_phonenumbers() -> None:
    regions = tuple(sorted(phonenumbers.SUPPORTED_REGIONS))
    for text, region in _generated(regions, per_writing=1, seed=2):
        fast = phonefast.classify(text, region)
        assert fast is None or fast == phonefast.slow_classify(text, region), (text, region)


def test_non_geographic_numbers_match() -> None:
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is None:
            continue
        text = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        assert phonefast.classify(text, "GB") == phonefast.slow_classify(text, "GB")
        assert phonefast.classify(text, "GB") is not None


REGIONS = st.sampled_from((*FOCUS, "AR", "MX", "GG", "AG", "SM", "KZ", "ZZ", "gb", ""))
PREFIXES = st.sampled_from(("", "+", "0", "00", "011", "+0", "+1", "1", "+44", "44", "0044", "+39", "39", "+55", "0"))


@settings(max_examples=3000, deadline=None)
@given(prefix=PREFIXES, digits=st.text("0123456789", min_size=0, max_size=18), region=REGIONS,
       separators=st.lists(st.sampled_from(" .-()"), max_size=4), spaced=st.booleans())
def test_fast_path_agrees_with_phonenumbers_on_arbitrary_digit_strings(
        prefix: str, digits: str, region: str, separators: list[str], spaced: bool) -> None:
    text = prefix + digits
    if spaced:
        text = "".join(c + (separators[i % len(separators)] if separators and i % 3 == 2 else "")
                       for i, c in enumerate(text))
    fast = phonefast.classify(text, region)
    assert fast is None or fast == phonefast.slow_classify(text, region)


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet="0123456789+ -.()#x,;*ext/\u00a0\uff10\uff11\uff19\uff0b\u0664", max_size=24),
       region=REGIONS)
def test_fast_path_never_answers_differently_on_messy_input(text: str, region: str) -> None:
    fast = phonefast.classify(text, region)
    assert fast is None or fast == phonefast.slow_classify(text, region)


def test_timezone_for_phone_matches_phonenumbers_time_zone_data() -> None:
    for text, region in _generated((*FOCUS, "RU", "MX", "ES"), per_writing=1, seed=3):
        found = phonefast.slow_classify(text, region)
        if found is None:
            continue
        zones = time_zones_for_number(phonenumbers.parse(found[0]))
        primary = get_global("territory_zones").get(phonenumbers.region_code_for_number(
            phonenumbers.parse(found[0])), ())
        expected = zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else (
            primary[0] if len(zones) > 1 and len(primary) == 1 and primary[0] in zones else None)
        assert normalize.timezone_for_phone(found[0]) == expected, found[0]


@settings(max_examples=1000, deadline=None)
@given(prefix=PREFIXES, digits=st.text("0123456789", min_size=0, max_size=16), region=st.sampled_from(FOCUS),
       spaced=st.booleans())
def test_normalize_phone_answers_what_phonenumbers_answers(prefix: str, digits: str, region: str,
                                                            spaced: bool) -> None:
    text = prefix + (" ".join(digits[i:i + 3] for i in range(0, len(digits), 3)) if spaced else digits)
    reference = phonefast.slow_classify(text, region)
    if reference is None:
        with pytest.raises(errors.Invalid) as caught:
            normalize.phone(text, region, for_sms=False)
        assert caught.value.code == "invalid_phone"
    else:
        assert normalize.phone(text, region, for_sms=False) == reference[0]
