"""The JSON Schema of a spec, compiled once, and its errors turned into SpecIssues.

jsonschema (about 50 ms of imports) is imported only when a document fails the fast check
of :mod:`runner.spec.fastcheck`: a valid spec is validated without it.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import SpecIssue
from runner.spec import paths
from runner.spec.model import Position
from runner.spec.secrets import redact

if TYPE_CHECKING:
    import jsonschema  # type: ignore[import-untyped]
    from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "publish-spec.schema.json"

#: what each name pattern of the schema means, in words
PATTERN_WORDS = {
    "^[a-z0-9][a-z0-9_-]*$": "lower-case letters, digits, _ and -, starting with a letter or digit",
    "^[A-Za-z_][A-Za-z0-9_]*$": "letters, digits and _, starting with a letter or _",
    "^[A-Za-z_][A-Za-z0-9_$]{0,62}$": (
        "letters, digits, _ and $, starting with a letter or _, at most 63 characters "
        "(no quotes, backticks, spaces or semicolons)"
    ),
    "^[A-Za-z0-9_][A-Za-z0-9_-]*$": "letters, digits, _ and -",
    "^https?://[^\\s]+$": "an http:// or https:// URL",
    "^sc://[^\\s]+$": "a Spark Connect URL: sc://HOST:15002",
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value)",
    "array": "a list",
    "null": "nothing",
}


@functools.cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return data


@functools.lru_cache(maxsize=256)
def full_pattern(rx: str) -> re.Pattern[str]:
    """A schema pattern compiled with ECMA-262's meaning of a final ``$``: the very end.

    Python's ``$`` also matches before a trailing newline, so ``^[a-z]+$`` would accept
    ``"orders\\n"`` (a ``|`` block scalar) as a table name; ``\\Z`` does not.
    """
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", rx))


def _pattern(
    validator: Any, patrn: str, instance: Any, schema: Mapping[str, Any]
) -> Iterable[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not full_pattern(patrn).search(instance):
        import jsonschema

        yield jsonschema.ValidationError(f"{instance!r} does not match {patrn!r}")


@functools.cache
def _spec_validator() -> Any:
    """The 2020-12 validator class with full-match patterns (see :func:`full_pattern`)."""
    import jsonschema

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


@functools.cache
def validator() -> Draft202012Validator:
    return _spec_validator()(schema())


@functools.cache
def environments_schema() -> dict[str, Any]:
    """The schema of only the ``environments`` block of a spec as written (before merging)."""
    root = schema()
    return {
        "$schema": root["$schema"],
        "$defs": root["$defs"],
        "type": "object",
        "properties": {"environments": root["properties"]["environments"]},
    }


@functools.cache
def environments_validator() -> Draft202012Validator:
    """Checks only the ``environments`` block of a spec as written (before merging)."""
    return _spec_validator()(environments_schema())


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Mapping[str, Any] = schema()["$defs"][ref[len("#/$defs/") :]]
        return resolved
    return node


def subschema_at(parts: Iterable[str | int]) -> Mapping[str, Any] | None:
    """The schema that applies at a data path (following properties, items, $ref)."""
    node: Mapping[str, Any] = schema()
    for part in parts:
        node = _resolve(node)
        nxt: Any
        if isinstance(part, int):
            nxt = node.get("items")
        else:
            nxt = node.get("properties", {}).get(part)
            if nxt is None:
                nxt = node.get("additionalProperties")
        if not isinstance(nxt, Mapping):
            return None
        node = nxt
    return _resolve(node)


_NAMED_MAPS = frozenset({"connections", "jobs", "targets"})


def type_at(parts: tuple[str | int, ...]) -> str | None:
    """The JSON type the schema wants at ``parts``, when it names exactly one."""
    shape = tuple(
        0 if isinstance(p, int) else "*" if i == 1 and parts[0] in _NAMED_MAPS else p
        for i, p in enumerate(parts)
    )
    return _type_at_shape(shape)


@functools.lru_cache(maxsize=1024)
def _type_at_shape(shape: tuple[str | int, ...]) -> str | None:
    node = subschema_at(shape)
    kind = node.get("type") if node else None
    return kind if isinstance(kind, str) else None


def coerce(value: Any, kind: str | None) -> Any:
    """A rendered template string as the scalar type the schema wants (else unchanged)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind == "integer" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if kind == "number":
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        try:
            return float(text)
        except ValueError:
            return value
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if options and len(options) <= 12:
        return f"; expected one of: {', '.join(options)}"
    return ""


def _describe(instance: Any) -> str:
    if isinstance(instance, bool):
        return f"the boolean {str(instance).lower()}"
    if isinstance(instance, int | float):
        return f"the number {instance}"
    if isinstance(instance, str):
        return f"the string {instance!r}"
    if isinstance(instance, dict):
        return "a mapping"
    if isinstance(instance, list):
        return "a list"
    if instance is None:
        return "nothing (null)"
    return type(instance).__name__


def _param_message(error: jsonschema.ValidationError) -> str:
    """An unknown key of a connection's params (an allow-list per vendor)."""
    options = [str(o) for o in error.validator_value]
    title = (
        error.schema.get("title", "driver parameter") if isinstance(error.schema, Mapping) else ""
    )
    hint = did_you_mean(str(error.instance), options)
    allowed = ", ".join(options) or "none"
    return (
        f"'{error.instance}' is not a {title} publish allows{hint if hint.startswith('; did') else ''}"
        f" (allowed: {allowed}); parameters that could run SQL or change the session are "
        "refused, see docs/security.md"
    )


def _then_message(error: jsonschema.ValidationError) -> str:
    message = error.schema.get("errorMessage") if isinstance(error.schema, Mapping) else None
    return f" ({message})" if isinstance(message, str) else ""


class IssueMaker:
    """Builds SpecIssues at the source position of a JSON path."""

    def __init__(
        self,
        label: str,
        positions: Mapping[str, Position],
        key_positions: Mapping[str, Position],
    ) -> None:
        self.label = label
        self.positions = positions
        self.key_positions = key_positions

    def at(self, path: str, message: str, *, key: bool = False) -> SpecIssue:
        pos = self.key_positions.get(path) if key else None
        if pos is None:
            pos = paths.nearest(self.positions, path)
        return SpecIssue(
            pos.file if pos else self.label,
            pos.line if pos else None,
            pos.column if pos else None,
            path,
            redact(message),
        )

    def _name_issue(self, error: jsonschema.ValidationError, path: str) -> SpecIssue:
        """A mapping key that breaks `propertyNames` (adopted connections, params, names)."""
        instance = error.instance
        sub = paths.child(path, str(instance))
        if error.validator == "const":
            return self.at(
                sub,
                f"unknown key '{instance}': an adopted connection holds `id` alone; "
                "remove the other keys",
                key=True,
            )
        if error.validator == "enum":
            return self.at(sub, _param_message(error), key=True)
        words = PATTERN_WORDS.get(str(error.validator_value), "")
        return self.at(sub, f"'{instance}' is not a valid name: use {words}", key=True)

    def _unknown_keys(self, error: jsonschema.ValidationError, path: str) -> list[SpecIssue]:
        """Each key that `additionalProperties: false` refuses, with a did-you-mean."""
        allowed = set(error.schema.get("properties", {}))
        patterns = [re.compile(rx) for rx in error.schema.get("patternProperties", {})]
        out = []
        for extra in sorted(set(error.instance) - allowed):
            if any(rx.search(extra) for rx in patterns):
                continue
            sub = paths.child(path, extra)
            out.append(
                self.at(sub, f"unknown key '{extra}'{did_you_mean(extra, allowed)}", key=True)
            )
        return out

    def from_schema_error(self, error: jsonschema.ValidationError) -> list[SpecIssue]:
        parts = list(error.absolute_path)
        path = paths.join(parts)
        kind = error.validator
        instance = error.instance
        if "propertyNames" in error.relative_schema_path:
            return [self._name_issue(error, path)]
        if kind == "additionalProperties" and isinstance(instance, dict):
            return self._unknown_keys(error, path)
        if kind == "required":
            match = re.match(r"^'(.*)' is a required property$", error.message)
            missing = match.group(1) if match else str(error.validator_value)
            where = "the spec" if path == paths.ROOT else path.rsplit(".", 1)[-1]
            return [
                self.at(
                    path,
                    f"'{missing}' is required in {where}{_then_message(error)}",
                    key=True,
                )
            ]
        if kind == "enum":
            options = [str(o) for o in error.validator_value]
            hint = did_you_mean(str(instance), options) if isinstance(instance, str) else ""
            if not hint.startswith("; did"):
                hint = ""
            return [
                self.at(
                    path,
                    f"{_describe(instance)} is not one of: {', '.join(options)}{hint}",
                )
            ]
        if kind == "pattern":
            words = PATTERN_WORDS.get(str(error.validator_value), f"'{error.validator_value}'")
            return [self.at(path, f"{_describe(instance)} is not valid: use {words}")]
        if kind == "type":
            wanted = error.validator_value
            names = [wanted] if isinstance(wanted, str) else list(wanted)
            words = " or ".join(_TYPE_WORDS.get(n, n) for n in names)
            hint = ""
            scalar = bool(set(names) & {"integer", "number", "boolean"})
            if (
                scalar
                and isinstance(instance, str)
                and re.fullmatch(r"[+-]?\d+(\.\d*)?|true|false", instance.strip())
            ):
                hint = "; write it without quotes"
            return [self.at(path, f"expected {words}, got {_describe(instance)}{hint}")]
        if kind == "const" and parts == ["version"]:
            return [self.at(path, f"{_describe(instance)} is not supported; only version 1 exists")]
        if kind == "uniqueItems":
            return [self.at(path, "the list holds the same entry twice")]
        if kind == "minItems":
            return [self.at(path, "the list is empty; give at least one entry")]
        if kind == "minProperties":
            return [self.at(path, "the mapping is empty; give at least one entry")]
        if kind == "minLength":
            return [self.at(path, "must not be empty")]
        return [self.at(path, error.message)]


def schema_issues(
    data: Mapping[str, Any],
    maker: IssueMaker,
    *,
    skip: set[str] | frozenset[str] = frozenset(),
    loose_environments: bool = False,
) -> list[SpecIssue]:
    """Every schema error of ``data`` as issues (none under the paths in ``skip``)."""
    from runner.spec.fastcheck import surely_valid

    if surely_valid(data, environments_schema() if loose_environments else schema()):
        return []
    v = environments_validator() if loose_environments else validator()
    errors = []
    for error in v.iter_errors(data):
        if loose_environments and not _structural(error):
            continue
        path = paths.join(list(error.absolute_path))
        if skip and _under_any(path, skip):
            continue
        errors.append((path, error))
    # a misspelt key also makes the key it meant missing: report the misspelling only
    meant = set()
    for path, error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for extra in set(error.instance) - set(allowed):
                close = difflib.get_close_matches(extra, allowed, n=1, cutoff=0.6)
                if close:
                    meant.add((path, close[0]))
    issues: list[SpecIssue] = []
    for path, error in errors:
        if error.validator == "required":
            match = re.match(r"^'(.*)' is a required property$", error.message)
            if match and (path, match.group(1)) in meant:
                continue
        issues.extend(maker.from_schema_error(error))
    return issues


def _structural(error: jsonschema.ValidationError) -> bool:
    """Errors an overlay can have before rendering and merging: unknown keys, bad names."""
    if error.validator in ("additionalProperties",):
        return True
    if "propertyNames" in error.relative_schema_path:
        return True
    return bool(error.validator == "type" and error.validator_value == "object")


def _under_any(path: str, roots: Iterable[str]) -> bool:
    return any(paths.rebase(path, root, root) is not None for root in roots)
