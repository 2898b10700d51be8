"""Save-time email building: MJML and CSS inlining keep Liquid intact, scripts are refused, nothing is fetched,
the text part is readable, and the preview size is the size of the message Herald sends."""

from __future__ import annotations

import copy
import http.server
import re
import threading
import time
from collections.abc import Iterator

import pytest

from herald.channels.email.mime import build_message
from herald.templates import email as eb
from herald.templates.email import EmailBuildError


def mjml(body: str, head: str = "") -> str:
    return f"<mjml><mj-head>{head}</mj-head><mj-body>{body}</mj-body></mjml>"


def column(*children: str) -> str:
    return "<mj-section><mj-column>" + "".join(children) + "</mj-column></mj-section>"


def liquid(html: str) -> list[str]:
    return re.findall(r"\{\{.*?\}\}|\{%.*?%\}", html, re.S)


NEWSLETTER = mjml(
    column(
        '<mj-image src="https://cdn.example.com/logo.png" alt="Example" href="{{ links.home }}" />',
        '<mj-text css-class="lead">Hello {{ contact.first_name | default: "there" }} 👋</mj-text>',
        "<mj-text><p>Prices incl. VAT &amp; shipping{% if contact.city %} to {{ contact.city }}{% endif %}.</p>"
        "<p>Übersicht · 日本語 · Ελληνικά</p></mj-text>",
    )
    + "{% for product in products %}"
    + column(
        '<mj-button href="{{ product.url }}?utm_source=herald&utm_campaign={{ campaign.id | url_encode }}">'
        "View {{ product.name }}</mj-button>",
        "<mj-text>{% if product.price < 20 %}<b>Under €20!</b>{% endif %}</mj-text>",
    )
    + "{% endfor %}"
    + column(
        "<mj-table><tr><th>Item</th><th>Qty</th></tr>{% for line in order.lines %}"
        "<tr><td>{{ line.name }}</td><td>{{ line.qty }}</td></tr>{% endfor %}</mj-table>",
        '<mj-text><a href="{{ unsubscribe_url }}" class="cta">Unsubscribe</a></mj-text>',
    ),
    head="<mj-title>{{ campaign.title }}</mj-title><mj-preview>Hi {{ contact.first_name }}</mj-preview>"
    '<mj-style inline="inline">.cta { color: #0a66c2; }</mj-style>'
    "<mj-style>@media only screen and (max-width: 480px) { .lead { font-size: 18px !important; } }</mj-style>",
)


# --- MJML -----------------------------------------------------------------------------------------------


def test_mjml_keeps_liquid_in_text_attributes_and_loops() -> None:
    html = eb.compile_mjml(NEWSLETTER)
    assert "<table" in html
    assert "<mj-" not in html
    found = liquid(html)
    for span in liquid(NEWSLETTER):  # every span, verbatim: quotes, "<", "&" and filters untouched
        assert span in found, span
    # mrml writes the literal "&" as "&amp;" (same URL once parsed); the Liquid itself is untouched
    assert 'href="{{ product.url }}?utm_source=herald&amp;utm_campaign={{ campaign.id | url_encode }}"' in html
    assert '{% if product.price < 20 %}' in html
    # the section loop wraps whole sections; the row loop stays between the table rows
    assert html.index("{% for product in products %}") < html.index("View {{ product.name }}") < html.index(
        "{% endfor %}")
    rows = re.search(r"\{% for line in order.lines %\}(.*?)\{% endfor %\}", html, re.S)
    assert rows
    assert rows.group(1).lstrip().startswith("<tr")
    assert rows.group(1).rstrip().endswith("</tr>")


def test_mjml_errors_become_build_errors() -> None:
    with pytest.raises(EmailBuildError) as info:
        eb.compile_mjml("<mjml><mj-body><mj-section>")
    assert info.value.code == "mjml_error"
    assert "MJML" in str(info.value)
    with pytest.raises(EmailBuildError) as info:
        eb.compile_mjml("not mjml at all")
    assert info.value.code == "mjml_error"


def test_mjml_error_line_is_in_the_authors_source() -> None:
    source = '<mjml>\n<mj-body>\n{{ "a\nb" }}\n<mj-include path="x.mjml" />\n</mj-body>\n</mjml>'
    with pytest.raises(EmailBuildError) as info:
        eb.compile_mjml(source)
    assert info.value.code == "mjml_error"
    assert info.value.line == 5
    assert "position" not in str(info.value)


def test_mj_include_reads_no_file() -> None:
    with pytest.raises(EmailBuildError):
        eb.compile_mjml(mjml('<mj-include path="/etc/passwd" />'))


def test_liquid_mjml_cannot_carry_is_an_error_not_a_silent_loss() -> None:
    source = mjml(column("<mj-text>x</mj-text>"), head="{% if vip %}<mj-title>VIP</mj-title>{% endif %}")
    with pytest.raises(EmailBuildError) as info:
        eb.compile_mjml(source)
    assert info.value.code == "liquid_lost"
    assert "{% if vip %}" in str(info.value)


# --- CSS inlining ---------------------------------------------------------------------------------------


STYLED = (
    "<html><head><style>.a { color: red; } p.b { margin: 0; } "
    "@media (max-width: 480px) { .a { color: blue !important; } }</style></head>"
    '<body><p class="a">{{ greeting }}</p><p class="b a" style="font-weight:{{ weight }}">x</p>'
    '<p class="a" style="{% if vip %}font-size:20px{% endif %}">y</p>'
    "<table>{% for r in rows %}<tr><td class=\"a\">{{ r.x }}</td></tr>{% endfor %}</table>"
    '<a class="a" href="{{ url | append: "?a=1&b=2" }}">go</a></body></html>'
)


def test_inline_css_inlines_rules_and_keeps_media_queries() -> None:
    html = eb.inline_css(STYLED)
    assert re.search(r'<p class="a" style="color: ?red;?">\{\{ greeting \}\}</p>', html)
    assert "@media (max-width: 480px)" in html
    assert "color: blue !important" in html
    assert ".a { color: red; }" not in html  # inlined rules leave the <style>


def test_inline_css_keeps_liquid_in_style_attributes_tables_and_urls() -> None:
    html = eb.inline_css(STYLED)
    for span in liquid(STYLED):
        assert span in html, span
    # the author's declarations come after the inlined ones, so they still win
    assert re.search(r'style="color: ?red;margin: ?0;?font-weight:\{\{ weight \}\}"', html)
    assert re.search(r'style="color: ?red;\{% if vip %\}font-size:20px\{% endif %\}"', html)
    assert 'href="{{ url | append: "?a=1&b=2" }}"' in html  # not &quot; / &amp;
    assert re.search(r"<tbody>\{% for r in rows %\}<tr>.*?</tr>\{% endfor %\}</tbody>", html)


def test_style_block_with_liquid_is_kept_as_written() -> None:
    source = "<html><head><style>.a { color: {{ brand }}; }</style></head><body><p class=a>x</p></body></html>"
    prepared = eb.prepare_html(source, mjml=False)
    assert "<style>.a { color: {{ brand }}; }</style>" in prepared.html
    assert [w.code for w in prepared.warnings] == ["style_not_inlined"]


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"p { color: green; }")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def css_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_no_stylesheet_is_ever_fetched(css_server: str, tmp_path: object) -> None:
    source = (
        '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
        f'<link rel="stylesheet" href="{css_server}/a.css"><link rel="stylesheet" href="file:///etc/hostname">'
        f"<style>@import url({css_server}/b.css); p {{ margin: 0; }}</style></head><body><p>x</p></body></html>"
    )
    start = time.monotonic()
    prepared = eb.prepare_html(source, mjml=False)
    assert time.monotonic() - start < 2
    assert _Recorder.hits == []
    assert "green" not in prepared.html
    assert 'style="margin: 0' in prepared.html
    codes = [w.code for w in prepared.warnings]
    assert codes.count("external_stylesheet") == 4


def test_web_font_links_are_not_warned_about() -> None:
    prepared = eb.prepare_html(mjml(column("<mj-text>x</mj-text>")), mjml=True)  # MJML's default Ubuntu font
    assert "fonts.googleapis.com" in prepared.html
    assert prepared.warnings == []


# --- refusals and warnings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<p>x</p><script>alert(1)</script>",
        "<p>x</p><SCRIPT src='https://evil.example/x.js'></SCRIPT>",
        '<img src="x.png" alt="x" onerror="alert(1)">',
        '<a href=" javascript:alert(1)">x</a>',
        "<p>{% raw %}<script>alert(1)</script>{% endraw %}</p>",
        "<a href=\"{{ 'javascript:alert(1)' }}\">x</a>",
    ],
)
def test_scripts_are_refused(html: str) -> None:
    with pytest.raises(EmailBuildError) as info:
        eb.prepare_html(html, mjml=False)
    assert info.value.code == "script_not_allowed"


def test_script_inside_mj_raw_is_refused() -> None:
    with pytest.raises(EmailBuildError) as info:
        eb.prepare_html(mjml(column("<mj-raw><script>alert(1)</script></mj-raw>")), mjml=True)
    assert info.value.code == "script_not_allowed"


def test_images_without_alt_are_warned_about() -> None:
    prepared = eb.prepare_html('<img src="a.png"><img src="b.png" alt=""><img src="c.png" alt="C">', mjml=False)
    (warning,) = prepared.warnings
    assert warning.code == "img_alt_missing"
    assert "2 image" in warning
    assert "a.png" in warning


def test_gmail_clip_warning() -> None:
    small = eb.prepare_html("<p>" + "x" * 50_000 + "</p>", mjml=False)
    assert not [w for w in small.warnings if w.code == "gmail_clip"]
    big = eb.prepare_html("<p>" + "é" * 60_000 + "</p>", mjml=False)  # 120 KB of UTF-8, 60,000 characters
    assert [w.code for w in big.warnings] == ["gmail_clip"]
    summary = eb.email_summary("Hi", "<p>" + "x" * 110_000 + "</p>", "x")
    assert "gmail_clip" in [w.code for w in summary.warnings]


def test_warnings_read_as_text_and_survive_deepcopy() -> None:
    warning = eb.EmailWarning("gmail_clip", "too big")
    assert warning == "too big"
    assert copy.deepcopy(warning).code == "gmail_clip"


# --- text part and links --------------------------------------------------------------------------------


def test_html_to_text_is_readable_with_links() -> None:
    text = eb.html_to_text(
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        '<div style="display:none">preheader</div><h1>Welcome</h1>'
        '<p>Read <a href="https://example.com/post">the post</a> or mail '
        '<a href="mailto:help@example.com">help@example.com</a>.</p>'
        '<p><a href="https://example.com/"><img src="logo.png" alt="Example"></a></p>'
        "<ul><li>one</li><li>two</li></ul>"
        '<table><tr><td align="center">' + "word " * 40 + "</td></tr></table></body></html>"
    )
    assert "preheader" not in text
    assert "color:red" not in text
    assert "T\n" not in text
    assert "Welcome" in text
    assert "the post (https://example.com/post)" in text
    assert "help@example.com (" not in text  # a mailto link showing its address is not repeated
    assert "Example (https://example.com/)" in text
    assert "* one" in text
    assert all(len(line) <= eb.TEXT_WIDTH for line in text.splitlines())
    assert not any(line.startswith(" ") for line in text.splitlines() if "word" in line)


def test_html_to_text_keeps_liquid_whole_and_loops_around_rows() -> None:
    html = eb.prepare_html(NEWSLETTER, mjml=True).html
    text = eb.html_to_text(html)
    assert 'Hello {{ contact.first_name | default: "there" }} 👋' in text
    assert "View {{ product.name }}" in text
    assert "({{ product.url }}?utm_source=herald&utm_campaign={{ campaign.id | url_encode }})" in text
    assert "Unsubscribe ({{ unsubscribe_url }})" in text
    # the row loop encloses the row, not the whole table
    assert re.search(r"\{% for line in order.lines %\}\n\{\{ line.name \}\} +\{\{ line.qty \}\}\n\{% endfor %\}", text)
    assert "Übersicht · 日本語 · Ελληνικά" in text


def test_long_liquid_is_never_split_by_wrapping() -> None:
    span = '{{ contact.first_name | default: "dear customer" | capitalize }}'
    text = eb.html_to_text(f"<p>{'word ' * 12}{span} {'word ' * 12}</p>")
    assert span in text


def test_links_in_order_deduplicated_with_text_and_kind() -> None:
    found = eb.links(
        '<a href="https://example.com/a">First <b>link</b></a>'
        '<a href="https://example.com/a">again</a>'
        '<a href="mailto:help@example.com">Help</a>'
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
        '<a href="tel:+441234">Call</a><a href="#top">Top</a>'
        '<a href="https://example.com/b"><img src="b.png" alt="Banner"></a><a>no href</a>'
    )
    assert found == [
        {"url": "https://example.com/a", "text": "First link", "kind": "web"},
        {"url": "mailto:help@example.com", "text": "Help", "kind": "mailto"},
        {"url": "{{ unsubscribe_url }}", "text": "Unsubscribe", "kind": "liquid"},
        {"url": "tel:+441234", "text": "Call", "kind": "tel"},
        {"url": "#top", "text": "Top", "kind": "anchor"},
        {"url": "https://example.com/b", "text": "Banner", "kind": "web"},
    ]


# --- the whole pipeline and the preview summary ---------------------------------------------------------


def test_non_latin_text_and_emoji_survive_the_pipeline() -> None:
    words = "Привет 👋 مرحبا 你好 — naïve café 🎉👩‍👩‍👧"
    prepared = eb.prepare_html(mjml(column(f"<mj-text>{words} {{{{ contact.name }}}}</mj-text>")), mjml=True)
    assert words in prepared.html
    summary = eb.email_summary(f"Sujet {words}", prepared.html, None)
    assert words in summary.text
    raw = build_message(
        message_id="m1", domain="example.com", from_email="a@example.com", from_name=None, to="b@example.com",
        subject="s", text=summary.text, html=prepared.html,
    )
    import email
    import email.policy

    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {p.get_content_type(): p.get_content() for p in parsed.walk() if not p.is_multipart()}
    assert words in parts["text/html"]
    assert words in parts["text/plain"]


def test_summary_size_is_the_size_of_the_message_herald_sends() -> None:
    html = eb.prepare_html(NEWSLETTER, mjml=True).html
    summary = eb.email_summary("Hello {{ contact.first_name }} 👋", html, None)
    expected = build_message(
        message_id=eb.PREVIEW_MESSAGE_ID, domain=eb.PREVIEW_DOMAIN, from_email=eb.PREVIEW_FROM, from_name=None,
        to=eb.PREVIEW_TO, subject="Hello {{ contact.first_name }} 👋", text=summary.text, html=html,
        date=eb.PREVIEW_DATE,
    )
    assert summary.size == len(expected)
    assert summary.text == eb.html_to_text(html)
    assert summary.links == eb.links(html)
    assert summary.warnings == []


def test_summary_with_given_text_and_text_only() -> None:
    both = eb.email_summary("S", "<p>Hi</p>", "Hi there")
    assert both.text == "Hi there"
    only = eb.email_summary("S", None, "See https://example.com/x and mailto:a@example.com.")
    assert only.size == len(build_message(
        message_id=eb.PREVIEW_MESSAGE_ID, domain=eb.PREVIEW_DOMAIN, from_email=eb.PREVIEW_FROM, from_name=None,
        to=eb.PREVIEW_TO, subject="S", text=only.text, html=None, date=eb.PREVIEW_DATE))
    assert [link["url"] for link in only.links] == ["https://example.com/x", "mailto:a@example.com"]
    with pytest.raises(EmailBuildError) as info:
        eb.email_summary("S", None, None)
    assert info.value.code == "email_empty"


def test_prepare_html_is_cheap() -> None:
    eb.prepare_html(NEWSLETTER, mjml=True)
    start = time.perf_counter()
    for _ in range(20):
        eb.prepare_html(NEWSLETTER, mjml=True)
    assert (time.perf_counter() - start) / 20 < 0.05  # milliseconds in practice; generous for slow CI


def test_explicit_tbody_loops_are_left_alone() -> None:
    source = "<table>{% for g in groups %}<tbody><tr><td>{{ g.name }}</td></tr></tbody>{% endfor %}</table>"
    html = eb.inline_css(source)
    assert "<table>{% for g in groups %}<tbody><tr><td>{{ g.name }}</td></tr></tbody>{% endfor %}</table>" in html


def test_liquid_outside_the_body_stays_in_the_text_part() -> None:
    source = (
        "{% assign total = order.total %}<!DOCTYPE html><html><head>{% assign n = 2 %}<title>{{ t }}</title>"
        "</head><body><p>Total {{ total }} for {{ n }}</p></body></html>"
    )
    prepared = eb.prepare_html(source, mjml=False)
    assert prepared.html.startswith("{% assign total = order.total %}<!DOCTYPE html>")
    text = eb.html_to_text(prepared.html)
    assert text.index("{% assign total = order.total %}") < text.index("{% assign n = 2 %}") < text.index("Total")
    assert "{{ t }}" not in text


def test_xml_declaration_and_empty_input() -> None:
    assert eb.html_to_text('<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>') == "x\n"
    assert eb.html_to_text("") == ""
    assert eb.links("   ") == []
