"""The Jinja sandbox every template renders in, and the budgets no template may exceed.

Jinja's ``ImmutableSandboxedEnvironment`` stops a template from reaching Python, but not
from eating the machine: ``'a'|center(2*10**9)``, ``lipsum(10**7)``, nested ``range``
loops, a string doubled in a ``namespace`` forty times, ``9**9**9`` or a macro calling
itself all fit in one line of a spec. Here every way a template can grow a value or
spend time passes a check first, and one render of a spec has a :class:`Budget`:

- each value's output, and every string or list built on the way: :data:`MAX_VALUE_CHARS`
- all values of the spec together: :data:`MAX_SPEC_CHARS`
- integers: :data:`MAX_INT_BITS` bits (``**``, ``*`` and every result are checked)
- loop iterations (``for``, and the generators of filters): :data:`MAX_ITERATIONS`
- macro calls nested: :data:`MAX_CALL_DEPTH`
- CPU time: :data:`VALUE_SECONDS` per value, :data:`SPEC_SECONDS` per spec
- template source: :data:`MAX_TEMPLATE_CHARS` per value

A template over a budget stops with :class:`BudgetExceeded`, which the renderer reports
at the value's ``FILE:LINE:COL``.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

MAX_VALUE_CHARS = 1_000_000
MAX_SPEC_CHARS = 16_000_000
MAX_INT_BITS = 4096  # about 1,233 decimal digits
MAX_ITERATIONS = 1_000_000
MAX_CALL_DEPTH = 32
VALUE_SECONDS = 0.5
SPEC_SECONDS = 1.0
MAX_TEMPLATE_CHARS = 100_000
#: lipsum(): paragraphs and words per paragraph
MAX_LIPSUM = (100, 200)

#: backwards-compatible name: the longest string or list a template may build
MAX_RESULT = MAX_VALUE_CHARS


class BudgetExceeded(SecurityError):
    """A template went over one of the budgets; the message names which and the limit."""


@dataclass
class Budget:
    """What one render of a spec has spent so far."""

    started: float = field(default_factory=time.process_time)
    value_started: float = 0.0
    chars: int = 0
    iterations: int = 0
    depth: int = 0
    #: a spec-wide budget ran out (later values are not rendered)
    exhausted: bool = False
    _ticks: int = 0

    def _spent(self, message: str) -> BudgetExceeded:
        self.exhausted = True
        return BudgetExceeded(message)

    def start_value(self, source: str) -> None:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise BudgetExceeded(
                f"the template is {len(source):,} characters long (at most "
                f"{MAX_TEMPLATE_CHARS:,} per value)"
            )
        self.value_started = time.process_time()
        self.check_time()

    def add_output(self, text: object) -> None:
        """Count a value's rendered text against the spec's total."""
        self.chars += len(text) if isinstance(text, str) else len(str(text))
        if self.chars > MAX_SPEC_CHARS:
            raise self._spent(
                f"the spec's templates render to more than {MAX_SPEC_CHARS:,} characters"
            )

    def check_time(self) -> None:
        now = time.process_time()
        if now - self.started > SPEC_SECONDS:
            raise self._spent(f"the spec's templates used more than {SPEC_SECONDS:g} s of CPU time")
        if self.value_started and now - self.value_started > VALUE_SECONDS:
            raise BudgetExceeded(f"the template used more than {VALUE_SECONDS:g} s of CPU time")

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks & 0xFF == 0:
            self.check_time()

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise self._spent(
                f"the spec's templates loop more than {MAX_ITERATIONS:,} times in all"
            )
        self.tick()


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "publish_template_budget", default=None
)


def current() -> Budget:
    """The budget of the render in progress (a fresh one outside any render)."""
    budget = _current.get()
    if budget is None:
        budget = Budget()
        _current.set(budget)
    return budget


def begin() -> contextvars.Token[Budget | None]:
    """Start a render's budget; pass the token to :func:`end`."""
    return _current.set(Budget())


def end(token: contextvars.Token[Budget | None]) -> None:
    _current.reset(token)


def checked(value: Any) -> Any:
    """``value`` if it is within the size budgets, else BudgetExceeded."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise BudgetExceeded(f"an integer would have more than {MAX_INT_BITS} bits")
    elif isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        if len(value) > MAX_VALUE_CHARS:
            raise BudgetExceeded(f"a value would be longer than {MAX_VALUE_CHARS:,}")
    elif isinstance(value, Iterator):
        return _counted(value)
    return value


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    budget = current()
    for item in items:
        budget.iterate()
        yield item


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else len(str(value))


def _limit(what: str, amount: int, limit: int = MAX_VALUE_CHARS, unit: str = "characters") -> None:
    if amount > limit:
        raise BudgetExceeded(f"{what} would make {amount:,} {unit} (at most {limit:,})")


_PERCENT = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent(template: str, args: Any) -> None:
    """Refuse ``'%999999999d' % 1``: a width or precision past the budget, or ``*``."""
    for width, precision in _PERCENT.findall(template):
        for part in (width, precision):
            if part == "*":
                raise BudgetExceeded("a '*' width in a % format is not allowed in templates")
            if part and int(part) > MAX_VALUE_CHARS:
                _limit("a % format width", int(part))
    sizes = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else [args]
    _limit("a % format", len(template) + sum(_size(a) for a in sizes))


def _check_method(obj: Any, args: tuple[Any, ...]) -> None:
    """Pre-check the built-in methods that can make a result far larger than their input."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str | bytes):
        if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
            _limit(f"{name}({args[0]})", args[0])
        elif name == "expandtabs":
            size = args[0] if args and isinstance(args[0], int) else 8
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            _limit("expandtabs", len(owner) + tabs * size)
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            hits = len(owner) + 1 if not old else owner.count(old)
            _limit("replace", len(owner) + hits * _size(new))
        elif name == "join" and args:
            items = list(args[0]) if not isinstance(args[0], list | tuple) else args[0]
            _limit("join", len(owner) * max(len(items) - 1, 0))
            _limit("join", sum(_size(i) for i in items) + len(owner) * len(items))
        elif name in ("translate", "maketrans"):
            raise BudgetExceeded(f"str.{name} is not available in templates")
    elif isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args and isinstance(args[0], int) else 1
        _limit(f"to_bytes({length})", length)


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that ticks the clock, pre-checks its arguments and checks its result."""

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        current().tick()
        _check_filter(name, args, kwargs)
        return checked(func(*args, **kwargs))

    return guarded


#: what Jinja passes to some filters before the value (pass_context and its kin)
_PASSED = (nodes.EvalContext, jinja2.runtime.Context, jinja2.Environment)


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = [a for a in args if not isinstance(a, _PASSED)]
    if not values:
        return
    text, rest = values[0], values[1:]
    if name == "center":
        width = rest[0] if rest else kwargs.get("width", 80)
        if isinstance(width, int):
            _limit(f"center({width})", width)
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        lines = str(text).count("\n") + 1
        _limit("indent", _size(text) + lines * (width if isinstance(width, int) else _size(width)))
    elif name == "format":
        _check_percent(str(text), kwargs or tuple(rest))
    elif name == "replace" and len(rest) >= 2:
        old, new = str(rest[0]), str(rest[1])
        hits = len(str(text)) + 1 if not old else str(text).count(old)
        _limit("replace", _size(text) + hits * len(new))
    elif name in ("batch", "slice"):
        count = rest[0] if rest else kwargs.get("linecount", kwargs.get("slices", 1))
        if isinstance(count, int):
            _limit(f"{name}({count})", count)
    elif name == "tojson":
        indent = rest[0] if rest else kwargs.get("indent")
        if isinstance(indent, int):
            _limit(f"tojson(indent={indent})", indent, 100)
    elif name in ("wordwrap", "urlize"):
        _limit(f"{name} of a long text", _size(text), 100_000)


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    paragraphs, words = MAX_LIPSUM
    if not (isinstance(n, int) and 0 <= n <= paragraphs):
        raise BudgetExceeded(f"lipsum({n}): at most {paragraphs} paragraphs")
    if not (isinstance(max, int) and isinstance(min, int) and 0 < min <= max <= words):
        raise BudgetExceeded(f"lipsum(min={min}, max={max}): at most {words} words")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


class _Loops(Extension):
    """Holds ``counted``, which every ``for`` loop's iterable is wrapped in."""

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        return _counted(iterable)


class _CodeGenerator(CodeGenerator):
    """Loops count their iterations and ``~`` joins within the budget."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if not _is_counted(node.iter):
            counted = nodes.ExtensionAttribute(_Loops.identifier, "counted", lineno=node.lineno)
            node.iter = nodes.Call(counted, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _is_counted(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.ExtensionAttribute)
        and node.node.identifier == _Loops.identifier
    )


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with every budget above, also refusing ``str.format``.

    Jinja 3.1.6 wraps ``format``/``format_map`` in a sandboxed formatter; a stored
    reference to them (``|attr('format')``) has been the way out of the sandbox before
    (CVE-2024-56326, CVE-2025-27516), and a spec has no need for them (use ``|format``).
    """

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%", "//", "/", "-"})

    def __init__(self, **options: Any) -> None:
        super().__init__(extensions=[_Loops], **options)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.globals["lipsum"] = _lipsum

    def concat(self, pieces: Iterable[str]) -> str:
        """Join a template's (or a macro's, a block's) output within the value budget."""
        budget = current()
        out: list[str] = []
        size = 0
        for piece in pieces:
            size += len(piece)
            if size > MAX_VALUE_CHARS:
                raise BudgetExceeded(
                    f"the template renders to more than {MAX_VALUE_CHARS:,} characters"
                )
            out.append(piece)
            budget.tick()
        return "".join(out)

    def joined(self, parts: tuple[Any, ...]) -> str:
        """The ``~`` operator within the value budget."""
        current().tick()
        texts = [str(p) for p in parts]
        _limit("'~'", sum(len(t) for t in texts))
        return "".join(texts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse ``'x' * 10**9``, ``9 ** 9 ** 9`` and their kin before computing them."""
        current().tick()
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and right > 0:
            _limit(f"{left} ** {right}", max(left.bit_length(), 1) * right, MAX_INT_BITS, "bits")
        elif operator == "**" and isinstance(right, int | float) and abs(right) > MAX_INT_BITS:
            raise BudgetExceeded(f"the exponent {right} is too large (at most {MAX_INT_BITS})")
        elif operator == "*" and ints:
            _limit("an integer '*'", left.bit_length() + right.bit_length(), MAX_INT_BITS, "bits")
        elif operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple | bytes) and isinstance(count, int):
                    _limit("'*'", len(seq) * count)
        elif operator == "+" and isinstance(left, str | list | tuple | bytes):
            _limit("'+'", len(left) + _size(right))
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        _check_method(__obj, args)
        if not isinstance(__obj, Macro):
            return checked(super().call(__context, __obj, *args, **kwargs))
        budget.depth += 1
        try:
            if budget.depth > MAX_CALL_DEPTH:
                raise BudgetExceeded(f"macros call each other more than {MAX_CALL_DEPTH} deep")
            return checked(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1

    def wrap_str_format(self, value: Any) -> Any:
        if super().wrap_str_format(value) is None:
            return None
        return self.unsafe_undefined(getattr(value, "__self__", ""), value.__name__)


def template_line(exc: BaseException) -> int | None:
    """The line of the template where ``exc`` was raised (Jinja rewrites its traceback)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
