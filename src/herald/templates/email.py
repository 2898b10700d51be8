"""Save-time email HTML pipeline: MJML → HTML (mrml), CSS inlining (css-inline), HTML → text (inscriptis),
link extraction and preview summaries.

Templates are Liquid, rendered per recipient; everything here runs once when a template is saved or previewed,
so sending only renders Liquid. MJML compilation and inlining must leave Liquid untouched, and on their own
they do not: mrml rejects ``{% if a < b %}``, and css-inline's HTML5 parser escapes quotes and ``&`` inside
attributes, moves text out of tables (``{% for %}`` between ``<tr>`` rows would leave its loop) and fails on
``style="{{ css }}"``. So every Liquid span is swapped for an inert placeholder first and put back afterwards:

* in text, an HTML comment ``<!--lq<nonce>:<n>-->`` (comments stay where they are, even between table rows);
* inside a tag, a comment or a ``<style>``/``<title>``-like element, an identifier ``lq<nonce>_<n>_``
  (valid in attribute values, URLs and CSS values).

A placeholder that does not come back is an error (``liquid_lost``), never a silently broken template. Before
inlining, ``style`` attributes holding Liquid are set aside and merged back after it (inlined rules first, the
author's declarations last so they still win), and ``<style>`` blocks holding Liquid or carrying a ``media``
attribute are kept as written rather than inlined. css-inline never loads a URL or a file.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

import css_inline
import lxml.etree
import lxml.html
import mrml
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.html_engine import Inscriptis
from inscriptis.model.config import ParserConfig
from inscriptis.model.css import CssParse

from herald.channels.email.mime import build_message
from herald.errors import Invalid

__all__ = [
    "GMAIL_CLIP_BYTES", "PREVIEW_DATE", "PREVIEW_DOMAIN", "PREVIEW_FROM", "PREVIEW_MESSAGE_ID", "PREVIEW_TO",
    "TEXT_WIDTH", "EmailBuildError", "EmailSummary", "EmailWarning", "Link", "PreparedHtml", "compile_mjml",
    "email_summary", "html_to_text", "inline_css", "links", "prepare_html",
]

GMAIL_CLIP_BYTES = 102_000
"""Gmail clips a message whose HTML passes about 102 KB; warning a little early is harmless."""
TEXT_WIDTH = 78
"""Line width of generated text parts (RFC 5322's recommended limit); URLs are never broken."""
PREVIEW_FROM, PREVIEW_TO = "sender@example.com", "recipient@example.com"
PREVIEW_MESSAGE_ID, PREVIEW_DOMAIN = "preview", "example.com"
PREVIEW_DATE = datetime(2000, 1, 1, tzinfo=UTC)
"""Placeholder envelope for :func:`email_summary`'s size: real addresses change it by a few bytes only."""


class EmailBuildError(Invalid):
    """A template that cannot be built or is refused; ``line`` is 1-based in the author's source when known."""

    def __init__(self, detail: str, *, code: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(detail, code=code, field=field)
        self.line = line


class EmailWarning(str):
    """A warning's message, with a stable ``code`` for callers that filter: ``img_alt_missing``,
    ``external_stylesheet``, ``gmail_clip``, ``style_not_inlined``, ``mjml_warning``. A ``str`` so that it
    reads, compares and serialises as its message."""

    code: str

    def __new__(cls, code: str, message: str) -> EmailWarning:
        self = super().__new__(cls, message)
        self.code = code
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # copy/deepcopy (dataclasses.asdict) and pickle keep the code
        return (EmailWarning, (self.code, str(self)))


class Link(TypedDict):
    url: str
    text: str
    kind: str
    """``web`` (http/https), ``mailto``, ``tel``, ``anchor`` (#…), ``liquid`` (the URL is a Liquid
    expression) or ``other``."""


@dataclass(frozen=True, slots=True)
class PreparedHtml:
    """The HTML to store (Liquid intact, CSS inlined) and what the author should know about it."""

    html: str
    warnings: list[EmailWarning] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EmailSummary:
    """Preview facts: ``size`` is the MIME message in bytes as Herald would send it."""

    size: int
    text: str
    links: list[Link]
    warnings: list[EmailWarning]


# Liquid spans: raw/comment blocks whole, then output and tags; quoted strings may hold "}}" or "%}".
_LIQUID = re.compile(
    r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}"
    r"|\{%-?\s*comment\s*-?%\}.*?\{%-?\s*endcomment\s*-?%\}"
    r"""|\{\{(?:[^}'"]|'[^']*'|"[^"]*"|\}(?!\}))*\}\}"""
    r"""|\{%(?:[^%'"]|'[^']*'|"[^"]*"|%(?!\}))*%\}""",
    re.S,
)
# Places where a comment placeholder would not survive or would change meaning: comments, tags, and
# elements whose content is not HTML (or is dropped, as mrml drops comments in <mj-attributes>).
_MARKUP = re.compile(
    r"<!--.*?-->"
    r"|<(style|title|script|textarea|mj-style|mj-title|mj-preview|mj-attributes)\b.*?</\1\s*>"
    r"""|</?[A-Za-z][^\s/>]*(?:[^>"']|"[^"]*"|'[^']*')*>""",
    re.S | re.I,
)
_MRML_POSITION = re.compile(r"\s*at position (\d+):(\d+)")
_STYLE_BLOCK = re.compile(r"<style\b([^>]*)>.*?</style\s*>", re.S | re.I)
_STYLE_ATTR = re.compile(r"""(\sstyle\s*=\s*)("[^"]*lq[0-9a-f]{8}_[^"]*"|'[^']*lq[0-9a-f]{8}_[^']*')""", re.I)
_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?([^"')\s;]+)""", re.I)
_TEXT_URL = re.compile(r"""(?:https?://|mailto:)[^\s<>"')\]]*[^\s<>"')\].,;:!?]""")
_BLANKS = re.compile(r"\n{3,}")
_SCRIPTY = re.compile(r"<script\b|<[^>]*\son[a-z]+\s*=|javascript:", re.I)
# Placeholders (the regexes are shared; each match is checked against the caller's nonce).
_HOLDER = re.compile(r'<!--lq([0-9a-f]{8}):(\d+)-->|lq([0-9a-f]{8})_(\d+)_(?:="")?')
_LOOP_BEFORE_TBODY = re.compile(r"(<table\b[^>]*>\s*)((?:<!--lq[0-9a-f]{8}:\d+-->\s*)+)(<tbody\b[^>]*>)", re.I)
_ASIDE_MARK = re.compile(r' data-lq([0-9a-f]{8})s="(\d+)"')
_STYLE_VALUE = re.compile(r'\sstyle="([^"]*)"')
_ASIDE_BLOCK = re.compile(r"<!--lq([0-9a-f]{8})s:(\d+)-->")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_BULLET = re.compile(r"(\s*)([*+-] |\d+\. )?")
_GLUE, _UNGLUE = str.maketrans(" \n\t\r", "\0\1\2\3"), str.maketrans("\0\1\2\3", " \n\t\r")

_MRML_PARSER = mrml.ParserOptions(include_loader=mrml.noop_loader())  # mj-include never reads files or URLs
_MRML_RENDER = mrml.RenderOptions(disable_comments=False)  # comment placeholders must survive
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True, keep_link_tags=True)
_TEXT_CONFIG = ParserConfig(css=CSS_PROFILES["strict"].copy(), display_images=False, display_links=False)
_TABLE = frozenset({"table", "tbody", "thead", "tfoot", "tr"})
_KINDS = (("{{", "liquid"), ("{%", "liquid"), ("http://", "web"), ("https://", "web"), ("mailto:", "mailto"),
          ("tel:", "tel"), ("sms:", "tel"), ("#", "anchor"))


def _display_only(style: str, element: Any) -> None:
    """Of inline CSS, the text part honours only ``display`` (hidden preheaders stay hidden): email layout
    padding and alignment would indent and centre the text."""
    for declaration in style.lower().split(";"):
        key, _, value = declaration.partition(":")
        if key.strip() == "display":
            CssParse.attr_display(value.strip(), element)


_TEXT_CONFIG.attribute_handler.attribute_mapping = {"style": _display_only}  # a new dict: the default is shared


class _Shield:
    """Liquid spans of one source and their placeholders; ``restore`` puts them back and notices losses."""

    def __init__(self, source: str) -> None:
        self.source, self.nonce = source, secrets.token_hex(4)
        matches = list(_LIQUID.finditer(source))
        self.spans = [m.group() for m in matches]
        self.orig = [m.start() for m in matches]  # where each span starts in the source
        # Markup regions are found with the spans blanked out, so a "<" or quote inside Liquid is harmless.
        skeleton = _LIQUID.sub(lambda m: "\x00" * len(m.group()), source) if matches else ""
        regions = [(r.start(), r.end()) for r in _MARKUP.finditer(skeleton)]
        starts = [s for s, _ in regions]
        out: list[str] = []
        self.prot: list[tuple[int, int]] = []  # (start, length) of each placeholder in the protected text
        last = size = 0
        for i, m in enumerate(matches):
            k = bisect_right(starts, m.start()) - 1
            holder = f"lq{self.nonce}_{i}_" if k >= 0 and m.start() < regions[k][1] else f"<!--lq{self.nonce}:{i}-->"
            size += m.start() - last
            out += [source[last : m.start()], holder]
            self.prot.append((size, len(holder)))
            size, last = size + len(holder), m.end()
        self.text = "".join(out) + source[last:]

    def restore(self, text: str, stage: str | None, *, glue: bool = False) -> str:
        """``text`` with the spans back; when ``stage`` is given, a lost span raises ``liquid_lost``. With
        ``glue`` the spans' whitespace is swapped for control characters so that wrapping cannot split them."""
        if not self.spans:
            return text
        seen: set[int] = set()

        def put(m: re.Match[str]) -> str:
            if (m.group(1) or m.group(3)) != self.nonce:
                return m.group()
            seen.add(i := int(m.group(2) or m.group(4)))
            return self.spans[i].translate(_GLUE) if glue else self.spans[i]

        text = _HOLDER.sub(put, text)
        if stage and len(seen) < len(self.spans):
            i = min(set(range(len(self.spans))) - seen)
            raise EmailBuildError(
                f"Liquid {self.spans[i]!r} did not survive {stage}; keep Liquid in text, attribute values or"
                " <mj-raw>, not directly in <mj-head> or <mj-attributes>",
                code="liquid_lost", line=self.source.count("\n", 0, self.orig[i]) + 1,
            )
        return text

    def line_at(self, byte: int) -> int:
        """The source line of a UTF-8 byte offset in the protected text (mrml's positions)."""
        offset = len(self.text.encode()[:byte].decode(errors="ignore"))
        if (k := bisect_right(self.prot, (offset, 1 << 62)) - 1) >= 0:
            past = offset - sum(self.prot[k])
            offset = self.orig[k] + (len(self.spans[k]) + past if past >= 0 else 0)
        return self.source.count("\n", 0, offset) + 1


def _mrml(shield: _Shield) -> tuple[str, list[EmailWarning]]:
    try:
        out = mrml.to_html(shield.text, _MRML_PARSER, _MRML_RENDER)
    except (OSError, ValueError) as exc:
        message, line = str(exc), None
        if pos := _MRML_POSITION.search(message):
            line = shield.line_at(int(pos.group(1)))
            message = message[: pos.start()] + message[pos.end() :]
        raise EmailBuildError(f"MJML: {message}", code="mjml_error", line=line) from exc
    warnings = [EmailWarning("mjml_warning", f"MJML: {w.kind} at line {shield.line_at(w.start)}") for w in out.warnings]
    return str(out.content), warnings


def _inline(shield: _Shield, html: str, warnings: list[EmailWarning]) -> str:
    """Inline CSS into protected ``html``; ``<style>`` blocks css-inline must not see and Liquid-bearing
    ``style`` attributes are set aside and put back."""
    aside: list[str] = []
    mark = f"lq{shield.nonce}s"  # placeholders for what is set aside

    def keep_block(m: re.Match[str]) -> str:
        if shield.nonce in m.group() or re.search(r"\bmedia\s*=", m.group(1), re.I):
            if shield.nonce in m.group():
                warnings.append(EmailWarning("style_not_inlined", "A <style> block containing Liquid is kept as"
                                                                  " written, not inlined"))
            aside.append(m.group())
            return f"<!--{mark}:{len(aside) - 1}-->"
        return m.group()

    def keep_attr(m: re.Match[str]) -> str:
        if shield.nonce not in m.group(2):
            return m.group()
        aside.append(m.group(2))
        return f' style="" data-{mark}="{len(aside) - 1}"'

    html = _STYLE_ATTR.sub(keep_attr, _STYLE_BLOCK.sub(keep_block, html))
    explicit = re.search(r"<!--lq[0-9a-f]{8}:\d+-->\s*<tbody", html, re.I)
    try:
        html = _INLINER.inline(html)
    except css_inline.InlineError as exc:
        raise EmailBuildError(f"CSS: {exc}", code="css_error") from exc
    if not explicit:  # "<table>{% for %}<tr>": the parser's implied <tbody> goes before the loop, not in it
        html = _LOOP_BEFORE_TBODY.sub(r"\1\3\2", html)
    if not aside:
        return html
    seen: set[int] = set()
    out, last = [], 0
    for hit in _ASIDE_MARK.finditer(html):  # css-inline may reorder attributes: look in the whole tag
        start, end = html.rfind("<", 0, hit.start()), html.find(">", hit.end())
        tag = html[start : hit.start()] + html[hit.end() : end]
        if hit.group(1) != shield.nonce or start < last or not (style := _STYLE_VALUE.search(tag)):
            continue  # a style attribute not found is reported as lost below
        seen.add(i := int(hit.group(2)))
        quote, own, inlined = aside[i][0], aside[i][1:-1], style.group(1).strip().rstrip(";")
        inlined = inlined.replace("'", "&#39;") if quote == "'" else inlined
        out += [html[last:start], tag[: style.start()], f" style={quote}{inlined and inlined + ';'}{own}{quote}",
                tag[style.end() :]]
        last = end
    html = "".join(out) + html[last:]

    def back(m: re.Match[str]) -> str:
        if m.group(1) != shield.nonce:
            return m.group()
        seen.add(i := int(m.group(2)))
        return aside[i]

    html = _ASIDE_BLOCK.sub(back, html)
    if len(seen) < len(aside):
        raise EmailBuildError("CSS inlining lost a <style> block or a style attribute", code="liquid_lost")
    return html


def _parse(html: str) -> Any:
    """lxml tree of ``html`` (None when there is no document)."""
    html = _XML_DECL.sub("", html).strip()  # lxml refuses a str that declares an encoding
    try:
        return lxml.html.document_fromstring(html) if html else None
    except lxml.etree.ParserError:
        return None


def _text_tree(shield: _Shield) -> Any:
    """Parse for reading text: each comment placeholder becomes its identifier as text, in a row or cell of
    its own inside a table so that ``{% for %}`` between rows stays between the rows in the text too."""
    tree = _parse(shield.text)
    if tree is None or not shield.spans:
        return tree
    prefix = f"lq{shield.nonce}:"
    body, head = tree.find("body"), tree.find("head")
    if body is not None:  # Liquid before <html>, in <head> or after </html> ({% assign %}…) must stay in the text
        early = [*reversed(list(tree.itersiblings(preceding=True))), *(() if head is None else head.iter())]
        for i, node in enumerate(n for n in early if (n.text or "").startswith(prefix)):
            node.tail = None
            body.insert(i, node)
        for node in [n for n in tree.itersiblings() if (n.text or "").startswith(prefix)]:
            node.tail = None
            body.append(node)
    for node in [n for n in tree.iter(lxml.etree.Comment) if (n.text or "").startswith(prefix)]:
        token, parent = f"lq{shield.nonce}_{node.text[len(prefix):]}_", node.getparent()
        if parent.tag in _TABLE:
            cell = lxml.html.Element("td")
            cell.text = token
            if parent.tag != "tr":
                row, cell = cell, lxml.html.Element("tr")
                cell.append(row)
            node.addprevious(cell)
            token = ""
        token += node.tail or ""
        before = node.getprevious()
        if before is not None:
            before.tail = (before.tail or "") + token
        else:
            parent.text = (parent.text or "") + token
        parent.remove(node)
    return tree


def _check(tree: Any, shield: _Shield) -> list[EmailWarning]:
    """Refuse scripts; warn about images without alt text and stylesheets that will not be inlined."""
    warnings: list[EmailWarning] = []
    if tree is None:
        return warnings
    if tree.xpath("//script | //@*[starts-with(name(), 'on')]") or any(  # the parser lowercases names
        url.strip().lower().startswith("javascript:") for url in tree.xpath("//@href | //@src | //@action")
    ) or any(map(_SCRIPTY.search, shield.spans)):  # e.g. {% raw %}<script>{% endraw %} or a literal URL
        raise EmailBuildError(
            "Scripts are not allowed in email (<script>, on* handlers, javascript: URLs); mail clients"
            " strip them and filters treat them as spam", code="script_not_allowed",
        )
    no_alt = [shield.restore(i.get("src", ""), None) for i in tree.iter("img") if not (i.get("alt") or "").strip()]
    for el in tree.iter("link", "style"):
        if el.tag == "link" and "stylesheet" in el.get("rel", "").lower():
            _external(shield.restore(el.get("href", ""), None), warnings)
        for url in _IMPORT.findall(el.text or "") if el.tag == "style" else ():
            _external(shield.restore(url, None), warnings)
    if no_alt:
        shown = ", ".join(no_alt[:3]) + (", …" if len(no_alt) > 3 else "")
        warnings.append(EmailWarning("img_alt_missing", f"{len(no_alt)} image(s) without alt text ({shown}); many"
                                     " clients block images by default, so the alt text is what readers see"))
    return warnings


def _external(url: str, warnings: list[EmailWarning]) -> None:
    if "font" not in url.lower():  # web-font CSS (e.g. MJML's mj-font) is meant to stay a link
        warnings.append(EmailWarning("external_stylesheet", f"Stylesheet {url} is not loaded or inlined (Herald"
                                     " never fetches remote CSS) and most email clients ignore it; put the CSS in"
                                     " a <style> block"))


def _size_warning(html: str) -> list[EmailWarning]:
    if (size := len(html.encode())) <= GMAIL_CLIP_BYTES:
        return []
    return [EmailWarning("gmail_clip", f"The HTML is {size:,} bytes; Gmail clips messages above about 102 KB"
                                       " (and hides the unsubscribe link with the rest)")]


def _kind(url: str) -> str:
    low = url.lower()
    return next((kind for prefix, kind in _KINDS if low.startswith(prefix)), "other")


def _links(tree: Any, shield: _Shield) -> list[Link]:
    found: dict[str, Link] = {}
    for a in tree.iter("a") if tree is not None else ():
        href = a.get("href")
        if href is None:
            continue
        url = shield.restore(href.strip(), None)
        label = " ".join(a.text_content().split()) or " ".join(
            (img.get("alt") or "").strip() for img in a.iter("img")).strip()
        label = shield.restore(label, None)
        if url not in found:
            found[url] = {"url": url, "text": label, "kind": _kind(url)}
        elif not found[url]["text"]:
            found[url]["text"] = label
    return list(found.values())


def _text(tree: Any, shield: _Shield) -> str:
    """Text part from a protected tree (modified: each link gets its URL after its text)."""
    if tree is None:
        return ""
    anchors = [(a, (a.get("href") or "").strip(), " ".join(a.text_content().split())) for a in tree.iter("a")]
    labelled = {href for _, href, label in anchors if label}
    for a, href, label in anchors:
        if not href or _kind(shield.restore(href, None)) in ("anchor", "other"):
            continue
        shown = href[7:] if href.lower().startswith("mailto:") else href
        if label in (href, shown):
            continue
        alt = " ".join(filter(None, ((img.get("alt") or "").strip() for img in a.iter("img"))))
        if not label and not alt and href in labelled:
            continue  # an icon next to a text link to the same place
        span = lxml.html.Element("span")
        span.text = f" ({shown})" if label else f"{alt} ({shown})" if alt else shown
        a.append(span)
    raw = shield.restore(str(Inscriptis(tree, _TEXT_CONFIG).get_text()), None, glue=True)
    lines: list[str] = []
    for line in map(str.rstrip, raw.splitlines()):
        lead = _BULLET.match(line)  # always matches; a wrapped list item hangs under its text
        hanging = lead.group(1) + " " * len(lead.group(2) or "") if lead else ""
        lines += [line] if len(line) <= TEXT_WIDTH else textwrap.wrap(
            line, TEXT_WIDTH, subsequent_indent=hanging, break_long_words=False, break_on_hyphens=False)
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n").translate(_UNGLUE)
    return text + "\n" if text else ""


def compile_mjml(source: str) -> str:
    """MJML → HTML with mrml; Liquid comes through untouched. Raises ``EmailBuildError`` (``mjml_error``)."""
    shield = _Shield(source)
    return shield.restore(_mrml(shield)[0], "MJML compilation")


def inline_css(html: str) -> str:
    """Move ``<style>`` rules into ``style`` attributes (most clients honour only those), keeping ``@media``
    and other at-rules in a ``<style>``; never loads a remote or local stylesheet."""
    shield = _Shield(html)
    return shield.restore(_inline(shield, shield.text, []), "CSS inlining")


def html_to_text(html: str) -> str:
    """A readable text part: links as ``text (url)``, lines wrapped at ``TEXT_WIDTH``, Liquid intact.

    Liquid only in attributes other than ``href`` (or in hidden or head elements) is dropped with them."""
    shield = _Shield(html)
    return _text(_text_tree(shield), shield)


def links(html: str) -> list[Link]:
    """Each distinct ``<a href>`` in document order with its text (or its image's alt text) and kind."""
    shield = _Shield(html)
    return _links(_text_tree(shield), shield)


def prepare_html(source: str, *, mjml: bool) -> PreparedHtml:
    """The save-time pipeline: compile MJML (when ``mjml``), refuse scripts, inline CSS, collect warnings."""
    shield = _Shield(source)
    warnings: list[EmailWarning] = []
    html = shield.text
    if mjml:
        html, warnings = _mrml(shield)
    warnings += _check(_parse(html), shield)
    html = shield.restore(_inline(shield, html, warnings), "MJML compilation and CSS inlining")
    return PreparedHtml(html, warnings + _size_warning(html))


def email_summary(subject: str, html: str | None, text: str | None) -> EmailSummary:
    """Size, text part (given or generated from ``html``), links and warnings of an email for a preview."""
    if html is None and text is None:
        raise EmailBuildError("An email needs an HTML or a text part", code="email_empty")
    warnings: list[EmailWarning] = []
    if html is not None:
        shield = _Shield(html)
        tree = _text_tree(shield)
        warnings = _check(tree, shield) + _size_warning(html)
        found = _links(tree, shield)
        if text is None:
            text = _text(tree, shield)
    else:
        found = [{"url": u, "text": "", "kind": _kind(u)} for u in dict.fromkeys(_TEXT_URL.findall(text or ""))]
    message = build_message(
        message_id=PREVIEW_MESSAGE_ID, domain=PREVIEW_DOMAIN, from_email=PREVIEW_FROM, from_name=None,
        to=PREVIEW_TO, subject=subject, text=text, html=html, date=PREVIEW_DATE,
    )
    return EmailSummary(len(message), text or "", found, warnings)
