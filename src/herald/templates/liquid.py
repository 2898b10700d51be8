"""Customer-authored Liquid templates (python-liquid 2): compile once, check at save, render per recipient.

Marketers write these templates, so they are untrusted input. What keeps a template inside its data:

* python-liquid resolves ``a.b`` and ``a[0]`` by item lookup only, never ``getattr``; and :meth:`Renderer.render`
  passes only plain dicts, lists and scalars (``plain.plain``), so no Python object's attributes are reachable.
* There is no template loader: ``include`` and ``render`` are unregistered and refused at compile.
* Strict variables: printing, looping over or filtering a missing variable raises ``undefined_variable`` with
  its dotted path. ``| default:`` replaces a missing value and ``{% if %}`` treats it as false, as authors expect.
* Limits: loop iterations per render (cumulative, besides python-liquid's per-nest check), output size,
  context depth (nested loops), size of ``assign``/``capture`` locals, the size of any filter's result
  (``replace`` and ``join`` checked before they run, see ``filters._guard``), template size, and a render
  time limit. Compile refuses the shapes that make python-liquid's own lexer quadratic (unclosed delimiters,
  long space runs in tags), so even parsing a hostile template is cheap.

The time limit: python-liquid has none. ``_Context.loop`` wraps every loop's iterator in ``_Context._ticking``,
which checks ``time.monotonic()`` against the render's deadline before each iteration, and ``_Context.filter``
checks it before each filter call. Everything else a template does is linear in its own (bounded) size and
every filter's work is bounded by the size limits, so a render cannot run long between two checks; no signal
or thread is involved, so it works in any thread and raises ``timeout`` instead of hanging.

Speed: each compiled template also gets a Python function that renders it about four times faster
(``fastpath``: same output, same limits, the interpreter taking over whenever it fails), so a campaign's
per-recipient render costs tens of microseconds, not hundreds.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from io import StringIO
from time import monotonic
from typing import Any

from liquid import BoundTemplate, Environment, FalsyStrictUndefined, RenderContext
from liquid.builtin.expressions import FilteredExpression, tokenize
from liquid.exceptions import (
    BlockNestingError,
    ContextDepthError,
    LiquidError,
    LiquidSyntaxError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
    UndefinedError,
)
from liquid.output import LimitedStringIO
from liquid.stream import TokenStream
from liquid.token import TOKEN_EXPRESSION, TOKEN_OUTPUT, TOKEN_TAG, Token

from herald import errors
from herald.templates import fastpath, filters
from herald.templates.plain import Unsupported, plain

BUILTIN_NAMES = frozenset({"now", "today"})  # python-liquid's own globals: always defined
INNER_TAGS = frozenset({"else", "elsif", "when", "break", "continue"})
LEXER_BUDGET = 4_000_000  # about 0.15 s of python-liquid's lexer at its worst (see _lexer_work)
_SPACES = re.compile(r"\s{2,}")
_BLOCK_OPEN = re.compile(r"\{%-?\s*(?:raw|doc)\s*-?%\}")
_BLOCK_END = re.compile(r"\{%-?\s*end(?:raw|doc)\s*-?%\}")
_PATH = re.compile(r"(?:[\w-]+|\[[^\]\n]*\])(?:\s*\.\s*[\w-]+|\s*\[[^\]\n]*\])*")


class TemplateSyntaxError(errors.Invalid):
    """A template refused at save: ``code`` is syntax_error, unknown_filter, unknown_tag or limit_exceeded;
    ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int | None, column: int | None, code: str = "syntax_error") -> None:
        super().__init__(message, code=code)
        self.message, self.line, self.column = message, line, column


class RenderError(errors.Invalid):
    """A render that failed: ``code`` is undefined_variable (``variable`` is its dotted path), limit_exceeded,
    timeout, empty_render or render_error; ``line``/``column`` (1-based) point at the statement."""

    def __init__(self, message: str, *, variable: str | None = None, line: int | None = None,
                 column: int | None = None, code: str = "render_error") -> None:
        super().__init__(message, code=code, field=variable)
        self.message, self.variable, self.line, self.column = message, variable, line, column


@dataclass(frozen=True, slots=True, eq=False)
class CompiledTemplate:
    """A parsed template bound to the plain or the HTML-escaping environment; reusable for every recipient."""

    source: str
    html: bool
    template: BoundTemplate
    fast: fastpath.FastRender | None = None  # the same template as one Python function (see fastpath)


@dataclass(frozen=True)
class CheckResult:
    """``variables``: the global paths the template reads; ``warnings``: those the sample data lacks."""

    variables: frozenset[str]
    warnings: list[dict[str, Any]] = field(default_factory=list)


class RenderTimeout(ResourceLimitError):
    """Raised inside a render once its deadline has passed."""


class _Undefined(FalsyStrictUndefined):
    """Strict when printed, iterated or filtered; false in ``{% if %}``; replaced by ``| default``."""

    __slots__ = ()
    force_liquid_default = True


class _Context(RenderContext):
    """A render context enforcing the deadline and the cumulative loop and locals budgets (see the module
    docstring). Its slots are set by :meth:`Renderer.render`."""

    __slots__ = ("deadline", "iterations", "local_limit", "local_sizes", "max_iterations", "memo")
    deadline: float
    memo: dict[str, Any]  # what filters work out once per render (the recipient's locale and zone)
    iterations: int
    max_iterations: int
    local_limit: int
    local_sizes: dict[str, int]

    def filter(self, name: str, token: Token | None) -> Callable[..., object]:
        if monotonic() > self.deadline:
            raise RenderTimeout("the render time limit was reached", token=token)
        return RenderContext.filter(self, name, token)

    @contextmanager
    def loop(self, namespace: Mapping[str, object], forloop: Any) -> Iterator[RenderContext]:
        forloop.it = self._ticking(forloop.it)
        with super().loop(namespace, forloop) as context:
            yield context

    def _ticking(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self.iterations += 1
            if self.iterations > self.max_iterations:
                raise LoopIterationLimitError("loop iteration limit reached", token=None)
            if monotonic() > self.deadline:
                raise RenderTimeout("the render time limit was reached", token=None)
            yield item

    def assign(self, key: str, val: Any) -> None:
        self.local_sizes[key] = filters.value_size(val, self.local_limit)
        if sum(self.local_sizes.values()) > self.local_limit:
            raise LocalNamespaceLimitError("assigned variables are too large", token=None)
        self.locals[key] = val


class _Output(LimitedStringIO):
    """The render's output buffer: like python-liquid's, but counts characters, not UTF-8 bytes (cheaper)."""

    def write(self, text: str) -> int:
        self.size += len(text)
        if self.size > self.limit:
            raise OutputStreamLimitError("output stream limit reached", token=None)
        return StringIO.write(self, text)


class _Template(BoundTemplate):
    context_class = _Context


class _Environment(Environment):
    template_class = _Template


class Renderer:
    """Both environments (plain for SMS, subjects, text, push, JSON; HTML-escaping for email HTML), their
    limits and a compiled-template cache. Build one per process and share it."""

    def __init__(self, *, loop_limit: int = 10_000, output_limit: int = 256 * 1024, context_depth: int = 20,
                 time_limit: float = 0.5, local_limit: int = 1_000_000, max_source: int = 256 * 1024,
                 cache_size: int = 2048) -> None:
        self.loop_limit, self.output_limit, self.time_limit = loop_limit, output_limit, time_limit
        self.local_limit, self.max_source = local_limit, max_source
        env_class = type("HeraldEnvironment", (_Environment,), {
            "loop_iteration_limit": loop_limit, "output_stream_limit": output_limit,
            "context_depth_limit": context_depth, "block_nesting_limit": 30})
        self._envs = {html: self._environment(env_class, html) for html in (False, True)}
        self._cached = lru_cache(maxsize=cache_size)(self._compile)

    def _environment(self, env_class: type[Environment], html: bool) -> Environment:
        env = env_class(undefined=_Undefined, strict_filters=True, autoescape=html)
        for name in ("include", "render"):  # no loader: a template cannot read another template or a file
            del env.tags[name]
        filters.register(env, max_chars=self.output_limit, max_items=self.loop_limit)
        return env

    def compile(self, source: str, *, html: bool) -> CompiledTemplate:
        """Parse ``source`` (cached by ``(source, html)``); raise :class:`TemplateSyntaxError` for syntax errors,
        unknown tags (``include``/``render`` among them) and unknown filters."""
        return self._cached(source, html)

    def _compile(self, source: str, html: bool) -> CompiledTemplate:
        if not isinstance(source, str):
            raise TemplateSyntaxError("a template is text", None, None)
        if len(source) > self.max_source:
            raise TemplateSyntaxError(f"the template is longer than {self.max_source} characters", 1, 1,
                                      "limit_exceeded")
        if _lexer_work(source) > LEXER_BUDGET:
            raise TemplateSyntaxError("the template cannot be parsed safely: unclosed raw blocks or long runs of "
                                      "spaces inside tags", 1, 1, "limit_exceeded")
        if "\x00" in source:
            line, column = _LineIndex(source).at(source.index("\x00"))
            raise TemplateSyntaxError("the template contains a NUL character", line, column)
        _check_delimiters(source)
        env = self._envs[html]
        try:
            template = env.from_string(source)
            analysis = template.analyze(include_partials=False)
        except LiquidError as exc:
            raise _syntax_error(exc, source, env) from exc
        except RecursionError as exc:
            raise TemplateSyntaxError("the template is nested too deeply", None, None, "limit_exceeded") from exc
        for name, spans in analysis.filters.items():
            if name not in env.filters:
                line, column = _LineIndex(source).at(spans[0].index)
                raise TemplateSyntaxError(f"unknown filter '{name}'", line, column, "unknown_filter")
        fast = fastpath.build(template, source, html=html, output_limit=self.output_limit, buffer=_Output)
        return CompiledTemplate(source, html, template, fast)

    def render(self, compiled: CompiledTemplate, variables: Mapping[str, Any], *, allow_empty: bool = False) -> str:
        """Render for one recipient. ``variables`` (contact, row, event, workspace, message…) must be plain
        data; anything else is refused. Raises :class:`RenderError`; an empty or blank result is
        ``empty_render`` unless ``allow_empty``."""
        for source in ("message", "contact", "workspace"):
            part = variables.get(source)
            code = part.get("locale") if isinstance(part, Mapping) else None
            if isinstance(code, str) and code:
                filters.warm_locale(code)
        deadline = monotonic() + self.time_limit
        template = compiled.template
        try:
            data = plain(variables)
        except Unsupported as exc:
            raise RenderError(f"variable {'.'.join(reversed(exc.path))} holds {exc.kind}, which a template "
                              "cannot use", variable=".".join(reversed(exc.path)) or None) from None
        if not isinstance(data, dict):
            raise RenderError("the variables must be a mapping")
        out = self._fast(compiled, data, deadline) if compiled.fast is not None else None
        if out is None:  # no fast function, or it failed: the interpreter's result or error is the answer
            context = self._context(template, data, deadline)
            buffer = _Output(limit=self.output_limit)
            try:
                template.render_with_context(context, buffer)
            except LiquidError as exc:
                raise _render_error(exc, compiled.source) from exc
            except (RecursionError, MemoryError) as exc:
                raise RenderError("the template needs too much memory or nesting", code="limit_exceeded") from exc
            except Exception as exc:  # a filter given bad input (e.g. an integer too long to print)
                raise RenderError(f"the template could not be rendered ({type(exc).__name__})") from exc
            out = buffer.getvalue()
        if not allow_empty and not out.strip():
            raise RenderError("the template renders to nothing for this recipient", code="empty_render")
        return out

    def _context(self, template: BoundTemplate, data: dict[str, Any], deadline: float) -> _Context:
        context = _Context(template, globals=data)
        context.deadline, context.iterations, context.max_iterations = deadline, 0, self.loop_limit
        context.local_limit, context.local_sizes, context.memo = self.local_limit, {}, {}
        return context

    def _fast(self, compiled: CompiledTemplate, data: dict[str, Any], deadline: float) -> str | None:
        """The fast function's output, or None when it failed for any reason but time: the interpreter then
        renders again (with what is left of the same deadline) and reports the error its own way."""
        assert compiled.fast is not None
        try:
            parts = compiled.fast(self._context(compiled.template, data, deadline), data)
        except fastpath.Timeout:
            raise RenderError("the render time limit was reached", code="timeout") from None
        except Exception:
            return None
        return "".join(parts)

    def check(self, source: str, *, html: bool, sample: Mapping[str, Any] | None = None) -> CheckResult:
        """Validate at save: raise :class:`TemplateSyntaxError`, else list the global variable paths used and
        warn (with line and column) about each that ``sample`` lacks. Loop variables and ``assign``/``capture``
        names are local, never warned about; no warnings without a sample."""
        compiled = self.compile(source, html=html)
        analysis = compiled.template.analyze(include_partials=False)
        lines, warned = _LineIndex(source), set()
        variables: set[str] = set()
        warnings: list[dict[str, Any]] = []
        for root, refs in analysis.globals.items():
            for ref in refs:
                path = str(ref)
                variables.add(path)
                if sample is None or root in BUILTIN_NAMES or path in warned or _in_sample(sample, ref.segments):
                    continue
                warned.add(path)
                line, column = lines.at(ref.span.index)
                warnings.append({"variable": path, "message": f"{path} is not in the sample data",
                                 "line": line, "column": column})
        return CheckResult(frozenset(variables), warnings)


def _lexer_work(source: str) -> int:
    """A linear-time estimate of python-liquid's lexer work beyond linear, in backtracking steps: an unclosed
    ``{% raw %}``/``{% doc %}`` scans to the end of the source, and a run of k spaces inside a tag costs k²
    (two adjacent ``\\s*`` backtrack). Unclosed ``{{``/``{%`` are refused by ``_check_delimiters``."""
    ends = [m.end() for m in _BLOCK_END.finditer(source)]
    tail = ends[-1] if ends else 0
    work = 3 * sum(1 for _ in _BLOCK_OPEN.finditer(source, tail)) * (len(source) - tail)
    for segment in source.split("%}"):
        if openers := segment.count("{%"):
            work += openers * sum(len(m.group()) ** 2 for m in _SPACES.finditer(segment, segment.find("{%")))
    return work


def _in_sample(sample: Any, segments: Sequence[Any]) -> bool:
    """Whether the sample data has this static path (``size``/``first``/``last`` included); dynamic
    indexes (``a[b]``) cannot be checked and count as present."""
    obj = sample
    for segment in segments:
        if isinstance(segment, list):
            return True
        if isinstance(obj, Mapping) and segment in obj:
            obj = obj[segment]
        elif segment == "size" and isinstance(obj, Mapping | list | str):
            obj = len(obj)
        elif segment in ("first", "last") and isinstance(obj, list | Mapping) and obj:
            if isinstance(obj, Mapping):
                return True  # a (key, value) pair
            obj = obj[0 if segment == "first" else -1]
        elif isinstance(segment, int) and isinstance(obj, list) and -len(obj) <= segment < len(obj):
            obj = obj[segment]
        else:
            return False
    return True


def _check_delimiters(source: str) -> None:
    """Refuse an output or tag opener with no closer before the next opener, in linear time. python-liquid's
    lexer backtracks on such input (a run of 4,000 unclosed ``{{`` takes seconds), so this guards the API
    from a template that would stall a process while it is merely parsed."""
    for opener, closer in (("{{", "}}"), ("{%", "%}")):
        start = source.find(opener)
        while start != -1:
            after = source.find(opener, start + 2)
            close = source.find(closer, start + 2)
            if close == -1 or (after != -1 and after < close):
                line, column = _LineIndex(source).at(start)
                raise TemplateSyntaxError(f"{opener!r} is not closed by {closer!r}", line, column)
            start = source.find(opener, close + 2)


class _LineIndex:
    """1-based line and column of a character offset."""

    def __init__(self, source: str) -> None:
        self.starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]

    def at(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1


def _position(token: Token | None, source: str) -> tuple[int | None, int | None]:
    if token is None or token.start_index < 0 or token.start_index > len(source):
        return None, None
    return _LineIndex(source).at(token.start_index)


def _syntax_error(exc: LiquidError, source: str, env: Environment) -> TemplateSyntaxError:
    token, message, code = exc.token, str(exc.message), "syntax_error"
    if isinstance(exc, BlockNestingError):
        code, message = "limit_exceeded", "blocks are nested too deeply (at most 30 levels)"
    elif ended := re.match(r"expected tag (end\w+), found end", message):
        message = f"missing {{% {ended.group(1)} %}} before the end of the template"
    elif token is not None and token.kind == TOKEN_TAG and message.startswith("unexpected tag"):
        name = token.value
        if name in ("include", "render"):
            code, message = "unknown_tag", f"'{name}' is not available: a template cannot load other templates"
        elif name not in INNER_TAGS and not name.startswith("end"):
            code, message = "unknown_tag", f"unknown tag '{name}'"
    line, column = _position(token, source)
    if line is None and isinstance(exc, LiquidSyntaxError):
        line, column = _LineIndex(source).at(_locate(source, env))
    return TemplateSyntaxError(message, line, column, code)


def _locate(source: str, env: Environment) -> int:
    """Where a syntax error python-liquid reports without a position (an incomplete expression, a missing
    end tag) is: the first statement that fails to parse on its own, else an unclosed block, else the end."""
    try:
        tokens = list(env.tokenizer()(source))
        for token, following in zip(tokens, [*tokens[1:], None], strict=True):
            if following is None or following.kind != TOKEN_EXPRESSION:
                continue
            try:
                if token.kind == TOKEN_OUTPUT:
                    FilteredExpression.parse(env, TokenStream(tokenize(following.value, following)))
                elif token.kind == TOKEN_TAG and token.value in env.tags and token.value not in INNER_TAGS:
                    end = f"{{% end{token.value} %}}" if env.tags[token.value].block else ""
                    env.from_string(f"{{% {token.value} {following.value} %}}{end}")
            except LiquidError:
                return token.start_index
        unclosed = env.analyze_tags_from_string(source).unclosed_tags
        if unclosed:
            return min(span.index for spans in unclosed.values() for span in spans)
    except (LiquidError, IndexError, RecursionError):
        pass
    return len(source)


def _render_error(exc: LiquidError, source: str) -> RenderError:
    line, column = _position(exc.token, source)
    message = str(exc.message)
    if isinstance(exc, UndefinedError):
        token, variable = exc.token, None
        if line is not None and token is not None and token.kind not in (TOKEN_TAG, TOKEN_OUTPUT):
            found = _PATH.match(source, token.start_index)  # a path's token: name it as the author wrote it
            variable = re.sub(r"\s+", "", found.group())[:200] if found else None
        if variable is None:
            named = re.fullmatch(r"'?(.+?)'? is undefined", message)
            variable = named.group(1) if named else None
        message = f"{variable} is undefined" if variable else message
        return RenderError(message, variable=variable, line=line, column=column, code="undefined_variable")
    if isinstance(exc, RenderTimeout):
        return RenderError(message, line=line, column=column, code="timeout")
    if isinstance(exc, ContextDepthError):
        message = "loops are nested too deeply"
    if isinstance(exc, ResourceLimitError):
        return RenderError(message, line=line, column=column, code="limit_exceeded")
    return RenderError(message, line=line, column=column)
