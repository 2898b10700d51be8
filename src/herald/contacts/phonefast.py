"""A fast path for phone numbers written plainly: ``+4477…``, ``07700 900123``, ``(415) 555-0100``.

``phonenumbers.parse`` + ``is_valid_number`` + ``number_type`` cost ~75 µs, too much for a million-row import.
:func:`classify` repeats the same steps as ``phonenumbers`` (``parse`` → ``_maybe_extract_country_code`` →
``_maybe_strip_national_prefix_carrier_code`` → ``_test_number_length`` → ``region_code_for_number`` →
``_number_type_helper``) on the same metadata, with its patterns compiled once per region. It answers only
when the number is valid and the input is simple (ASCII digits, ``+`` first, spaces, dots, dashes,
parentheses); everything else returns ``None`` and the caller asks ``phonenumbers`` itself, so an error or an
unusual input always gets the library's own answer. ``tests/unit/test_phone_fast.py`` proves the two agree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS

UNKNOWN = PhoneNumberType.UNKNOWN
MAX_INPUT = 250
_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}
_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH, _TOO_LONG, _POSSIBLE = range(5)
_TYPED = (("premium_rate", PhoneNumberType.PREMIUM_RATE), ("toll_free", PhoneNumberType.TOLL_FREE),
          ("shared_cost", PhoneNumberType.SHARED_COST), ("voip", PhoneNumberType.VOIP),
          ("personal_number", PhoneNumberType.PERSONAL_NUMBER), ("pager", PhoneNumberType.PAGER),
          ("uan", PhoneNumberType.UAN), ("voicemail", PhoneNumberType.VOICEMAIL))

Desc = tuple[frozenset[int], "re.Pattern[str] | None"]


def _desc(desc: Any) -> Desc | None:
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    return frozenset(desc.possible_length), re.compile(pattern) if pattern else None


def _matches(number: str, desc: Desc | None) -> bool:
    """``_is_number_matching_desc``: possible lengths first, then the whole pattern."""
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(number) not in lengths:
        return False
    return pattern is not None and pattern.fullmatch(number) is not None


@dataclass(frozen=True, slots=True)
class Plan:
    """One region's (or non-geographic entity's) metadata, compiled."""

    country_code: int
    general: Desc
    general_pattern: re.Pattern[str] | None
    lengths: tuple[int, ...]
    local_lengths: frozenset[int]
    typed: tuple[tuple[Desc | None, int], ...]
    fixed_line: Desc | None
    mobile: Desc | None
    same_mobile_and_fixed: bool
    idd: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    transform: str | None
    leading_digits: re.Pattern[str] | None
    by_length: dict[int, tuple[re.Pattern[str] | None, tuple[int, ...]]] = field(default_factory=dict)

    def number_type(self, nsn: str) -> int:
        """``_number_type_helper``: the first of premium rate, toll free, …, voicemail, fixed line, mobile whose
        lengths and pattern fit, as one ordered alternation per length (the leftmost alternative that matches
        the whole number wins, exactly like checking them one by one)."""
        if not _matches(nsn, self.general):
            return UNKNOWN
        size = len(nsn)
        combined = self.by_length.get(size)
        if combined is None:
            combined = self.by_length[size] = self._combine(size)
        pattern, kinds = combined
        found = pattern.fullmatch(nsn) if pattern is not None else None
        if found is None:
            return UNKNOWN
        kind = kinds[found.lastindex or 0]
        if kind != PhoneNumberType.FIXED_LINE:
            return kind
        if self.same_mobile_and_fixed or _matches(nsn, self.mobile):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE

    def _combine(self, size: int) -> tuple[re.Pattern[str] | None, tuple[int, ...]]:
        steps = [*self.typed, (self.fixed_line, PhoneNumberType.FIXED_LINE)]
        if not self.same_mobile_and_fixed:
            steps.append((self.mobile, PhoneNumberType.MOBILE))
        parts, kinds = [], [UNKNOWN]
        for desc, kind in steps:
            if desc is None or desc[1] is None or (desc[0] and size not in desc[0]):
                continue
            parts.append(f"(?:{desc[1].pattern})()")
            kinds.append(kind)
        return (re.compile("|".join(parts)) if parts else None), tuple(kinds)

    def general_match(self, number: str) -> bool:
        """``_match_national_number`` against the general description (no length pre-check)."""
        return self.general_pattern is not None and self.general_pattern.fullmatch(number) is not None

    def test_length(self, number: str) -> int:
        """``_test_number_length`` for type UNKNOWN."""
        size = len(number)
        if size in self.local_lengths:
            return _LOCAL_ONLY
        lengths = self.lengths
        if lengths[0] == size:
            return _POSSIBLE
        if lengths[0] > size:
            return _TOO_SHORT
        if lengths[-1] < size:
            return _TOO_LONG
        return _POSSIBLE if size in lengths[1:] else _INVALID_LENGTH

    def strip_national_prefix(self, number: str) -> str:
        """``_maybe_strip_national_prefix_carrier_code``, keeping only the number it returns."""
        prefix = self.national_prefix
        if not number or prefix is None:
            return number
        found = prefix.match(number)
        if not found:
            return number
        viable = self.general_match(number)
        groups = found.groups()
        if not self.transform or groups[len(groups) - 1] is None:
            rest = number[found.end():]
            return number if viable and not self.general_match(rest) else rest
        transformed = prefix.sub(self.transform, number, count=1)
        return number if viable and not self.general_match(transformed) else transformed


def _plan(metadata: Any) -> Plan | None:
    """``None`` (never the fast path) for metadata outside what :meth:`Plan.number_type` assumes."""
    general = _desc(metadata.general_desc)
    if general is None or not metadata.general_desc.possible_length:
        return None
    descs = [_desc(getattr(metadata, name)) for name in ("fixed_line", "mobile", *(n for n, _ in _TYPED))]
    if any(d is not None and d[1] is not None and d[1].groups for d in descs):
        return None
    return Plan(
        country_code=metadata.country_code, general=general, general_pattern=general[1],
        lengths=tuple(metadata.general_desc.possible_length),
        local_lengths=frozenset(metadata.general_desc.possible_length_local_only),
        typed=tuple((_desc(getattr(metadata, name)), kind) for name, kind in _TYPED),
        fixed_line=_desc(metadata.fixed_line), mobile=_desc(metadata.mobile),
        same_mobile_and_fixed=bool(metadata.same_mobile_and_fixed_line_pattern),
        idd=re.compile(metadata.international_prefix) if metadata.international_prefix is not None else None,
        national_prefix=(re.compile(metadata.national_prefix_for_parsing)
                         if metadata.national_prefix_for_parsing else None),
        transform=metadata.national_prefix_transform_rule or None,
        leading_digits=re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None,
    )


_regions: dict[str, Plan | None] = {}
_countries: dict[int, tuple[Plan | None, tuple[tuple[str, Plan | None], ...]] | None] = {}


def region_plan(region: str) -> Plan | None:
    """The compiled metadata of ``region`` (upper-case ISO code), or ``None`` when phonenumbers has none."""
    try:
        return _regions[region]
    except KeyError:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        plan = _regions[region] = _plan(metadata) if metadata is not None else None
        return plan


def country_plans(code: int) -> tuple[Plan | None, tuple[tuple[str, Plan | None], ...]] | None:
    """For a calling code: the plan ``parse`` uses (its main region's) and each region sharing the code, in
    ``COUNTRY_CODE_TO_REGION_CODE`` order; ``None`` for an unknown code."""
    try:
        return _countries[code]
    except KeyError:
        regions = COUNTRY_CODE_TO_REGION_CODE.get(code)
        if regions is None:
            _countries[code] = None
            return None
        shared = tuple((r, _geo_or_nongeo(code, r)) for r in regions)
        entry = _countries[code] = (shared[0][1], shared)
        return entry


def _geo_or_nongeo(code: int, region: str) -> Plan | None:
    if region == REGION_CODE_FOR_NON_GEO_ENTITY:
        metadata = PhoneMetadata.metadata_for_nongeo_region(code, None)
        return _plan(metadata) if metadata is not None else None
    plan = region_plan(region.upper())
    return plan if plan is not None and plan.country_code == code else None


def _split_country_code(digits: str) -> tuple[int, str] | None:
    """``_extract_country_code``; ``None`` where ``parse`` would retry or fail."""
    if digits[0] == "0":
        return None
    for size in (1, 2, 3):
        code = _CODES.get(digits[:size])
        if code is not None:
            return code, digits[size:]
    return None


def classify(text: str, region: str) -> tuple[str, int, int] | None:
    """``(E.164, PhoneNumberType, country code)`` of a valid number written plainly, exactly as ``phonenumbers`` would
    answer for ``parse(text, region)``; ``None`` means "ask phonenumbers" (invalid, or unusual input)."""
    if len(text) > MAX_INPUT:
        return None
    stripped = text.strip()
    if not stripped:
        return None
    plus = stripped[0] == "+"
    digits = stripped[1:] if plus else stripped
    if not digits.isdigit():
        digits = digits.replace(" ", "").replace("-", "").replace(".", "").replace("(", "").replace(")", "")
    if len(digits) < 3 or not (digits.isascii() and digits.isdigit()):
        return None
    home = region_plan(region) if region in SUPPORTED_REGIONS else None
    international = digits if plus else None
    if home is None and not plus:
        return None
    if home is not None and not plus and home.idd is not None:
        found = home.idd.match(digits)
        if found:
            rest = digits[found.end():]
            if not rest or rest[0] != "0":
                international = rest
    if international is not None:
        if len(international) <= 2:
            return None
        split = _split_country_code(international)
        if split is None:
            return None
        code, national = split
        plans = country_plans(code)
        if plans is None or plans[0] is None:
            return None
        plan: Plan = plans[0]
    else:
        assert home is not None
        found_national = _national(digits, home)
        if found_national is None:
            return None
        code, national, plan = found_national
    if len(national) < 2:
        return None
    candidate = plan.strip_national_prefix(national)
    if plan.test_length(candidate) not in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
        national = candidate
    if not 2 <= len(national) <= 17:
        return None
    kind = _type_for_number(code, national)
    return None if kind == UNKNOWN else (f"+{code}{national}", kind, code)


def _national(digits: str, home: Plan) -> tuple[int, str, Plan] | None:
    """The default-country branch of ``_maybe_extract_country_code``: a number that starts with the region's
    own calling code loses it when that makes it fit (or it was too long); the main region's metadata then
    applies, as in ``parse``."""
    code = str(home.country_code)
    if digits.startswith(code):
        potential = home.strip_national_prefix(digits[len(code):])
        if ((not home.general_match(digits) and home.general_match(potential))
                or home.test_length(digits) == _TOO_LONG):
            plans = country_plans(home.country_code)
            main = plans[0] if plans is not None else None
            return None if main is None else (home.country_code, potential, main)
    return home.country_code, digits, home


def _type_for_number(code: int, nsn: str) -> int:
    """``number_type`` after ``region_code_for_number``: among regions sharing a calling code, the first whose
    leading digits match (or, lacking those, whose patterns give a type) decides."""
    plans = country_plans(code)
    if plans is None:
        return UNKNOWN
    shared = plans[1]
    if len(shared) == 1:
        plan = shared[0][1]
        return plan.number_type(nsn) if plan is not None else UNKNOWN
    for _, plan in shared:
        if plan is None:
            continue
        if plan.leading_digits is not None:
            if plan.leading_digits.match(nsn):
                return plan.number_type(nsn)
        else:
            kind = plan.number_type(nsn)
            if kind != UNKNOWN:
                return kind
    return UNKNOWN


def slow_classify(text: str, region: str) -> tuple[str, int, int] | None:
    """The same question answered by ``phonenumbers`` itself (``None`` when it cannot parse or the number is
    invalid); the reference the fast path is tested against, and the fallback."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    kind = phonenumbers.number_type(number)
    if not phonenumbers.is_valid_number(number) or kind == UNKNOWN or number.country_code is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), kind, number.country_code
