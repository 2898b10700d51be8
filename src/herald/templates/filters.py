"""The Liquid filters a bank or a shop needs: money, dates in the recipient's time zone, masking, plurals,
and ``json`` for the JSON content of webhook and queue templates.

Registered on both of :class:`herald.templates.liquid.Renderer`'s environments (plain and HTML). Filters that
depend on the recipient read it from the render variables through python-liquid's ``with_context`` hook:
the locale from ``message.locale``, then ``contact.locale``, then ``workspace.locale`` (else ``en``); the
time zone from ``contact.timezone``, then ``workspace.timezone`` (else UTC). A bad value there falls back to
the next source, because one contact's typo must not stop a campaign; a bad *argument* written in the template
is the author's mistake and raises.

``register`` also wraps every filter, Liquid's own included, in ``_guard``: no filter may build text longer
than the output limit, materialise a range longer than the loop limit, or make a number longer than 256 bits;
``replace`` and ``join`` are sized before they run (their output can be quadratic in their input).

Errors are python-liquid's own (``FilterArgumentError``/``FilterValueError``): they carry the filter's line
and column, and the renderer turns them into ``RenderError(code="render_error")``.

Formatting goes through babel (CLDR), but babel's generic formatters cost ~15 µs a call, too slow for an
email that formats six prices per recipient. So the *patterns* are resolved once per (locale, currency) or
(locale, format) and cached; per call only the number is rounded and grouped (``_Money``) or the parsed
date pattern applied. ``tests/unit/test_liquid.py`` checks both fast paths against babel's own output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache, wraps
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
)
from liquid import Environment, RenderContext
from liquid.exceptions import FilterArgumentError, FilterValueError, LoopIterationLimitError, OutputStreamLimitError
from liquid.filter import with_context
from liquid.undefined import Undefined

from herald.templates import datefmt

DEFAULT_LOCALE = "en"
_QUOTED = re.compile(r"'([^']*)'")
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_PLAIN = frozenset({str, int, float, Decimal, bool, type(None), datetime, date})


def _fail(message: str) -> FilterArgumentError:
    return FilterArgumentError(message, token=None)


def _defined(value: Any) -> Any:
    """Touch an undefined value so StrictUndefined raises its ``UndefinedError`` (with the variable name)."""
    if type(value) in _PLAIN:  # Undefined is an ABC: isinstance is slow, and this runs several times a filter
        return value
    if isinstance(value, Undefined):
        str(value)
    return value


def _recipient(context: RenderContext, *paths: tuple[str, str]) -> str | None:
    """The first non-empty string among ``paths`` (e.g. ``("contact", "timezone")``) in the render variables."""
    for root, key in paths:
        holder = context.globals.get(root)
        if isinstance(holder, Mapping):
            value = holder.get(key)
            if isinstance(value, str) and value:
                return value
    return None


@lru_cache(maxsize=256)
def _parse_locale(code: str) -> Locale:
    return Locale.parse(code.replace("-", "_"))


@lru_cache(maxsize=256)
def warm_locale(code: str) -> None:
    """Load a locale's CLDR data now, outside any render's time limit: its first load can take most of a
    second on a busy machine, and must not fail the first message rendered in that locale."""
    try:
        locale = _parse_locale(code)
    except (ValueError, TypeError, UnknownLocaleError):
        return
    _ = locale.number_symbols, locale.currency_formats, locale.datetime_formats


def _locale_code(context: RenderContext, explicit: Any = None) -> str:
    """The locale to format in, as a code babel accepts (validated; cached by that string). The recipient's
    is worked out once per render (``memo``, when the context has one: the variables cannot change)."""
    if explicit is not None and _defined(explicit) != "":
        try:
            _parse_locale(str(explicit))
            return str(explicit)
        except (ValueError, TypeError, UnknownLocaleError):
            raise _fail(f"unknown locale {str(explicit)[:40]!r}") from None
    memo: dict[str, Any] | None = getattr(context, "memo", None)
    if memo is not None and "locale" in memo:
        return str(memo["locale"])
    found = DEFAULT_LOCALE
    for source in ("message", "contact", "workspace"):
        code = _recipient(context, (source, "locale"))
        if code:
            try:
                _parse_locale(code)
                found = code
                break
            except (ValueError, TypeError, UnknownLocaleError):
                continue
    if memo is not None:
        memo["locale"] = found
    return found


@lru_cache(maxsize=512)
def _parse_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _zone(context: RenderContext, explicit: Any = None) -> ZoneInfo:
    if explicit is not None and _defined(explicit) != "":
        try:
            return _parse_zone(str(explicit))
        except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError; odd paths ValueError
            raise _fail(f"unknown time zone {str(explicit)[:40]!r}") from None
    memo: dict[str, Any] | None = getattr(context, "memo", None)
    if memo is not None and "zone" in memo:
        return memo["zone"]  # type: ignore[no-any-return]
    found = None
    for name in (_recipient(context, ("contact", "timezone")), _recipient(context, ("workspace", "timezone"))):
        if name:
            try:
                found = _parse_zone(name)
                break
            except (ValueError, OSError, KeyError):
                continue
    found = found or _parse_zone("UTC")
    if memo is not None:
        memo["zone"] = found
    return found


# ---------------------------------------------------------------------------------------------- money


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


class _Money:
    """A currency pattern of one locale, resolved once: what babel's ``NumberPattern.apply`` does per call."""

    __slots__ = ("decimal", "exact", "group", "grouping", "min_int", "neg", "pos", "quantum")

    def __init__(self, locale: Locale, currency: str) -> None:
        pattern = locale.currency_formats["standard"]
        self.exact = not pattern.exp_prec and "@" not in pattern.pattern and "¤¤¤" not in pattern.pattern
        symbol = get_currency_symbol(currency, locale)

        def affix(text: str) -> str:
            text = text.replace("¤¤", currency).replace("¤", symbol)
            return _QUOTED.sub(lambda m: m.group(1) or "'", text)

        self.pos = (affix(pattern.prefix[0]), affix(pattern.suffix[0]))
        self.neg = (affix(pattern.prefix[1]), affix(pattern.suffix[1]))
        self.grouping = pattern.grouping
        self.min_int = pattern.int_prec[0]
        self.group = get_group_symbol(locale, numbering_system="latn")
        self.decimal = get_decimal_symbol(locale, numbering_system="latn")
        self.quantum = Decimal(1).scaleb(-get_currency_precision(currency))

    def format(self, amount: Decimal) -> str:
        rounded = amount.quantize(self.quantum, rounding=ROUND_HALF_UP)
        prefix, suffix = self.neg if rounded < 0 else self.pos
        if self.grouping == (3, 3) and self.min_int == 1:  # nearly every locale: Python groups it in C
            whole, _, frac = f"{abs(rounded):,f}".partition(".")
            number = whole.replace(",", self.group) if self.group != "," else whole
        else:
            whole, _, frac = f"{abs(rounded):f}".partition(".")
            whole = whole.rjust(self.min_int, "0")
            size, parts = self.grouping[0], []
            while len(whole) > size:
                parts.append(whole[-size:])
                whole = whole[:-size]
                size = self.grouping[1]
            number = self.group.join([whole, *reversed(parts)])
        return f"{prefix}{number}{self.decimal}{frac}{suffix}" if frac else f"{prefix}{number}{suffix}"


@lru_cache(maxsize=1024)
def _money_format(locale: str, currency: str) -> _Money:
    return _Money(_parse_locale(locale), currency)


def to_decimal(amount: Any) -> Decimal:
    """An amount as an exact Decimal: str and Decimal as written, floats through their shortest repr."""
    if type(amount) is Decimal and amount.is_finite() and abs(amount.adjusted()) <= 30:
        return amount
    _defined(amount)
    if isinstance(amount, bool) or amount is None:
        raise FilterValueError(f"expected an amount, found {'nothing' if amount is None else amount}", token=None)
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int | float):
        value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    elif isinstance(amount, str) and len(amount) <= 64 and _AMOUNT.fullmatch(amount.strip()):
        value = Decimal(amount.strip())
    elif isinstance(amount, str):
        raise FilterValueError(f"{amount[:40]!r} is not an amount", token=None)
    else:
        raise FilterValueError(f"expected an amount, found {type(amount).__name__}", token=None)
    if not value.is_finite() or abs(value.adjusted()) > 30:
        raise FilterValueError(f"{str(amount)[:40]!r} is too large or too precise for an amount", token=None)
    return value


@with_context
def money(amount: Any, currency: Any = None, locale: Any = None, *, context: RenderContext) -> str:
    """``{{ amount | money: "EUR" }}`` or ``money: "INR", "en_IN"``: the amount in the currency's minor units
    (JPY none, BHD three), rounded half-up, in the recipient's locale. The currency defaults to
    ``workspace.currency``."""
    code = currency if currency is not None else _recipient(context, ("workspace", "currency"))
    code = str(_defined(code)).upper() if code is not None else ""
    if code not in _currencies():
        raise _fail(f"unknown currency {code[:10]!r}" if code else "money needs a currency, e.g. money: \"EUR\"")
    value = to_decimal(amount)
    loc = _locale_code(context, locale)
    fmt = _money_format(loc, code)
    if fmt.exact:
        return fmt.format(value)
    # exotic patterns (none in CLDR today): babel's general path
    return format_currency(value.quantize(fmt.quantum, rounding=ROUND_HALF_UP), code, locale=_parse_locale(loc))


# ---------------------------------------------------------------------------------------------- dates


def to_datetime(value: Any) -> datetime | date:
    """A datetime from a datetime/date, an ISO-8601 string, epoch seconds, or "now". Naive means UTC."""
    _defined(value)
    if isinstance(value, datetime):
        parsed: datetime | date = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and value.strip().lower() in ("now", "today"):
        return datetime.now(UTC)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            parsed = date.fromisoformat(value.strip()) if len(value.strip()) == 10 else \
                datetime.fromisoformat(value.strip())
        except ValueError:
            raise FilterValueError(f"{value!r} is not an ISO-8601 date or time", token=None) from None
        if not isinstance(parsed, datetime):
            return parsed
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, ValueError, OSError):
            raise FilterValueError(f"{value} is not a timestamp", token=None) from None
    else:
        raise FilterValueError(f"expected a date or time, found {type(value).__name__}", token=None)
    assert isinstance(parsed, datetime)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _format_when(kind: str, value: Any, fmt: Any, tz: Any, locale: Any, context: RenderContext) -> str:
    when = to_datetime(value)
    fmt = str(_defined(fmt))
    if not fmt or len(fmt) > 100:
        raise _fail("the date format is empty or too long")
    if isinstance(when, datetime):
        when = when.astimezone(_zone(context, tz))
    elif kind != "date":
        when = datetime.combine(when, time(), _zone(context, tz))
    code = _locale_code(context, locale)
    try:
        return datefmt.formatter(kind, fmt, code).apply(when)
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise _fail(f"bad date format {fmt!r}: {exc}") from None


@with_context
def local_datetime(value: Any, fmt: Any = "medium", tz: Any = None, locale: Any = None, *,
                   context: RenderContext) -> str:
    """``{{ event.occurred_at | local_datetime: "short" }}`` in the recipient's time zone and locale.
    ``fmt`` is short/medium/long/full or a CLDR pattern such as ``"d MMM yyyy HH:mm"``."""
    return _format_when("datetime", value, fmt, tz, locale, context)


@with_context
def local_date(value: Any, fmt: Any = "medium", tz: Any = None, locale: Any = None, *,
               context: RenderContext) -> str:
    """The date part only; a plain date (``2025-03-01``) is not shifted by time zone."""
    return _format_when("date", value, fmt, tz, locale, context)


@with_context
def local_time(value: Any, fmt: Any = "short", tz: Any = None, locale: Any = None, *,
               context: RenderContext) -> str:
    """The time of day in the recipient's time zone."""
    return _format_when("time", value, fmt, tz, locale, context)


# ----------------------------------------------------------------------------------- masking, plurals


def _mask_char(char: Any) -> str:
    text = str(_defined(char))
    if len(text) != 1:
        raise _fail("the mask character must be one character")
    return text


def mask(value: Any, keep: Any = 4, char: Any = "X") -> str:
    """``{{ card | mask }}`` → ``XXXXXXXXXXXX1234``: letters and digits but the last ``keep`` masked, separators
    kept. A value no longer than ``keep`` is masked whole, so masking never reveals a short secret."""
    text, fill = str(_defined(value) if value is not None else ""), _mask_char(char)
    if not isinstance(keep, int) or isinstance(keep, bool) or not 0 <= keep <= 64:
        raise _fail("mask keeps 0 to 64 characters")
    if text.isalnum() and text.isascii():  # a card or account number: no separators to keep
        shown = keep if len(text) > keep else 0
        return fill * (len(text) - shown) + text[len(text) - shown:]
    total = sum(ch.isalnum() for ch in text)
    shown = keep if total > keep else 0
    out, seen = [], 0
    for ch in reversed(text):
        if ch.isalnum():
            seen += 1
            out.append(ch if seen <= shown else fill)
        else:
            out.append(ch)
    return "".join(reversed(out))


def mask_email(value: Any, char: Any = "*") -> str:
    """``jane.doe@example.com`` → ``j*******@example.com``: the first character of the mailbox and the domain."""
    text, fill = str(_defined(value) if value is not None else ""), _mask_char(char)
    local, at, domain = text.rpartition("@")
    if not at:
        return fill * len(text)
    return (local[:1] + fill * (len(local) - 1) if len(local) > 1 else fill) + at + domain


@with_context
def pluralize(count: Any, singular: Any, plural: Any = None, *, context: RenderContext) -> str:
    """``{{ n | pluralize: "point", "points" }}`` → ``1 point`` / ``1,500 points``. The form follows the
    locale's CLDR plural rule (in French 0 is singular). ``singular`` may instead be a mapping of CLDR
    categories (``one``, ``few``, ``many``, ``other``…) to forms, e.g. from the data, for Slavic languages."""
    number = to_decimal(count)
    loc = _parse_locale(_locale_code(context))
    category = loc.plural_form(number)
    _defined(singular)
    if isinstance(singular, Mapping):
        form = singular.get(category, singular.get("other"))
        if form is None:
            raise _fail(f"pluralize has no form for {category!r} or 'other'")
    else:
        other = str(_defined(plural)) if plural is not None else f"{singular}s"
        form = singular if category == "one" else other
    return f"{format_decimal(number, locale=loc)} {form}"


def to_json(value: Any) -> str:
    """The value as JSON text, for the ``json`` part of webhook and queue templates: ``{"name": {{ contact.name
    | json }}}`` stays valid JSON whatever quotes or line breaks the name holds. Dates and decimals become
    strings."""
    try:
        return json.dumps(_defined(value), ensure_ascii=False, separators=(",", ":"), default=str)
    except ValueError as exc:  # a reference cycle, a NaN
        raise FilterValueError(f"json: {exc}", token=None) from exc


FILTERS: dict[str, Callable[..., Any]] = {
    "money": money,
    "local_datetime": local_datetime,
    "local_date": local_date,
    "local_time": local_time,
    "mask": mask,
    "mask_email": mask_email,
    "pluralize": pluralize,
}


# ------------------------------------------------------------------------------ registering and guards


def register(env: Environment, *, max_chars: int, max_items: int) -> None:
    """Add Herald's filters to a python-liquid environment (``default`` is Liquid's own), and wrap each of
    Liquid's own filters in ``_guard``. Herald's are not wrapped: each returns text no longer than a bounded
    function of its input (an amount of at most 30 digits, a date, the masked value itself), and the guard
    would cost a fifth of their time."""
    env.filters = {name: _guard(func, name, max_chars, max_items) for name, func in env.filters.items()}
    for name, func in FILTERS.items():
        env.add_filter(name, func)
    env.add_filter("json", _guard(to_json, "json", max_chars, max_items))  # its text is as long as its input


def _guard(func: Callable[..., Any], name: str, max_chars: int, max_items: int) -> Callable[..., Any]:
    """Wrap a filter so it cannot build a huge value: ranges bigger than the loop limit are refused (array
    filters would materialise them), ``replace`` and ``join`` are sized before they run, and any text result
    longer than the output limit is refused."""
    precheck = {"replace": _replace_size, "join": _join_size}.get(name)

    @wraps(func)  # also copies python-liquid's with_context/with_environment flags
    def guarded(left: Any, *args: Any, **kwargs: Any) -> Any:
        if type(left) is range or range in map(type, args):
            for arg in (left, *args):
                if type(arg) is range and len(arg) > max_items:
                    raise LoopIterationLimitError(f"{name}: the range is larger than {max_items}", token=None)
        if precheck is not None:
            precheck(left, args, max_chars)
        result = func(left, *args, **kwargs)
        if isinstance(result, str) and len(result) > max_chars:
            raise OutputStreamLimitError(f"{name}: the result is too large", token=None)
        if type(result) is int and result.bit_length() > 256:
            raise OutputStreamLimitError(f"{name}: the number is too large", token=None)
        return result

    return guarded


def _replace_size(left: Any, args: tuple[Any, ...], limit: int) -> None:
    if len(args) >= 2:
        text, old, new = str(left), str(args[0]), str(args[1])
        if len(new) > len(old) and len(text) + text.count(old) * (len(new) - len(old)) > limit:
            raise OutputStreamLimitError("replace: the result would be too large", token=None)


def _join_size(left: Any, args: tuple[Any, ...], limit: int) -> None:
    if isinstance(left, list | tuple):
        separator = len(str(args[0])) if args else 1
        if value_size(left, limit) + separator * len(left) > limit:
            raise OutputStreamLimitError("join: the result would be too large", token=None)


def value_size(value: Any, budget: int) -> int:
    """Approximate size of an assigned value (characters, or 8 per scalar/item), counted only up to ``budget``:
    what stops ``{% assign s = s | append: s %}`` in a loop from doubling memory without end."""
    total, stack = 0, [value]
    while stack and total <= budget:
        item = stack.pop()
        kind = type(item)
        if isinstance(item, str):
            total += len(item)
        elif kind is range:
            total += len(item) * 8
        elif kind is list or kind is tuple:
            total += 8 * len(item)
            stack.extend(item)
        elif kind is dict:
            total += 8 * len(item)
            stack.extend(item.values())
        else:
            total += 8
    return total
