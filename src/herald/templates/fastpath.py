"""A parsed Liquid template turned into one Python function: the same output, about four times faster.

python-liquid renders by walking its parse tree: each output statement is several method calls, a scope
lookup through a chain of mappings and a write to a buffer. That costs ~150 µs for a 2 KB order email, and a
campaign renders one per recipient. :func:`build` translates the parse tree into the source of a single
function (text appended to a list, variables read straight from the data dicts, filters called directly)
and compiles it once per template.

Equivalence is kept by construction, not by re-implementing Liquid:

* Only the hot shapes are translated: text, output and ``echo`` statements (paths and literals with
  filters), ``if``/``elsif``/``else``/``unless``, ``for`` (with ``else``, ``break``, ``continue``).
  Every other node and every other expression (conditions, loop expressions, ranges…) is python-liquid's
  own object, called with the real render context (``node.render(ctx, buffer)``, ``expr.evaluate(ctx)``),
  and loops go through ``ctx.loop`` so the scope, ``forloop`` and the render's loop and time limits are
  those of the interpreter.
* Scope is python-liquid's: a root name is read from the data dict directly only when nothing can shadow it
  (not assigned or captured anywhere in the template, not ``partial``, not a loop variable); otherwise it is
  looked up in ``ctx.scope`` like the interpreter does.
* The fast function may fail more often than the interpreter, never less: any exception (an undefined
  variable, a filter error, a limit) makes :class:`~herald.templates.liquid.Renderer` render the template
  again with the interpreter, whose result or error is then the answer. So a render that succeeds here is
  the interpreter's success, and every error keeps the interpreter's message, line and column.

Generated source never contains template text: every literal, name and parse-tree object is passed in as a
constant (``c0``, ``c1``…) of the factory function, and the function runs with no builtins but those passed.
``tests/unit/test_liquid_fastpath.py`` compares both engines on a corpus and on generated templates.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from time import monotonic
from typing import Any, cast

import markupsafe
from liquid import BoundTemplate, Environment, RenderContext
from liquid.ast import BlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.expressions.arguments import KeywordArgument
from liquid.builtin.expressions.primitive import Literal, Nil
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.echo_tag import EchoNode
from liquid.builtin.tags.for_tag import BreakNode, ContinueNode, ForLoop, ForNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.exceptions import BreakLoop, ContinueLoop
from liquid.output import NullIO
from liquid.stringify import to_liquid_string
from liquid.undefined import Undefined
from markupsafe import escape

MAX_LINES = 6000  # Python compiles ~30 µs a line: a bigger template (> ~800 statements) keeps the interpreter
MAX_LOOP_NESTING = 6  # Python allows 20 statically nested blocks; a translated loop uses two (for, try)
TOP_NAMESPACE = {"partial": False}  # what BoundTemplate.render_with_context pushes in front of the globals

# markupsafe's C escaper without the Markup wrapper: escape(s) is Markup(_escape_inner(s)) for a plain str
_escape_str: Callable[[str], str] = getattr(markupsafe, "_escape_inner", lambda text: str(escape(text)))

FastRender = Callable[[RenderContext, dict[str, Any]], list[str]]


class Timeout(Exception):
    """The render's deadline passed inside the fast function (re-rendering would only take as long again)."""


class Bail(Exception):
    """A limit was reached (output size, loop iterations, context depth): the interpreter renders the template
    again and reports it with its own message and position."""


def _item(ctx: RenderContext, obj: Any, key: Any) -> Any:
    """One path step as ``RenderContext.get`` takes it: python-liquid's ``get_item`` (``size``, ``first``,
    ``last``), and an undefined value where the interpreter would stop with one."""
    if isinstance(obj, Undefined):
        return obj
    try:
        return ctx.get_item(obj, key)
    except (KeyError, TypeError, IndexError):
        return ctx.env.undefined(str(key), token=None)


def _resolve(ctx: RenderContext, name: str) -> Any:
    """A root name looked up through the whole scope (loop namespaces, locals, globals, builtins)."""
    try:
        return ctx.scope[name]
    except KeyError:
        return ctx.env.undefined(name, token=None)


class _Unbuildable(Exception):
    """The template has a shape this module does not translate; it renders with the interpreter."""


class _Builder:
    def __init__(self, template: BoundTemplate, source: str, html: bool) -> None:
        self.html, self.offsets = html, "offset" in source
        self.env: Environment = template.env
        self.constants: list[Any] = []
        self.lines: list[str] = []
        self.temp = 0
        self.shadowed = set(template.analyze(include_partials=False).locals) | set(TOP_NAMESPACE)
        self.static = RenderContext(template)  # literals evaluate against it (StringLiteral needs autoescape)

    # -------------------------------------------------------------------------------------- plumbing

    def const(self, value: Any) -> str:
        self.constants.append(value)
        return f"c{len(self.constants) - 1}"

    def fresh(self) -> str:
        self.temp += 1
        return f"t{self.temp}"

    def emit(self, depth: int, line: str) -> None:
        if len(self.lines) >= MAX_LINES:
            raise _Unbuildable("the template is too large to translate")
        self.lines.append("    " * depth + line)

    # ------------------------------------------------------------------------------------ statements

    def block(self, nodes: list[Node], depth: int, scope: dict[str, str], loops: int, quiet: bool) -> None:
        start = len(self.lines)
        for node in nodes:
            self.node(node, depth, scope, loops, quiet)
        if len(self.lines) == start:
            self.emit(depth, "pass")

    def sub_block(self, block: BlockNode, depth: int, scope: dict[str, str], loops: int, quiet: bool) -> None:
        """A BlockNode: when blank, its whitespace is dropped (python-liquid renders it into a NullIO)."""
        quiet = quiet or (self.env.suppress_blank_control_flow_blocks and block.blank)
        self.block(block.nodes, depth, scope, loops, quiet)

    def node(self, node: Node, depth: int, scope: dict[str, str], loops: int, quiet: bool) -> None:
        kind = type(node)
        if kind is ContentNode:  # text is bounded by the template's size: the size is checked once per loop
            text = cast(ContentNode, node).text  # iteration and at the end
            if not quiet and text:
                self.write(depth, self.const(text), len(text), check=False)
        elif kind is OutputNode or kind is EchoNode:
            value = self.expression(cast(OutputNode, node).expression, depth, scope)
            if not quiet:
                self.output(depth, value)
        elif kind is IfNode or kind is UnlessNode:
            self.conditional(cast(IfNode | UnlessNode, node), depth, scope, loops, quiet)
        elif kind is ForNode and loops < MAX_LOOP_NESTING:
            self.loop(cast(ForNode, node), depth, scope, loops, quiet)
        elif kind is BreakNode and loops:
            self.emit(depth, "break")
        elif kind is ContinueNode and loops:
            self.emit(depth, "continue")
        else:  # python-liquid renders it, into a buffer that carries the output size so far
            target = self.const(node)
            if quiet:
                self.emit(depth, f"{target}.render(ctx, NULL)")
                return
            buffer = self.fresh()
            self.emit(depth, f"{buffer} = BUFFER(limit=LIMIT)")
            self.emit(depth, f"{buffer}.size = n")
            self.emit(depth, f"{target}.render(ctx, {buffer})")
            self.emit(depth, f"n = {buffer}.size")
            self.emit(depth, f"ap({buffer}.getvalue())")

    def write(self, depth: int, value: str, size: int | str, check: bool = True) -> None:
        self.emit(depth, f"ap({value})")
        self.emit(depth, f"n += {size}")
        if check:
            self.emit(depth, "if n > LIMIT: raise BAIL")

    def output(self, depth: int, value: str) -> None:
        # to_liquid_string's result for str and numbers, inline (a number's text has nothing to escape)
        self.emit(depth, f"if type({value}) is not str: {value} = str({value}) if type({value}) in NUMBERS "
                         f"else TEXT({value}, {self.html})")
        if self.html:
            self.emit(depth, f"elif {value}: {value} = ESCAPE_STR({value})")
        self.write(depth, value, f"len({value})")

    def conditional(self, node: IfNode | UnlessNode, depth: int, scope: dict[str, str], loops: int,
                    quiet: bool) -> None:
        test = f"{self.const(node.condition)}.evaluate(ctx)"
        self.emit(depth, f"if {'not ' if type(node) is UnlessNode else ''}{test}:")
        self.sub_block(node.consequence, depth + 1, scope, loops, quiet)
        for alternative in node.alternatives:
            self.emit(depth, f"elif {self.const(alternative.expression)}.evaluate(ctx):")
            self.sub_block(alternative.block, depth + 1, scope, loops, quiet)
        if node.default is not None:
            self.emit(depth, "else:")
            self.sub_block(node.default, depth + 1, scope, loops, quiet)

    def loop(self, node: ForNode, depth: int, scope: dict[str, str], loops: int, quiet: bool) -> None:
        """python-liquid's ``ForNode.render_to_output`` and ``_Context.loop`` written out, the body translated.
        A plain ``for x in path`` takes its items like ``LoopExpression`` does but skips recording the stop
        index, which only ``offset: continue`` reads (a template that mentions ``offset`` is never sped up)."""
        expression, items, length = node.expression, self.fresh(), self.fresh()
        forloop, namespace, item = self.fresh(), self.fresh(), self.fresh()
        name, loop_expression = self.const(str(expression.identifier)), self.const(expression)
        iterable = expression.iterable
        if (not self.offsets and expression.limit is None and expression.offset is None and expression.cols is None
                and not expression.reversed and type(iterable) is Path and type(iterable.path[0]) is str):
            value = self.expression(iterable, depth, scope)
            self.emit(depth, f"{items}, {length} = {loop_expression}._to_iter({value}, ctx)")
        else:
            self.emit(depth, f"{items}, {length} = {loop_expression}.evaluate(ctx)")
        self.emit(depth, f"if {length}:")
        label = self.const(f"{expression.identifier}-{iterable}")
        pure = self.pure(node.block.nodes)
        lines = [f"{forloop} = FORLOOP({label}, {items}, {length}, ctx.parentloop())",
                 f"ctx.raise_for_loop_limit({length})", f"ctx.loops.append({forloop})"]
        if not pure:
            lines += [f"{namespace} = {{FORLOOP_NAME: {forloop}, {name}: None}}",
                      "if ctx.scope.size() > ctx.env.context_depth_limit: raise BAIL",
                      f"ctx.scope.push({namespace})"]
        for line in lines:
            self.emit(depth + 1, line)
        # A pure body reads neither the scope nor ``forloop``: it takes the items straight from the iterator
        self.emit(depth + 1, f"for {item} in {items if pure else forloop}:")
        checks = ["ctx.iterations += 1", "if ctx.iterations > ctx.max_iterations: raise BAIL",
                  "if MONOTONIC() > deadline: raise TIMEOUT", "if n > LIMIT: raise BAIL", "try:"]
        for line in checks if pure else [f"{namespace}[{name}] = {item}", *checks]:
            self.emit(depth + 2, line)
        inner = {**scope, "forloop": forloop, str(expression.identifier): item}
        self.sub_block(node.block, depth + 3, inner, loops + 1, quiet)
        self.emit(depth + 2, "except CONTINUE: continue")
        self.emit(depth + 2, "except BREAK: break")
        if not pure:  # an exception discards the context, so only the normal way out restores it
            self.emit(depth + 1, "ctx.scope.pop()")
        self.emit(depth + 1, "ctx.loops.pop()")
        if node.default is not None:
            self.emit(depth, "else:")
            self.sub_block(node.default, depth + 1, scope, loops, quiet)

    def pure(self, nodes: list[Node]) -> bool:
        """Whether these nodes are all translated and read no variable through the scope: text, output of
        paths and literals (``forloop`` excluded) and plain loops of the same. Filters never read the scope
        (only Herald's take the context, and they read the data and the render's memo)."""
        for node in nodes:
            kind = type(node)
            if kind is OutputNode or kind is EchoNode:
                if not self.pure_expression(cast(OutputNode, node).expression):
                    return False
            elif kind is ForNode:
                node = cast(ForNode, node)
                expression = node.expression
                if (self.offsets or expression.limit is not None or expression.offset is not None
                        or expression.cols is not None or expression.reversed
                        or not self.pure_expression(expression.iterable) or not self.pure(node.block.nodes)
                        or (node.default is not None and not self.pure(node.default.nodes))):
                    return False
            elif kind is not ContentNode and kind is not BreakNode and kind is not ContinueNode:
                return False
        return True

    def pure_expression(self, expr: Any) -> bool:
        if isinstance(expr, Literal | Nil):
            return True
        if type(expr) is Path:
            root = expr.path[0] if expr.path else None
            return (type(root) is str and root != "forloop" and root not in self.shadowed
                    and all(type(s) in (str, int) or (type(s) is Path and self.pure_expression(s))
                            for s in expr.path[1:]))
        if type(expr) is FilteredExpression:
            return self.pure_expression(expr.left) and all(self.pure_expression(arg.value)
                                                           for f in expr.filters or () for arg in f.args)
        return False

    # ----------------------------------------------------------------------------------- expressions

    def expression(self, expr: Any, depth: int, scope: dict[str, str]) -> str:
        """Emit statements computing ``expr``; return the name of the local holding its value."""
        target = self.fresh()
        if type(expr) is FilteredExpression:
            left = self.expression(expr.left, depth, scope)
            self.emit(depth, f"{target} = {left}")
            for filter_ in expr.filters or ():
                args, keywords = [], []
                for arg in filter_.args:
                    value = self.value(arg.value, depth, scope)
                    if isinstance(arg, KeywordArgument):
                        keywords.append(f"{self.const(arg.name)}: {value}")
                    else:
                        args.append(value)
                func = self.env.filters[filter_.name]  # compile refused unknown filters
                bound = [name for name, flag in (("context=ctx", "with_context"), ("environment=ctx.env",
                         "with_environment")) if getattr(func, flag, False)]  # what RenderContext.filter binds
                call = ", ".join([target, *args, *bound] + ([f"**{{{', '.join(keywords)}}}"] if keywords else []))
                self.emit(depth, "if MONOTONIC() > deadline: raise TIMEOUT")
                self.emit(depth, f"{target} = {self.const(func)}({call})")
        elif type(expr) is Path and expr.path and type(expr.path[0]) is str:
            self.path(expr, target, depth, scope)
        else:
            self.emit(depth, f"{target} = {self.value(expr, depth, scope)}")
        return target

    def value(self, expr: Any, depth: int, scope: dict[str, str]) -> str:
        """An argument's value: a literal as a constant, a path translated, anything else evaluated."""
        if isinstance(expr, Literal | Nil):
            return self.const(expr.evaluate(self.static))
        if type(expr) is Path or type(expr) is FilteredExpression:
            return self.expression(expr, depth, scope)
        return f"{self.const(expr)}.evaluate(ctx)"

    def path(self, expr: Path, target: str, depth: int, scope: dict[str, str]) -> None:
        root, *segments = expr.path
        assert type(root) is str  # expression() sends only such paths here
        if root in scope:
            self.emit(depth, f"{target} = {scope[root]}")
        elif root in self.shadowed:
            self.emit(depth, f"{target} = RESOLVE(ctx, {self.const(root)})")
        else:
            key = self.const(root)
            self.emit(depth, f"{target} = g[{key}] if {key} in g else RESOLVE(ctx, {key})")
        for segment in segments:
            if type(segment) is str or type(segment) is int:
                key = self.const(segment)
                self.emit(depth, f"{target} = {target}[{key}] if type({target}) is dict and {key} in {target} "
                                 f"else ITEM(ctx, {target}, {key})")
            elif type(segment) is Path:
                key = self.expression(segment, depth, scope)
                self.emit(depth, f"{target} = ITEM(ctx, {target}, {key})")
            else:
                raise _Unbuildable(f"path segment {type(segment).__name__}")

    # --------------------------------------------------------------------------------------- assembly

    def source(self, nodes: list[Node]) -> str:
        body_start = len(self.lines)
        self.block(nodes, 1, {}, 0, False)
        body = self.lines[body_start:]
        head = ["def render(ctx, g):", "    out = []", "    ap = out.append", "    n = 0",
                "    deadline = ctx.deadline",
                "    ctx.scope.push(TOP)"]  # as render_with_context's extend; the context is not reused
        tail = ["    if n > LIMIT: raise BAIL", "    return out"]
        names = ", ".join(f"c{i}" for i in range(len(self.constants)))
        lines = [f"def factory({names}):", *("    " + line for line in [*head, *body, *tail]), "    return render"]
        return "\n".join(lines)


def build(template: BoundTemplate, source: str, *, html: bool, output_limit: int, buffer: type[Any]
          ) -> FastRender | None:
    """The template as one Python function ``(ctx, data) -> parts``, or None when it cannot be
    translated (then the interpreter renders it). ``buffer`` is the renderer's output buffer class, given to
    the nodes python-liquid renders."""
    builder = _Builder(template, source, html)
    try:
        source = builder.source(list(template.nodes))
        namespace: dict[str, Any] = {
            "__builtins__": {}, "type": type, "len": len, "str": str, "dict": dict,
            "BUFFER": buffer, "NULL": NullIO(), "LIMIT": output_limit, "MONOTONIC": monotonic,
            "BAIL": Bail, "TIMEOUT": Timeout,
            "ESCAPE_STR": _escape_str, "NUMBERS": frozenset({int, float, Decimal}), "TEXT": to_liquid_string,
            "FORLOOP": ForLoop, "FORLOOP_NAME": "forloop", "CONTINUE": ContinueLoop, "BREAK": BreakLoop,
            "ITEM": _item, "RESOLVE": _resolve, "TOP": TOP_NAMESPACE,
        }
        exec(compile(source, "<liquid>", "exec"), namespace)  # noqa: S102 - our own source, see the docstring
    except (_Unbuildable, SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    render: FastRender = namespace["factory"](*builder.constants)
    return render

