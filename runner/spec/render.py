"""Rendering: every string value of the spec is a Jinja template, nothing else is.

- Jinja's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: an undefined name is
  an error, not an empty string, and the sandbox refuses attribute tricks.
- Only parsed string *values* are rendered (never keys, never the raw file), each once:
  what ``env()`` and ``secret()`` return is never rendered again.
- ``secret('NAME')`` returns an opaque placeholder; a rendered string holding one becomes
  a :class:`Secret` whose value has the placeholders replaced. The value is registered
  for redaction the moment it is read, before anything can print it.
- ``vars`` values are plain data and are not rendered.
"""

from __future__ import annotations

import copy
import difflib
import functools
import logging
import os
import re
import secrets as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from runner.errors import SpecError, SpecIssue
from runner.spec import paths, sandbox
from runner.spec.load import Document, load_file
from runner.spec.model import Position
from runner.spec.sandbox import BudgetExceeded, Sandbox, template_line
from runner.spec.secrets import Secret, redact, register

Path_ = tuple[str | int, ...]

_MISSING: Any = object()
_MARKERS = ("{{", "{%", "{#")
_OPEN, _CLOSE = "\x1e", "\x1f"

log = logging.getLogger("runner.spec")


_jinja = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _jinja.from_string(source)


def is_template(value: object) -> bool:
    return isinstance(value, str) and "{" in value and any(m in value for m in _MARKERS)


class _Problem(Exception):
    """A template function refused (missing environment variable or secret)."""


@dataclass
class Rendered:
    """The rendered spec: plain data (with Secret objects), positions and issues."""

    data: dict[str, Any]
    positions: dict[str, Position]
    key_positions: dict[str, Position]
    vars: dict[str, Any]
    environment: str
    label: str
    #: paths of values that were templates (their type may be coerced after rendering)
    templated: set[Path_] = field(default_factory=set)
    #: JSON paths of values whose template failed (schema errors there are noise)
    failed: set[str] = field(default_factory=set)
    issues: list[SpecIssue] = field(default_factory=list)
    #: template -> result within this render (same context, same answer)
    cache: dict[str, str | Secret] = field(default_factory=dict)
    #: how many secret() values were read (none: the data holds no Secret)
    secrets: int = 0
    #: the names of every secret() the spec uses, and those not set (validate only)
    secret_names: frozenset[str] = frozenset()
    missing_secrets: frozenset[str] = frozenset()
    #: templates whose result holds an unset secret's placeholder
    unresolved: set[str] = field(default_factory=set)


class _SecretTable:
    """The placeholders handed out by ``secret()`` during one render."""

    def __init__(self, *, require: bool = True) -> None:
        self.values: dict[str, tuple[str, str]] = {}  # token -> (name, value)
        self._prefix = f"{_random.randbelow(10**9):09d}"
        #: False (validate): an unset secret is an opaque placeholder, not an error
        self.require = require
        self.names: set[str] = set()
        self.missing: set[str] = set()
        self._missing_tokens: set[str] = set()
        #: the last resolved text held a placeholder of an unset secret
        self.unresolved = False

    def token(self, name: str, value: str) -> str:
        register(value)  # masked in every output from now on
        token = f"{_OPEN}{self._prefix}{len(self.values):05d}{_CLOSE}"
        self.values[token] = (name, value)
        self.names.add(name)
        return token

    def placeholder(self, name: str) -> str:
        """The token of a secret that is not set (validate without secrets)."""
        token = f"{_OPEN}{self._prefix}{len(self.values):05d}{_CLOSE}"
        self.values[token] = (name, f"<secret {name}>")
        self.names.add(name)
        self.missing.add(name)
        self._missing_tokens.add(token)
        return token

    def resolve(self, text: str) -> str | Secret:
        if _OPEN not in text and _CLOSE not in text:
            return text
        names: list[str] = []
        for token, (name, value) in self.values.items():
            if token in text:
                self.unresolved |= token in self._missing_tokens
                text = text.replace(token, value)
                names.append(name)
        # a placeholder changed by a filter would otherwise be lost (or leak in pieces)
        leftovers = [t for t in (_OPEN, _CLOSE) if t in text]
        if leftovers or not names:
            raise _Problem(
                "a secret() value was changed by a filter or an expression; "
                "use it as is, for example \"{{ secret('NAME') }}\""
            )
        return Secret(text, names)


def _env_name_ok(name: object) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise _Problem(f"environment variable names are letters, digits and _, not {name!r}")
    return name


def _make_context(
    merged_vars: dict[str, Any], environment: str, table: _SecretTable
) -> dict[str, Any]:
    def env(name: str, default: Any = _MISSING) -> Any:
        key = _env_name_ok(name)
        value = os.environ.get(key)
        if value is None:
            if default is _MISSING:
                raise _Problem(
                    f"environment variable {key} is not set; set it or give a default: "
                    f"env('{key}', 'value')"
                )
            return default
        return value

    def secret(name: str) -> str:
        key = _env_name_ok(name)
        value = os.environ.get(key)
        if not value and not table.require:
            return table.placeholder(key)
        if value is None:
            raise _Problem(f"secret('{key}'): environment variable {key} is not set")
        if value == "":
            raise _Problem(f"secret('{key}'): environment variable {key} is empty")
        return table.token(key, value)

    return {"env": env, "secret": secret, "vars": merged_vars, "environment": environment}


_SIMPLE = re.compile(r"\{\{\s*(environment|vars(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}")


def _render_simple(source: str, context: Mapping[str, Any]) -> str | None:
    """``text {{ vars.a.b }} text`` without compiling a template (None: use Jinja).

    Compiling a Jinja template costs about a millisecond; a big spec has thousands of
    templates that only look up a variable. The answer is the same as Jinja's (``str`` of
    the value); anything else (filters, calls, a missing name, a name that is also a dict
    method) goes to Jinja, which also gives the errors.
    """
    if "{%" in source or "{#" in source:
        return None
    pieces: list[str] = []
    end = 0
    for match in _SIMPLE.finditer(source):
        pieces.append(source[end : match.start()])
        expr = match.group(1)
        if expr == "environment":
            value: Any = context["environment"]
        else:
            value = context["vars"]
            for name in expr.split(".")[1:]:
                if not isinstance(value, dict) or name not in value or hasattr(dict, name):
                    return None
                value = value[name]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return None
        pieces.append(str(value))
        end = match.end()
    pieces.append(source[end:])
    if any("{{" in piece for piece in pieces[::2]):
        return None
    return "".join(pieces)


def render_string(source: str, context: Mapping[str, Any], table: _SecretTable) -> str | Secret:
    """Render one template string; raises _Problem with a user-facing message."""
    budget = sandbox.current()
    simple = _render_simple(source, context)
    if simple is not None:
        budget.add_output(simple)
        return simple
    try:
        budget.start_value(source)
        template = _compile(source)
        out = template.render(context)
        budget.add_output(out)
    except _Problem:
        raise
    except jinja2.TemplateSyntaxError as exc:
        raise _Problem(f"template syntax error: {exc.message}") from None
    except BudgetExceeded as exc:
        line = template_line(exc)
        at = f" (line {line} of the template)" if line and "\n" in source.strip() else ""
        raise _Problem(f"template stopped{at}: {exc}; see docs/security.md") from None
    except RecursionError:
        raise _Problem("template error: nested too deeply") from None
    except MemoryError:
        raise _Problem("template error: out of memory") from None
    except SecurityError as exc:
        raise _Problem(f"template refused by the sandbox: {exc}") from None
    except jinja2.UndefinedError as exc:
        message = exc.message or "undefined"
        if message.endswith("is undefined") or message.startswith("'dict object'"):
            message += "; define it under vars or pass --var NAME=VALUE"
        raise _Problem(f"template error: {message}") from None
    except Exception as exc:
        raise _Problem(f"template error: {type(exc).__name__}: {exc}") from None
    return table.resolve(out)


def _render_tree(
    value: Any,
    parts: Path_,
    context: Mapping[str, Any],
    table: _SecretTable,
    result: Rendered,
) -> Any:
    if isinstance(value, dict):
        return {k: _render_tree(v, (*parts, k), context, table, result) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_tree(v, (*parts, i), context, table, result) for i, v in enumerate(value)]
    if not is_template(value):
        return value
    result.templated.add(parts)
    budget = sandbox.current()
    if budget.exhausted:  # the spec-wide budget is spent: one error said so already
        result.failed.add(paths.join(parts))
        return value
    try:
        done = result.cache.get(value)
        if done is not None:
            try:
                budget.add_output(done)
            except BudgetExceeded as exc:
                raise _Problem(f"template stopped: {exc}; see docs/security.md") from None
            if value in result.unresolved:
                result.failed.add(paths.join(parts))
            return done
        table.unresolved = False
        out = render_string(value, context, table)
        result.cache[value] = out
        if table.unresolved:  # holds an unset secret's placeholder: not checked by the schema
            result.unresolved.add(value)
            result.failed.add(paths.join(parts))
        return out
    except _Problem as exc:
        json_path = paths.join(parts)
        pos = paths.nearest(result.positions, json_path)
        result.failed.add(json_path)
        result.issues.append(
            SpecIssue(
                pos.file if pos else result.label,
                pos.line if pos else None,
                pos.column if pos else None,
                json_path,
                redact(str(exc)),
            )
        )
        return value


def _merge(
    base: dict[str, Any],
    overlay: Mapping[str, Any],
    dst: str,
    src: str,
    moved: list[tuple[str, str]],
) -> None:
    """Deep-merge ``overlay`` into ``base``; record (src, dst) path moves for positions."""
    for key, value in overlay.items():
        d, s = paths.child(dst, key), paths.child(src, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            moved.append((s, d))
            base[key] = dict(base[key])  # copied along the merge path only
            _merge(base[key], value, d, s, moved)
        else:
            base[key] = copy.deepcopy(value)
            moved.append((s, d))


def apply_environment(
    doc: Document, environment: str | None
) -> tuple[dict[str, Any], dict[str, Position], dict[str, Position]]:
    """The spec with the chosen environment's overlay merged in (``environments`` removed)."""
    data = {k: v for k, v in doc.data.items() if k != "environments"}
    positions = dict(doc.positions)
    key_positions = dict(doc.key_positions)
    if environment is None:
        return data, positions, key_positions  # rendering builds new containers
    envs = doc.data.get("environments")
    known = sorted(envs) if isinstance(envs, dict) else []
    overlay = envs.get(environment) if isinstance(envs, dict) else None
    if environment not in known:
        listed = ", ".join(known) if known else "none are defined (add an environments: block)"
        pos = doc.positions.get("$.environments")
        raise SpecError(
            [
                SpecIssue(
                    doc.label,
                    pos.line if pos else None,
                    pos.column if pos else None,
                    "$.environments",
                    f"unknown environment '{environment}'; known: {listed}",
                )
            ]
        )
    if not isinstance(overlay, dict):
        return data, positions, key_positions  # the schema reports the wrong type
    src_root = paths.child("$.environments", environment)
    body = {k: v for k, v in overlay.items() if k not in _EVERY_TARGET}
    moved: list[tuple[str, str]] = []
    _merge(data, body, "$", src_root, moved)
    under = [(p, pos) for p, pos in doc.positions.items() if p.startswith(src_root)]
    keys_under = [(p, pos) for p, pos in doc.key_positions.items() if p.startswith(src_root)]
    for s, d in moved:
        for table_, source in ((positions, under), (key_positions, keys_under)):
            for p, pos in source:
                new = paths.rebase(p, s, d)
                if new is not None:
                    table_[new] = pos
    for key, kind in _EVERY_TARGET.items():
        value = overlay.get(key)
        targets = data.get("targets")
        if isinstance(value, kind) and isinstance(targets, dict):
            where = doc.positions.get(paths.child(src_root, key))
            targets = data["targets"] = dict(targets)
            for name, target in targets.items():
                if isinstance(target, dict) and key not in target:
                    targets[name] = {**target, key: value}
                    if where is not None:
                        positions[f"{paths.child('$.targets', name)}.{key}"] = where
    return data, positions, key_positions


#: environment keys set on every target that does not set them itself, and their types
_EVERY_TARGET: dict[str, type] = {"protect": bool, "onSchemaChange": str}


def merge_vars(
    spec_vars: Any,
    var_files: Sequence[str | Path],
    cli_vars: Mapping[str, str],
) -> dict[str, Any]:
    """Precedence: --var > --var-file (later files win) > environment vars > spec vars."""
    merged: dict[str, Any] = dict(spec_vars) if isinstance(spec_vars, dict) else {}
    issues: list[SpecIssue] = []
    for f in var_files:
        try:
            doc = load_file(Path(f), str(f), what="variables (NAME: value)")
        except SpecError as exc:
            issues.extend(exc.issues)
            continue
        merged.update(doc.data)
    if issues:
        raise SpecError(issues)
    for key in sorted(set(cli_vars) - set(merged)):
        close = difflib.get_close_matches(key, sorted(merged), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        log.warning("--var %s: the spec declares no such variable in vars%s", key, hint)
    merged.update(cli_vars)
    return merged


def render(
    doc: Document,
    *,
    environment: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    var_files: Sequence[str | Path] = (),
    require_secrets: bool = True,
) -> Rendered:
    """Merge the environment, then render every string value outside ``vars``.

    With ``require_secrets=False`` (validate), a ``secret()`` whose variable is not set is
    an opaque placeholder: the value holding it is not checked against the schema, and its
    name is in ``missing_secrets``.
    """
    data, positions, key_positions = apply_environment(doc, environment)
    merged_vars = merge_vars(data.get("vars"), var_files, cli_vars or {})
    name = environment or "default"
    result = Rendered({}, positions, key_positions, merged_vars, name, doc.label)
    table = _SecretTable(require=require_secrets)
    context = _make_context(merged_vars, name, table)
    out: dict[str, Any] = {}
    token = sandbox.begin()
    try:
        for key, value in data.items():
            if key == "vars":
                # plain values, not templates (a vars that is not a mapping stays for the schema)
                out[key] = merged_vars if isinstance(value, dict) else value
            else:
                out[key] = _render_tree(value, (key,), context, table, result)
    finally:
        sandbox.end(token)
    if "vars" not in out and merged_vars:
        out["vars"] = merged_vars
    result.data = out
    result.secrets = len(table.values)
    result.secret_names = frozenset(table.names)
    result.missing_secrets = frozenset(table.missing)
    return result
