"""Render a Plan for people (text, markdown) or programs (json).

``json`` is exactly :meth:`Plan.dumps`, the canonical form described by
``schemas/plan.schema.json``. ``text`` and ``markdown`` are made by
:mod:`runner.plan.render_text` and :mod:`runner.plan.render_markdown`. All three are
deterministic (the same plan gives byte-identical output) and, as a last line of defence,
pass through :func:`runner.spec.secrets.redact`: a plan holds secret references, never
values, so redaction changes nothing unless a value leaked into a message by mistake.
Colour is used only when ``color=True``; deciding it (NO_COLOR, a terminal) is the caller's job.
"""

from __future__ import annotations

from typing import Literal, get_args

from runner.plan.model import Plan
from runner.plan.render_markdown import MARKDOWN_LIMIT, render_markdown
from runner.plan.render_text import render_text
from runner.spec.secrets import redact

__all__ = ["FORMATS", "MARKDOWN_LIMIT", "PlanFormat", "render_plan"]

PlanFormat = Literal["text", "markdown", "json"]
FORMATS: tuple[str, ...] = get_args(PlanFormat)


def render_plan(plan: Plan, fmt: PlanFormat, *, color: bool = False) -> str:
    if fmt == "text":
        out = render_text(plan, color=color)
    elif fmt == "markdown":
        out = render_markdown(plan)
    elif fmt == "json":
        out = plan.dumps()
    else:
        raise ValueError(f"unknown plan format {fmt!r}; use one of {', '.join(FORMATS)}")
    return redact(out)
