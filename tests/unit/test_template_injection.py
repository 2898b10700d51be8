"""Template injection: a corpus of Jinja-, Liquid-, Python- and other engines' payloads, written by a hostile
template author (or smuggled into the data). None may reach anything beyond the data passed in, none may run
past the limits: each payload either fails with one of the engine's own errors or renders text that holds
nothing the template's own text and the data could not have produced, within the size and time limits."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.templates.liquid import Renderer, RenderError, TemplateSyntaxError

DATA: dict[str, Any] = {
    "contact": {"first_name": "Ann", "email": "ann@example.com", "timezone": "Europe/Paris", "tags": ["a", "b"]},
    "row": {"amount": "12.50", "card": "4111111111111234"},
    "event": {"items": [{"sku": "A1", "price": "3.20"}], "occurred_at": "2025-03-01T10:00:00Z"},
    "workspace": {"name": "Acme", "timezone": "UTC"},
    "message": {"locale": "en", "id": "msg_1"},
}

# What reaching past the data would show: Python object reprs, modules, files, the process's environment.
LEAKS = ["<class", "class '", "<module", "module '", "<function", "function ", "<bound", "method ", "object at",
         "built-in", "builtins", "__globals__", "__subclasses__", "mappingproxy", "traceback", "/etc", "root:",
         "/work", "site-packages", "python3", "environ", "liquid.", "herald.", "forloop(", "undefined(",
         "renderer", "context object", "<generator", "uid=", "gid="]
HEX_ADDRESS = re.compile(r"0x[0-9a-f]{6,}", re.IGNORECASE)
CODES = {"syntax_error", "unknown_filter", "unknown_tag", "limit_exceeded", "undefined_variable", "timeout",
         "render_error", "empty_render"}

NESTED_BRACKETS = "{{ contact" + "[contact" * 3000 + "]" * 3000 + " }}"
LONG_CHAIN = "{{ contact.first_name " + "| upcase " * 20000 + "}}"
DEEP_IF = "{% if " + "contact and " * 5000 + "row %}x{% endif %}"

PAYLOADS: list[str] = [
    # --- Jinja2 / Python server-side template injection -------------------------------------------------
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[2].__subclasses__()[40]('/etc/passwd').read() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('id').read() }}",
    "{{ self }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ request }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ url_for.__globals__ }}",
    "{{ get_flashed_messages.__globals__['current_app'].config }}",
    "{{ ''|attr('__class__') }}",
    "{{ contact|attr('__class__') }}",
    "{% import os %}{{ os.popen('id').read() }}",
    "{% from os import popen %}",
    "{% set x = 7 * 7 %}{{ x }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% debug %}",
    "{{ 7*7 }}",
    "{{ 7*'7' }}",
    "{{ __builtins__ }}",
    "{{ __import__('os').system('id') }}",
    "{{ globals }}{{ locals }}{{ vars }}{{ dir }}",
    "{{ eval('1+1') }}{{ exec }}{{ open }}",
    "{{ _ }}{{ __ }}{{ ___ }}",
    # --- reaching Python attributes through the data ------------------------------------------------------
    "{{ contact.__class__ }}",
    "{{ contact.__dict__ }}",
    "{{ contact['__class__'] }}",
    "{{ contact['__class__']['__init__'] }}",
    "{{ contact.items }}{{ contact.keys }}{{ contact.values }}{{ contact.get }}",
    "{{ contact.first_name.upper }}",
    "{{ contact.first_name.__len__ }}",
    "{{ contact.first_name['__class__'] }}",
    "{{ contact.first_name.format }}",
    "{{ row.amount.__class__.__mro__ }}",
    "{{ event.items.__class__ }}",
    "{{ event.items.pop }}{{ event.items.append }}",
    "{{ event.items[0].__class__ }}",
    "{{ event.items[-1].price }}",
    "{{ contact.tags.__len__ }}",
    "{% for i in event.items %}{{ forloop.__class__ }}{% endfor %}",
    "{% for i in event.items %}{{ forloop.it }}{{ forloop._index }}{{ forloop.step }}{% endfor %}",
    "{% for i in event.items %}{{ forloop }}{{ forloop.name }}{% endfor %}",
    "{% for i in event.items %}{% for j in contact.tags %}{{ forloop.parentloop.__init__ }}{% endfor %}{% endfor %}",
    "{% tablerow i in event.items %}{{ tablerowloop.__class__ }}{{ tablerowloop.it }}{% endtablerow %}",
    "{{ now.__class__ }}{{ now.tzinfo }}",
    "{{ today.year }}{{ today['__class__'] }}",
    "{{ partial.__class__ }}",
    "{{ context }}{{ env }}{{ environment }}{{ template }}{{ renderer }}",
    "{% assign c = contact %}{{ c.__class__ }}",
    "{% assign f = contact.first %}{{ f }}{{ f[0] }}{{ f.__class__ }}",
    "{{ contact | json }}{{ contact | inspect }}",
    "{{ contact | map: '__class__' }}",
    "{{ event.items | map: '__class__' | join: ',' }}",
    "{{ event.items | where: '__class__' }}",
    "{{ event.items | sort: '__class__' }}",
    "{{ contact.tags | join: contact }}",
    "{{ contact }}{{ event.items }}{{ event }}",
    # --- Liquid: loading other templates and files --------------------------------------------------------
    "{% include '/etc/passwd' %}",
    "{% include '../../../../../etc/passwd' %}",
    "{% include 'file:///etc/passwd' %}",
    "{% render 'secrets' %}",
    "{% render contact.first_name %}",
    "{% include contact.first_name with contact %}",
    "{% layout 'admin' %}",
    "{% section 'header' %}",
    "{% extends 'base.html' %}{% block body %}x{% endblock %}",
    "{% macro m(x) %}{{ x }}{% endmacro %}",
    "{% call m() %}{% endcall %}",
    "{% translate %}x{% endtranslate %}",
    "{% with contact as c %}{{ c }}{% endwith %}",
    "{% snippet x %}{{ y }}{% endsnippet %}",
    "{{ 'x' | t }}",
    "{% liquid\ninclude '/etc/passwd'\n%}",
    "{% liquid\necho contact.__class__\n%}",
    # --- Liquid: resource exhaustion ------------------------------------------------------------------------
    "{% for i in (1..9999999999) %}x{% endfor %}",
    "{% for i in (1..1000) %}{% for j in (1..1000) %}{% for k in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}",
    "{% for i in (1..5000) %}{% endfor %}" * 200 + "x",
    "{% tablerow i in (1..9999999) %}{{ i }}{% endtablerow %}",
    "{% for i in (1..10) %}{% for j in (1..10) %}{% for k in (1..10) %}{% for l in (1..10) %}x"
    "{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
    "x" + "{% for i in (1..2) %}" * 29 + "{% endfor %}" * 29,
    "{% capture a %}ab{% endcapture %}{% for i in (1..60) %}{% capture a %}{{ a }}{{ a }}{% endcapture %}{% endfor %}"
    "{{ a }}",
    "{% assign s = 'abcdefghij' %}{% for i in (1..60) %}{% assign s = s | append: s %}{% endfor %}{{ s }}",
    "{% assign a = contact.tags %}{% for i in (1..60) %}{% assign a = a | concat: a %}{% endfor %}{{ a | join }}",
    "{% assign s = 'x' %}{% for i in (1..30) %}{% assign s = s | replace: 'x', 'xxxxxxxxxx' %}{% endfor %}{{ s }}",
    "{% for i in (1..9999) %}{% cycle 'a', 'b', 'c' %}{% increment n %}{% endfor %}",
    "{{ (1..100000000) | join: ',' }}",
    "{{ (1..100000000) | sort | first }}",
    "{{ (1..100000000) | reverse | first }}",
    "{{ (1..100000000) | sum }}",
    "{{ (1..100000000) | map: 'x' | size }}",
    "{{ (1..100000000) | size }}{{ (1..100000000).last }}",
    "{{ 'ab' | split: '' | concat: (1..100000000) | size }}",
    "{{ 99999999999999999999999 | times: 99999999999999999999999 | times: 99999999999999999999999 | times: "
    "99999999999999999999999 | times: 99999999999999999999999 | times: 99999999999999999999999 }}",
    "{{ 1 | divided_by: 0 }}",
    "{{ 1 | modulo: 0 }}",
    "{{ 1e308 | times: 1e308 }}",
    "{{ 'x' | truncate: 999999999999999999999 }}",
    "{{ 'x' | slice: 0, 99999999999999999999999999 }}",
    "{{ 'x' | round: 999999999 }}",
    "{{ 1.5 | round: 99999 }}",
    "{{ 'x' | replace: '', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' }}",
    "{{ 'a' | append: 'a' | append: 'a' }}" * 2000,
    "{{ 'now' | date: '%Y %s %c %n %%' }}",
    "{{ 'now' | date: '%' }}",
    "{{ contact.first_name | base64_decode }}",
    "{{ '%ZZ%00' | url_decode }}",
    "{{ event.occurred_at | local_datetime: 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' }}",
    "{{ event.occurred_at | local_datetime: 'short', '/etc/passwd' }}",
    "{{ event.occurred_at | local_datetime: 'short', 'UTC', '../../../etc/passwd' }}",
    "{{ row.amount | money: '../../etc' }}",
    "{{ row.amount | money: 'EUR', '__class__' }}",
    "{{ row.card | mask: 999999999999 }}",
    NESTED_BRACKETS,
    LONG_CHAIN,
    DEEP_IF,
    "{{" * 50000,
    "{%" * 50000,
    "{% if %}" * 5000,
    "{{ contact" + ".first_name" * 20000 + " }}",
    "x" * 300_000,
    "{% assign" + " " * 20000 + "x = 1 %}",
    "{% raw %}" * 20000,
    "{% doc %}" * 20000,
    ("{% assign x = 1" + " " * 40 + "%}") * 3000,
    "{{ '" + "y" * 200_000 + "' }}",
    # --- Python format strings and other engines' syntax (plain text to Liquid) ----------------------------
    "{0.__class__}",
    "{0.__init__.__globals__}",
    "{contact.__class__.__init__.__globals__}",
    "%(contact)s %s %r %n %x",
    "{x!r} {x!s} {x:>99999999}",
    "f'{__import__(\"os\").system(\"id\")}'",
    "${7*7}",
    "#{7*7}",
    "*{7*7}",
    "@(7*7)",
    "<%= 7*7 %>",
    "<%= system('id') %>",
    "<%= File.open('/etc/passwd').read %>",
    "{{_self.env.registerUndefinedFilterCallback('exec')}}{{_self.env.getFilter('id')}}",
    "{{ ['id']|filter('system') }}",
    "{{#with 'constructor' as |c|}}{{c}}{{/with}}",
    "{{this}}{{#each this}}{{@key}}{{/each}}",
    "{{{contact}}}{{& contact}}",
    "#set($x = 7 * 7)$x $x.class.forName('java.lang.Runtime')",
    "<#assign ex='freemarker.template.utility.Execute'?new()>${ex('id')}",
    "${T(java.lang.Runtime).getRuntime().exec('id')}",
    "{php}echo `id`;{/php}{system('id')}",
    "${self.module.cache.util.os.system('id')}",
    "<% import os %>${os.popen('id').read()}",
    "{% load module %}{% debug %}",
    "{{.}}{{printf \"%s\" .}}{{template \"x\"}}",
    "<!--#exec cmd=\"id\" -->",
    "{{ '<script>alert(1)</script>' }}",
    # --- odd characters ----------------------------------------------------------------------------------------
    "{{ contact.first_name }}\x00",
    "{{ 'a\x00b' }}",
    "{% assign x = '\x00' %}{{ x }}",
    "{{ contact.first_name }}\u202e\u2066 hidden \u2069",
    "{{ '\\u0000\\x00' }}",
    "{{ contact.first_\u0130name }}",
    "{{ 'x' }}\r\n{{ 'y' }}\r{% raw %}{{ raw }}{% endraw %}",
    "{% comment %}{{ contact.__class__ }}{% endcomment %}ok",
    "{% raw %}{{ ''.__class__ }}{% endraw %}",
]


def _id(index: int, payload: str) -> str:
    return f"{index:03d}-" + re.sub(r"[^A-Za-z0-9_.'|%{}()*$#@<>=-]+", "_", payload[:40])


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def _assert_contained(text: str, payload: str) -> None:
    lowered, source = text.lower(), payload.lower()
    for marker in LEAKS:
        assert marker not in lowered or marker in source, f"{marker!r} leaked into {text[:200]!r}"
    for address in HEX_ADDRESS.findall(text):
        assert address.lower() in source, f"a memory address leaked: {address}"


def test_the_corpus_is_big_enough() -> None:
    assert len(PAYLOADS) >= 100
    assert len(set(PAYLOADS)) == len(PAYLOADS)


RAN_ON = 4.5
"""CPU seconds a render may take past its time limit before the test calls it a runaway. A renderer that
ignored its limit would run on for hours here (one payload doubles a list sixty times), so
seconds still catch it; a tighter bound failed three clean-clone runs on the shared CI VM at a quarter of its
speed, where the list-doubling payload that stops in 0.15 s alone measured 1.7-2.4 s of CPU late in the full
suite. Time is this thread's CPU, not the wall clock: the host stalls the whole VM for seconds at times."""


@pytest.mark.parametrize("payload", PAYLOADS, ids=[_id(i, p) for i, p in enumerate(PAYLOADS)])
def test_payload_stays_inside_its_data(renderer: Renderer, payload: str) -> None:
    for html in (False, True):
        # Compiling is bounded by the source's size (a 180 KB chain of filters takes ~0.3 s), rendering by the
        # render time limit: each is checked against its own bound (see RAN_ON).
        started = time.thread_time()
        try:
            compiled = renderer.compile(payload, html=html)
        except TemplateSyntaxError as exc:
            assert exc.code in CODES  # noqa: PT017 - each payload may fail or succeed; both are checked
            _assert_contained(str(exc), payload)
            assert time.thread_time() - started < 5.0, "compiling a payload took too long"
            continue
        assert time.thread_time() - started < 5.0, "compiling a payload took too long"
        started = time.thread_time()
        try:
            out = renderer.render(compiled, DATA, allow_empty=True)
        except (RenderError, TemplateSyntaxError) as exc:
            assert exc.code in CODES  # noqa: PT017 - each payload may fail or succeed; both are checked
            _assert_contained(str(exc), payload)
        else:
            assert len(out) <= renderer.output_limit
            _assert_contained(out, payload)
        assert time.thread_time() - started < renderer.time_limit + RAN_ON, "a payload ran past the time limit"


DATA_PAYLOADS = [
    "{{ 7*7 }}", "{% include '/etc/passwd' %}", "{{ contact.__class__ }}", "{0.__class__}", "%(x)s", "${7*7}",
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "'; DROP TABLE contacts; --", "\x00",
]


@pytest.mark.parametrize("value", DATA_PAYLOADS, ids=[_id(i, v) for i, v in enumerate(DATA_PAYLOADS)])
def test_values_are_data_never_templates(renderer: Renderer, value: str) -> None:
    data = {**DATA, "contact": {**DATA["contact"], "first_name": value}}
    assert renderer.render(renderer.compile("Hi {{ contact.first_name }}", html=False), data) == f"Hi {value}"
    html = renderer.render(renderer.compile("<p>{{ contact.first_name }}</p>", html=True), data)
    assert "<" not in html[3:-4]
    assert ">" not in html[3:-4]
    assert '"' not in html[3:-4]
    assert "'" not in html[3:-4]


PIECES = ["{{", "}}", "{%", "%}", "-", " ", "   ", "\n", "x", ".", "|", ":", ",", "'", "\"", "[", "]", "(1..9)",
          "for", "in", "endfor", "if", "endif", "raw", "endraw", "assign", "=", "capture", "endcapture", "append",
          "contact", "first_name", "__class__", "upcase", "money", "default"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=3000).map("".join))
def test_any_liquid_like_text_fails_cleanly_and_quickly(source: str) -> None:
    renderer = Renderer()
    started = time.thread_time()  # as above
    try:
        out = renderer.render(renderer.compile(source, html=True), DATA, allow_empty=True)
    except (RenderError, TemplateSyntaxError) as exc:
        assert exc.code in CODES  # noqa: PT017 - any outcome is fine if it is one of ours
    else:
        assert len(out) <= renderer.output_limit
    assert time.thread_time() - started < renderer.time_limit + RAN_ON
