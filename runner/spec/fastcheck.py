"""A fast yes/no check of a document against the spec's JSON Schema.

jsonschema is thorough but slow on a big spec (about 0.3 ms per target here). Nearly
every spec that is validated is valid, so the schema is compiled once into plain Python
predicates for the keywords it uses; a document that passes needs no more checking. The
check is conservative: a keyword it does not know makes it answer "no", and any "no" is
followed by the full jsonschema validation, which finds and explains every error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from runner.spec.schema import full_pattern, schema

Check = Callable[[Any], bool]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
#: keywords that do not constrain the instance
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "title", "description", "default", "errorMessage", "$comment", "$defs"}
)


class _Unsupported(Exception):
    pass


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        if not ref.startswith("#/$defs/"):
            raise _Unsupported(ref)
        if ref not in self.refs:
            holder: list[Check] = []
            self.refs[ref] = lambda v: holder[0](v)
            holder.append(self.compile(self.root["$defs"][ref[len("#/$defs/") :]]))
        return self.refs[ref]

    def compile(self, node: Any) -> Check:
        if node is True:
            return _always
        if node is False:
            return _never
        props: Mapping[str, Any] = node.get("properties", {})
        patterns = [re.compile(rx) for rx in node.get("patternProperties", {})]
        checks = [
            self.keyword(keyword, value, props, patterns)
            for keyword, value in node.items()
            if keyword not in _ANNOTATIONS and keyword not in ("if", "then", "else")
        ]
        if "if" in node:
            checks.append(
                _conditional(
                    self.compile(node["if"]),
                    self.compile(node.get("then", True)),
                    self.compile(node.get("else", True)),
                )
            )
        return _all_of(checks)

    def keyword(
        self,
        keyword: str,
        value: Any,
        props: Mapping[str, Any],
        patterns: list[re.Pattern[str]],
    ) -> Check:
        if keyword == "$ref":
            return self.ref(value)
        if keyword == "properties":
            return _properties({n: self.compile(sub) for n, sub in value.items()})
        if keyword == "additionalProperties":
            return _additional(self.compile(value), frozenset(props), patterns)
        if keyword == "patternProperties":
            return _pattern_properties(
                [(re.compile(rx), self.compile(sub)) for rx, sub in value.items()]
            )
        if keyword == "items":
            return _items(self.compile(value))
        if keyword == "propertyNames":
            return _names(self.compile(value))
        if keyword == "allOf":
            return _all_of([self.compile(p) for p in value])
        if keyword == "anyOf":
            return _any_of([self.compile(p) for p in value])
        if keyword == "type":
            names = [value] if isinstance(value, str) else list(value)
            return _any_of([_TYPES[n] for n in names])
        if keyword == "enum":
            return _one_of_values(list(value))
        if keyword == "const":
            return _one_of_values([value])
        if keyword == "pattern":
            return _pattern(full_pattern(value))
        if keyword == "uniqueItems":
            return _unique if value else _always
        bounded = _BOUNDS.get(keyword)
        if bounded is not None:
            return bounded(value)
        raise _Unsupported(keyword)


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


def _any_of(checks: list[Check]) -> Check:
    return lambda v: any(c(v) for c in checks)


def _conditional(cond: Check, then: Check, other: Check) -> Check:
    return lambda v: then(v) if cond(v) else other(v)


def _properties(compiled: dict[str, Check]) -> Check:
    def check(v: Any) -> bool:
        return not isinstance(v, dict) or all(compiled[n](x) for n, x in v.items() if n in compiled)

    return check


def _additional(extra: Check, known: frozenset[str], patterns: list[re.Pattern[str]]) -> Check:
    def other(name: str) -> bool:
        return name not in known and not any(p.search(name) for p in patterns)

    def check(v: Any) -> bool:
        return not isinstance(v, dict) or all(extra(x) for n, x in v.items() if other(n))

    return check


def _pattern_properties(rules: list[tuple[re.Pattern[str], Check]]) -> Check:
    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        return all(c(x) for n, x in v.items() for rx, c in rules if rx.search(n))

    return check


def _items(item: Check) -> Check:
    return lambda v: not isinstance(v, list) or all(item(x) for x in v)


def _names(name: Check) -> Check:
    return lambda v: not isinstance(v, dict) or all(name(k) for k in v)


def _one_of_values(options: list[Any]) -> Check:
    return lambda v: any(_equal(v, o) for o in options)


def _pattern(rx: re.Pattern[str]) -> Check:
    return lambda v: not isinstance(v, str) or rx.search(v) is not None


def _bound(
    kind: type | tuple[type, ...], measure: Callable[[Any], Any], ok: Callable[[Any, Any], bool]
) -> Any:
    def make(limit: Any) -> Check:
        def check(v: Any) -> bool:
            if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
                return True
            return ok(measure(v), limit)

        return check

    return make


def _ident(v: Any) -> Any:
    return v


_NUM = (int, float)
_BOUNDS: dict[str, Callable[[Any], Check]] = {
    "minLength": _bound(str, len, lambda m, n: m >= n),
    "maxLength": _bound(str, len, lambda m, n: m <= n),
    "minItems": _bound(list, len, lambda m, n: m >= n),
    "maxItems": _bound(list, len, lambda m, n: m <= n),
    "minProperties": _bound(dict, len, lambda m, n: m >= n),
    "minimum": _bound(_NUM, _ident, lambda m, n: m >= n),
    "maximum": _bound(_NUM, _ident, lambda m, n: m <= n),
    "exclusiveMinimum": _bound(_NUM, _ident, lambda m, n: m > n),
    "required": lambda names: lambda v: not isinstance(v, dict) or all(n in v for n in names),
}


def _unique(value: Any) -> bool:
    if not isinstance(value, list):
        return True
    seen: list[Any] = []
    for item in value:
        if any(_equal(item, s) for s in seen):
            return False
        seen.append(item)
    return True


#: id(schema) -> (the schema, kept alive so that its id is never reused; its check)
_CHECKERS: dict[int, tuple[Mapping[str, Any], Check | None]] = {}


def _checker(root: Mapping[str, Any] | None = None) -> Check | None:
    """``root`` (default: the spec's schema) compiled once."""
    root = schema() if root is None else root
    key = id(root)
    if key not in _CHECKERS:
        try:
            check: Check | None = _Compiler(root).compile(root)
        except _Unsupported:
            check = None
        _CHECKERS[key] = (root, check)
    return _CHECKERS[key][1]


def surely_valid(document: Any, root: Mapping[str, Any] | None = None) -> bool:
    """True only when ``document`` is valid against ``root`` (default: the spec's schema).

    False means: check in full.
    """
    check = _checker(root)
    return check is not None and check(document)
