"""The spec language's entry points: resolve, load (render, validate, build), render."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runner.errors import SpecError, SpecIssue
from runner.spec import paths
from runner.spec.build import build_spec
from runner.spec.load import Document, load_file, parse_bytes, read_limited
from runner.spec.model import Spec
from runner.spec.recipes import CheckRecipes
from runner.spec.render import Rendered, render
from runner.spec.secrets import MASK, Secret, redact
from runner.spec.validate import sort_issues, validate

SPEC_SUFFIXES = (".yaml", ".yml")
PREFERRED = ("publish.yaml", "publish.yml")

__all__ = [
    "Validation",
    "check_spec",
    "format_issues",
    "load_rendered",
    "load_spec",
    "render_for_display",
    "resolve_spec_path",
]


def _fail(label: str, message: str) -> SpecError:
    return SpecError([SpecIssue(label, None, None, paths.ROOT, message)])


def resolve_spec_path(path: str | Path) -> Path:
    """A spec file, or the one spec in a folder (publish.yaml, else its single *.yaml)."""
    p = Path(path)
    if p.is_dir():
        for name in PREFERRED:
            if (p / name).is_file():
                return p / name
        found = sorted(c for c in p.iterdir() if c.suffix in SPEC_SUFFIXES and c.is_file())
        if len(found) == 1:
            return found[0]
        if not found:
            return _raise(_fail(str(p), "no spec in this folder (publish.yaml or one *.yaml)"))
        names = ", ".join(c.name for c in found)
        return _raise(
            _fail(str(p), f"several specs in this folder ({names}); name the file to use")
        )
    if not p.exists():
        raise _fail(str(p), "no such file or folder")
    return p


def _raise(exc: SpecError) -> Path:
    raise exc


@dataclass(frozen=True)
class Validation:
    """What ``publish validate`` found in a valid spec."""

    connections: int
    jobs: int
    targets: int
    #: every secret() the spec uses (plan and apply need them), and those not set here
    secrets: tuple[str, ...] = ()
    missing_secrets: tuple[str, ...] = ()


def check_spec(
    path: str | Path,
    *,
    environment: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    var_files: Sequence[str | Path] = (),
    require_secrets: bool = False,
    check_recipes: CheckRecipes | None = None,
) -> Validation:
    """Validate a spec (SpecError with every issue); secrets need not be set.

    An unset ``secret()`` is an opaque placeholder: structure, references and templates are
    checked, the value holding it is not, and the secret is listed as missing. With
    ``require_secrets`` an unset secret is an error, as ``plan`` and ``apply`` make it.
    ``check_recipes`` checks the local recipes (default: in this process).
    """
    file = resolve_spec_path(path)
    doc, raw = _read(file)
    rendered = render(
        doc,
        environment=environment,
        cli_vars=cli_vars or {},
        var_files=var_files,
        require_secrets=require_secrets,
    )
    issues = validate(doc, rendered, file.parent, check_recipes=check_recipes)
    if issues:
        raise SpecError(issues)
    if not rendered.missing_secrets:  # complete: build it, as plan would
        _build(file, raw, rendered)
    data = rendered.data

    def count(key: str) -> int:
        section = data.get(key)
        return len(section) if isinstance(section, dict) else 0

    return Validation(
        connections=count("connections"),
        jobs=count("jobs"),
        targets=count("targets"),
        secrets=tuple(sorted(rendered.secret_names)),
        missing_secrets=tuple(sorted(rendered.missing_secrets)),
    )


def _read(file: Path) -> tuple[Document, bytes]:
    try:
        raw_bytes = read_limited(file)
    except OSError as exc:
        raise _fail(str(file), f"cannot read: {exc.strerror}") from None
    return parse_bytes(raw_bytes, str(file)), raw_bytes


def _build(file: Path, raw_bytes: bytes, rendered: Rendered) -> Spec:
    return build_spec(
        rendered.data,
        file=file.resolve(),
        environment=rendered.environment,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        positions=rendered.positions,
    )


def load_rendered(
    path: str | Path,
    *,
    environment: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    var_files: Sequence[str | Path] = (),
) -> tuple[Spec, dict[str, Any]]:
    """Load, render, validate and build; also the rendered data (with Secret objects)."""
    file = resolve_spec_path(path)
    doc, raw_bytes = _read(file)
    rendered = render(doc, environment=environment, cli_vars=cli_vars or {}, var_files=var_files)
    issues = validate(doc, rendered, file.parent)
    if issues:
        raise SpecError(issues)
    return _build(file, raw_bytes, rendered), rendered.data


def load_spec(
    path: str | Path,
    *,
    environment: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    var_files: Sequence[str | Path] = (),
) -> Spec:
    """The validated Spec; raises SpecError listing every issue (sorted by line)."""
    spec, _ = load_rendered(path, environment=environment, cli_vars=cli_vars, var_files=var_files)
    return spec


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, Secret):
        return MASK
    return value


class _DisplayDumper(yaml.SafeDumper):
    """Multi-line strings (recipes) as literal blocks."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_DisplayDumper.add_representer(str, _str_representer)


def render_for_display(
    path: str | Path,
    *,
    environment: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    var_files: Sequence[str | Path] = (),
) -> str:
    """The rendered spec as YAML with secrets masked (template errors raise SpecError)."""
    file = resolve_spec_path(path)
    doc = load_file(file, str(file))
    rendered = render(doc, environment=environment, cli_vars=cli_vars or {}, var_files=var_files)
    if rendered.issues:
        raise SpecError(sort_issues(rendered.issues))
    header = f"# {file} rendered for environment {rendered.environment}; secrets masked\n"
    body = yaml.dump(
        _masked(rendered.data),
        Dumper=_DisplayDumper,
        sort_keys=False,
        allow_unicode=True,
        width=10_000,
    )
    return redact(header + body)


def format_issues(issues: Sequence[SpecIssue]) -> list[str]:
    """One line per issue, secrets masked."""
    return [redact(str(i)) for i in issues]
