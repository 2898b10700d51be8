"""Send-time rendering: pick the locale variant, apply this send's overrides (never saved to the template),
render every part with the recipient's variables, and check the result against the channel's limits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from herald import errors
from herald.channels.sms import segments
from herald.templates import email as email_build
from herald.templates import push
from herald.templates.liquid import Renderer, RenderError
from herald.templates.prepare import normalise_locale, prepare_parts

PLAIN_PARTS = ("subject", "text", "body", "title", "image_url", "json")


@dataclass(frozen=True)
class Rendered:
    parts: dict[str, Any]
    locale: str


def choose_locale(available: Mapping[str, Any], wanted: str | None, template_default: str, workspace_default: str
                  ) -> str:
    """The fallback chain: the wanted locale, its language, the template's default, the workspace's."""
    chain: list[str] = []
    if wanted:
        exact = normalise_locale(wanted)
        chain += [exact, exact.split("-")[0]]
    chain += [template_default, workspace_default.split("-")[0], workspace_default]
    lowered = {k.lower(): k for k in available}
    for candidate in chain:
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return template_default


def render(renderer: Renderer, channel: str, variants: Mapping[str, dict[str, Any]],
           sources: Mapping[str, dict[str, Any]], *, locale: str, variables: Mapping[str, Any],
           overrides: Mapping[str, Any] | None = None, sms_max_segments: int = 10) -> Rendered:
    """Render the ``locale`` variant. ``overrides`` replace parts as the author would write them (Liquid,
    MJML) for this one message; the merged parts are prepared like a save would, but nothing is stored."""
    if overrides:
        merged = {**sources[locale], **overrides}
        if "html" in overrides or "mjml" in overrides:
            merged.pop("mjml" if "html" in overrides else "html", None)
            if "text" not in overrides:
                merged.pop("text", None)  # regenerate it from the new HTML
        parts = prepare_parts(renderer, channel, merged, {}, locale, [])
    else:
        parts = dict(variants[locale])
    out: dict[str, Any] = {}
    for name, value in parts.items():
        if name == "data":
            out[name] = {k: _render(renderer, v, False, variables, f"data.{k}") for k, v in value.items()}
        elif name == "html":
            out[name] = _render(renderer, value, True, variables, name)
        elif name in PLAIN_PARTS:
            out[name] = _render(renderer, value, False, variables, name)
        elif name == "kind":
            out[name] = value
    if channel == "email" and "text" not in out and "html" in out:
        out["text"] = email_build.html_to_text(out["html"])
    if "json" in out:
        out["json"] = json_value(out["json"])
    _check_limits(channel, out, sms_max_segments)
    return Rendered(out, locale)


def _render(renderer: Renderer, source: str, html: bool, variables: Mapping[str, Any], part: str) -> str:
    try:
        return renderer.render(renderer.compile(source, html=html), variables)
    except RenderError as exc:
        field = f"data.{exc.variable}" if exc.variable else part
        raise errors.Invalid(f"{part}: {exc}", code=exc.code if exc.code != "render_error" else "render_error",
                             field=field, errors=[{"field": field, "code": exc.code, "message": str(exc),
                                                   "part": part, "variable": exc.variable, "line": exc.line,
                                                   "column": exc.column}]) from exc


def json_value(text: str) -> dict[str, Any]:
    """A rendered ``json`` part (webhook, queue) as the JSON object it spells. A value that breaks it (a name
    with a quote, placed without the ``json`` filter) fails this recipient's render, like a missing variable."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise errors.Invalid(f"json: the part does not render to JSON ({exc}); place values with the json "
                             "filter, e.g. {{ contact.name | json }}.", code="render_error", field="json") from exc
    if not isinstance(value, dict):
        raise errors.Invalid("json: the part must render to a JSON object.", code="render_error", field="json")
    return value


def _check_limits(channel: str, out: dict[str, Any], sms_max_segments: int) -> None:
    if channel == "sms":
        analysis = segments.analyze(out["body"], max_segments=sms_max_segments)
        if analysis.over_limit:
            raise errors.TooLarge(f"The SMS renders to {analysis.segments} segments; the limit is "
                                  f"{sms_max_segments}.", code="too_many_segments", field="body")
    elif channel == "push":
        try:
            push.check_push(out.get("title"), out["body"], image_url=out.get("image_url"), data=out.get("data"),
                            kind=out.get("kind", "basic"))
        except push.PushTooLarge as exc:
            raise errors.TooLarge(str(exc), code="push_too_large", field="body") from exc
