"""The compiled fast path renders exactly what python-liquid's interpreter renders, and fails over to it.

Each case renders a template twice: through :meth:`Renderer.render` (the fast function, falling back to the
interpreter when it fails) and through the interpreter alone (the same compiled template with ``fast=None``).
Output, or the error's code, message, variable, line and column, must be equal. Cases that the fast function
is meant to handle are also checked to be handled by it (not merely rescued by the fallback), so a change that
quietly sent every render to the interpreter would fail here.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald.templates.liquid import CompiledTemplate, Renderer, RenderError, TemplateSyntaxError

DATA: dict[str, Any] = {
    "contact": {"first_name": "Zoë <admin>", "timezone": "Asia/Kolkata", "locale": "en-IN", "tags": ["a", "b"]},
    "a": {"b": "x&y", "n": 0, "none_text": "", "list": [1, 2, 3]},
    "items": [{"name": "Tea 'green'", "price": Decimal("3.50"), "qty": 2},
              {"name": "Cup", "price": Decimal("12"), "qty": 1},
              {"name": "Pot \"big\"", "price": Decimal("1234.5"), "qty": 0}],
    "s": "hello", "n": 7, "f": 2.5, "d": Decimal("-1234.567"), "flag": True, "off": False, "none": None,
    "empty_list": [], "m": {"k": "v", "size": "custom size", "first": "custom first"},
    "when": datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "card": "4111-2222-3333-4444",
    "workspace": {"currency": "EUR", "timezone": "Europe/Paris"}, "message": {"locale": "fr-FR"},
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def outcome(renderer: Renderer, compiled: CompiledTemplate, data: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return ("ok", renderer.render(compiled, data, allow_empty=True))
    except RenderError as exc:
        return ("error", exc.code, exc.message, exc.variable, exc.line, exc.column)


def same(renderer: Renderer, source: str, data: dict[str, Any] | None = None, *, html: bool = False
         ) -> tuple[tuple[Any, ...], bool]:
    """Both engines' outcome (asserted equal) and whether the fast function handled it itself."""
    data = DATA if data is None else data
    try:
        compiled = renderer.compile(source, html=html)
    except TemplateSyntaxError as exc:
        return ("syntax", exc.code), False
    interpreted = outcome(renderer, dataclasses.replace(compiled, fast=None), data)
    assert outcome(renderer, compiled, data) == interpreted, source
    handled = compiled.fast is not None and renderer._fast(compiled, data, float("inf")) is not None
    if handled:  # the fast function's own output, not the fallback's
        assert ("ok", renderer._fast(compiled, data, float("inf"))) == interpreted, source
    return interpreted, handled


HANDLED = [
    "plain text only",
    "Hi {{ contact.first_name }}, {{ a.b }} {{ n }} {{ f }} {{ d }} {{ flag }} {{ off }} {{ none }}!",
    "{{ a.list }} {{ a.list.size }} {{ a.list.first }} {{ a.list.last }} {{ a.list[1] }} {{ a.list[-1] }}",
    "{{ m.size }} {{ m.first }} {{ m.k }} {{ s.size }} {{ items.size }} {{ items[0].name }}",
    "{{ missing | default: 'none' }} {{ a.none_text | default: '<b>' }} {{ a.n | default: 5 }}",
    "{{ contact.first_name | upcase | append: '!' | prepend: '<' }} {{ s | replace: 'l', 'L' }}",
    "{% for item in items %}{{ forloop.index }}/{{ forloop.length }} {{ item.name }} x{{ item.qty }} = "
    "{{ item.price | money: 'EUR' }}{% if forloop.last %}.{% else %}, {% endif %}{% endfor %}",
    "{% for item in items %}{% if item.qty == 0 %}{% continue %}{% endif %}{{ item.name }};"
    "{% if item.price > 10 %}{% break %}{% endif %}{% endfor %}",
    "{% for x in empty_list %}never{% else %}empty{% endfor %}",
    "{% for x in contact.tags %}{% for y in a.list %}{{ x }}{{ y }}{{ forloop.parentloop.index }} "
    "{% endfor %}{% endfor %}",
    "{% for x in a.list %}{{ x }}{% endfor %}",
    "{% unless flag %}no{% else %}yes{% endunless %} {% if off %}a{% elsif n > 3 %}b{% else %}c{% endif %}",
    "{% assign total = items | map: 'qty' | sum %}{{ total }} {% capture c %}[{{ s }}]{% endcapture %}{{ c }}",
    "{% for x in a.list %}{% assign last = x %}{% endfor %}{{ last }}",
    "{% assign s = 'shadowed' %}{{ s }} {% for n in a.list %}{{ n }}{% endfor %} {{ n }}",
    "{{ partial }} {{ a.list | join: '-' }} {{ (1..4) | join: ',' }}",
    "{% case n %}{% when 7 %}seven{% else %}other{% endcase %} {% echo s | upcase %}",
    "{% if true %}   {% endif %}|{% for x in a.list %}  {% endfor %}|{% if flag %}  x  {% endif %}",
    "{{ when | local_datetime: 'medium' }} {{ when | local_date: 'long' }} {{ card | mask }}",
    "{{ 5 | pluralize: 'point', 'points' }} {{ contact.first_name | mask_email }}",
    "{% raw %}{{ not a variable }}{% endraw %}{% comment %}gone{% endcomment %}",
    "{{ items.first.name }} {{ items.last.price }} {{ items[1]['name'] }} {{ m['k'] }}",
]


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("source", HANDLED)
def test_the_fast_function_renders_what_the_interpreter_renders(renderer: Renderer, source: str,
                                                                 html: bool) -> None:
    result, handled = same(renderer, source, html=html)
    assert result[0] == "ok", result
    assert handled, "the fast function fell back to the interpreter"


FAILING = [
    "Hi {{ contact.last_name }}",  # undefined, with its dotted name
    "{{ missing.deep.path }}",
    "line one\n  {% for item in items %}{{ item.nope }}{% endfor %}",
    "{{ s | money: 'XXX' }}",  # a filter refusing its argument
    "{{ s | money: 'EUR' }}",  # a filter refusing its input
    "{{ s[0] }}",  # Liquid strings are not indexable (Python's are)
    "{{ items | map: 'nope' | join }}",
    "{% for x in (1..20000) %}{{ x }}{% endfor %}",  # the loop limit
    "{% for x in a.list %}{% break %}{% endfor %}{% break %}",  # a break outside a loop
    "{% for x in a.list offset: continue %}{{ x }}{% endfor %}",  # works: 'offset' turns the fast loop off
    "{% for x in a.list limit: 2 %}{{ x }}{% endfor %}{% for x in a.list offset: continue %}{{ x }}{% endfor %}",
    "{% for x in a.list reversed limit: 2 %}{{ x }}{% endfor %}",
    "{{ missing | upcase }}",
    "{{ a.list | first | plus: 'x' }}",
]


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("source", FAILING)
def test_errors_and_unusual_shapes_are_the_interpreters(renderer: Renderer, source: str, html: bool) -> None:
    same(renderer, source, html=html)


def test_the_output_limit_holds_in_the_fast_function() -> None:
    renderer = Renderer(output_limit=1000)
    result, handled = same(renderer, "{% for x in (1..101) %}{{ s }}{{ s }}{% endfor %}")
    assert result[:2] == ("error", "limit_exceeded")
    result, handled = same(renderer, "x" * 900 + "{% for i in (1..3) %}{{ s | append: s }}{% endfor %}")
    assert result == ("ok", "x" * 900 + "hellohello" * 3)
    assert handled
    # captured text counts against the limit as the interpreter counts it (a captured buffer carries the size)
    same(renderer, "x" * 990 + "{% capture c %}{{ s }}{{ s }}{% endcapture %}{{ c | size }}")


def test_a_render_that_times_out_in_the_fast_function_says_so() -> None:
    renderer = Renderer(time_limit=0.02, loop_limit=10_000_000)
    source = "{% for i in (1..3000) %}{% for j in (1..3000) %}{{ i }}{% endfor %}{% endfor %}"
    with pytest.raises(RenderError) as info:
        renderer.render(renderer.compile(source, html=False), {})
    assert info.value.code == "timeout"


def test_deep_nesting_is_left_to_the_interpreter(renderer: Renderer) -> None:
    nested = "{% for a in l %}" * 8 + "{{ a }}" + "{% endfor %}" * 8
    result, _ = same(renderer, nested, {"l": [1]})
    assert result == ("ok", "1")


def test_template_text_never_becomes_code(renderer: Renderer) -> None:
    """Names and text that would be code in the generated source stay data."""
    hostile = ('{{ x["__import__(\'os\')"] | default: "\') + str(1) + (\'" }}{% for __class__ in l %}'
               "{{ __class__ }}{% endfor %}{{ c0 }}{{ g }}{{ ctx }}{{ ap }}{{ out }}{{ n }}")
    result, handled = same(renderer, hostile, {"l": ["a"], "n": 1, "c0": "c", "g": "g", "ctx": "x", "ap": 1,
                                               "out": 2, "x": {}})
    assert result == ("ok", "') + str(1) + ('acgx121")
    assert handled


# -------------------------------------------------------------------------------------- generated templates

PATHS = ["s", "n", "d", "f", "flag", "off", "none", "a.b", "a.n", "a.none_text", "a.list", "a.list.size",
         "a.list.first", "items.size", "items[0].name", "m.k", "m.size", "missing", "missing.x", "partial",
         "contact.first_name", "empty_list", "contact.tags[1]"]
LOOP_PATHS = ["x", "x.name", "x.price", "forloop.index", "forloop.first", "forloop.rindex", "x.size"]
FILTERS = ["", " | upcase", " | default: 'dflt'", " | append: '&'", " | size", " | plus: 1", " | join: '+'",
           " | first", " | escape", " | money: 'USD'", " | strip", " | truncate: 4", " | downcase | append: s"]
CONDITIONS = ["flag", "off", "n > 3", "s == 'hello'", "missing", "a.list contains 2", "none == nil",
              "empty_list == empty", "a.none_text == blank", "x", "forloop.last", "flag and n < 2", "off or s"]


def statements(depth: int) -> st.SearchStrategy[str]:
    text = st.sampled_from(["", " ", "a", "<b>&", "\n", "  \n  ", "'\"", "}"])
    output = st.builds(lambda p, f: "{{ " + p + f + " }}", st.sampled_from(PATHS + LOOP_PATHS),
                       st.sampled_from(FILTERS))
    simple = st.one_of(text, output, st.sampled_from(["{% break %}", "{% continue %}", "{% assign s = n %}",
                                                      "{% increment c %}", "{% echo n %}", "{% cycle 'x', 'y' %}"]))
    if depth == 0:
        return simple
    inner = st.lists(statements(depth - 1), max_size=4).map("".join)
    branch = st.builds(lambda c, a, b: f"{{% if {c} %}}{a}{{% else %}}{b}{{% endif %}}",
                       st.sampled_from(CONDITIONS), inner, inner)
    unless = st.builds(lambda c, a: f"{{% unless {c} %}}{a}{{% endunless %}}", st.sampled_from(CONDITIONS), inner)
    loop = st.builds(lambda p, opts, a, e: f"{{% for x in {p}{opts} %}}{a}{e}{{% endfor %}}",
                     st.sampled_from(["items", "a.list", "contact.tags", "empty_list", "(1..3)", "m", "s", "none"]),
                     st.sampled_from(["", "", " limit: 2", " reversed"]), inner,
                     st.sampled_from(["", "{% else %}none"]))
    capture = st.builds(lambda a: f"{{% capture s %}}{a}{{% endcapture %}}", inner)
    return st.one_of(simple, branch, unless, loop, capture)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.lists(statements(3), min_size=1, max_size=6).map("".join), html=st.booleans())
def test_generated_templates_render_the_same(source: str, html: bool) -> None:
    same(Renderer(), source, html=html)


def test_a_huge_template_keeps_the_interpreter(renderer: Renderer) -> None:
    """Translating costs ~30 µs a generated line: past a size, compiling the translation would cost more than
    it could save (and a hostile template could stall a save), so the interpreter renders it."""
    huge = "{{ s }}" * 5000
    compiled = renderer.compile(huge, html=False)
    assert compiled.fast is None
    assert renderer.render(compiled, {"s": "ab"}) == "ab" * 5000
    assert renderer.compile("{{ s }}" * 500, html=False).fast is not None
