"""Save-time work on a template version: check every Liquid part, compile MJML, inline CSS, generate the
text part, and collect warnings. Per-recipient sending then only renders Liquid."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from babel import Locale, UnknownLocaleError

from herald import errors
from herald.templates import email as email_build
from herald.templates.liquid import Renderer, TemplateSyntaxError

PARTS: dict[str, frozenset[str]] = {
    "sms": frozenset({"body"}),
    "email": frozenset({"subject", "html", "mjml", "text"}),
    "push": frozenset({"title", "body", "image_url", "data", "kind"}),
    "webhook": frozenset({"json"}),
    "queue": frozenset({"json"}),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "sms": ("body",), "email": ("subject",), "push": ("body",), "webhook": ("json",), "queue": ("json",),
}
HTML_PARTS = frozenset({"html"})


def normalise_locale(raw: str, *, field: str = "locale") -> str:
    """``fr_ca`` / ``fr-CA`` -> ``fr-CA``; unknown locales are refused (babel's CLDR data decides)."""
    try:
        loc = Locale.parse(raw.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise errors.Invalid(f"Unknown locale {raw!r}.", code="unknown_locale", field=field) from exc
    return "-".join(p for p in (loc.language, loc.script, loc.territory) if p)


@dataclass
class Prepared:
    variants: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, Any]]
    default_locale: str
    warnings: list[dict[str, Any]] = field(default_factory=list)


def prepare(renderer: Renderer, channel: str, variants: dict[str, dict[str, Any]], default_locale: str,
            sample: dict[str, Any]) -> Prepared:
    if channel not in PARTS:
        raise errors.Invalid(f"Unknown channel {channel!r}; use one of {', '.join(PARTS)}.",
                             code="unknown_channel", field="channel")
    default = normalise_locale(default_locale, field="default_locale")
    out = Prepared({}, {}, default)
    for raw_locale, parts in variants.items():
        locale = normalise_locale(raw_locale, field=f"variants.{raw_locale}")
        if locale in out.variants:
            raise errors.Invalid(f"Locale {locale} is given twice.", code="duplicate_locale",
                                 field=f"variants.{raw_locale}")
        out.sources[locale] = dict(parts)
        out.variants[locale] = prepare_parts(renderer, channel, parts, sample, locale, out.warnings)
    if default not in out.variants:
        raise errors.Invalid(f"The default locale {default} has no variant.", code="missing_default_locale",
                             field="default_locale")
    return out


def prepare_parts(renderer: Renderer, channel: str, parts: dict[str, Any], sample: dict[str, Any],
                  locale: str, warnings: list[dict[str, Any]]) -> dict[str, Any]:
    """Check one locale's parts (or a send's overrides) and answer them ready to render."""
    where = f"variants.{locale}"
    unknown = sorted(set(parts) - PARTS[channel])
    if unknown:
        allowed = ", ".join(sorted(PARTS[channel]))
        raise errors.Invalid(f"{channel} templates have no part {unknown[0]!r}; use {allowed}.",
                             code="unknown_part", field=f"{where}.{unknown[0]}")
    for name in REQUIRED[channel]:
        if not (isinstance(parts.get(name), str) and parts[name].strip()):
            raise errors.Invalid(f"A {channel} template needs a {name!r}.", code="missing_part",
                                 field=f"{where}.{name}")
    ready: dict[str, Any] = {}
    for name, value in parts.items():
        if name == "data":
            ready[name] = _check_data(renderer, value, sample, locale, warnings)
        elif name == "kind":
            if value not in ("basic", "rich"):
                raise errors.Invalid("kind is basic or rich.", code="invalid_kind", field=f"{where}.kind")
            ready[name] = value
        elif not isinstance(value, str):
            raise errors.Invalid(f"{name} must be text.", code="invalid_part", field=f"{where}.{name}")
        else:
            ready[name] = value
    if channel == "email":
        _prepare_email(renderer, ready, sample, locale, warnings)
    else:
        for name, value in ready.items():
            if isinstance(value, str) and name != "kind":
                _check(renderer, value, False, sample, locale, name, warnings)
    if channel in ("webhook", "queue"):
        _check_json_shape(renderer, ready["json"], sample, locale)
    if channel == "push" and ready.get("kind") == "rich" and not ready.get("image_url"):
        warnings.append({"locale": locale, "part": "image_url", "message": "A rich push usually has an image."})
    return ready


def _prepare_email(renderer: Renderer, ready: dict[str, Any], sample: dict[str, Any], locale: str,
                   warnings: list[dict[str, Any]]) -> None:
    where = f"variants.{locale}"
    if "html" in ready and "mjml" in ready:
        raise errors.Invalid("Give html or mjml, not both.", code="html_and_mjml", field=f"{where}.mjml")
    if not any(k in ready for k in ("html", "mjml", "text")):
        raise errors.Invalid("An email template needs html, mjml or text.", code="missing_part", field=f"{where}.html")
    source, is_mjml = (ready.pop("mjml"), True) if "mjml" in ready else (ready.get("html"), False)
    _check(renderer, ready["subject"], False, sample, locale, "subject", warnings)
    if source is not None:
        try:
            built = email_build.prepare_html(source, mjml=is_mjml)
        except email_build.EmailBuildError as exc:
            raise errors.Invalid(str(exc), code=exc.code, field=f"{where}.{'mjml' if is_mjml else 'html'}") from exc
        ready["html"] = built.html
        warnings.extend({"locale": locale, "part": "html", "message": w} for w in built.warnings)
        _check(renderer, built.html, True, sample, locale, "html", warnings)
    if "text" in ready:
        _check(renderer, ready["text"], False, sample, locale, "text", warnings)
    elif "html" in ready:
        generated = email_build.html_to_text(ready["html"])
        try:  # the text is generated from the template, Liquid and all; keep it when it is still valid Liquid
            renderer.check(generated, html=False, sample=None)
            ready["text"] = generated
        except TemplateSyntaxError:
            ready["text_from_html"] = True  # generated per recipient from the rendered HTML instead


def _check(renderer: Renderer, source: str, html: bool, sample: dict[str, Any], locale: str, part: str,
           warnings: list[dict[str, Any]]) -> None:
    try:
        result = renderer.check(source, html=html, sample=sample or None)
    except TemplateSyntaxError as exc:
        raise errors.Invalid(f"{part} ({locale}), line {exc.line}, column {exc.column}: {exc.message}",
                             code=exc.code, field=f"variants.{locale}.{part}", errors=[{
                                 "field": f"variants.{locale}.{part}", "code": exc.code, "message": exc.message,
                                 "line": exc.line, "column": exc.column}]) from exc
    if sample:
        warnings.extend({"locale": locale, "part": part, **w} for w in result.warnings)


def _check_data(renderer: Renderer, value: Any, sample: dict[str, Any], locale: str,
                warnings: list[dict[str, Any]]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise errors.Invalid("Push data is an object of text values (FCM requires strings).",
                             code="invalid_push_data", field=f"variants.{locale}.data")
    for key, text in value.items():
        _check(renderer, text, False, sample, locale, f"data.{key}", warnings)
    return dict(value)


def _check_json_shape(renderer: Renderer, source: str, sample: dict[str, Any], locale: str) -> None:
    if not sample:
        return
    try:
        json.loads(renderer.render(renderer.compile(source, html=False), sample))
    except ValueError as exc:
        raise errors.Invalid(f"The json part does not render to JSON with the sample data: {exc}",
                             code="invalid_json", field=f"variants.{locale}.json") from exc
    except Exception:  # a render error with the sample is only a warning-level concern here
        return
