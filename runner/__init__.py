"""publish: plan and apply the publication of data job results into relational tables.

The Python API (documented in docs/python.md)::

    from runner import load_spec, plan, apply

``runner.plan`` and ``runner.apply`` are also subpackages. The names here call the API
functions (:mod:`runner.api`: same signature, docs and type) and reach into the subpackage
for anything else, so ``runner.plan.model``, ``from runner.plan.model import Plan`` and
``monkeypatch.setattr("runner.plan.planner.Planner.build", ...)`` keep working. The API is
imported on first use, so ``publish --help`` does not pay for it.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from runner.api import ApplyFailed, ApplyResult, apply, load_spec, plan

__all__ = ["ApplyFailed", "ApplyResult", "__version__", "apply", "load_spec", "plan"]
_API = frozenset({"ApplyFailed", "ApplyResult", "apply", "load_spec", "plan"})


_SUBPACKAGES = frozenset({"plan", "apply"})


class _Entry:
    """``runner.plan`` / ``runner.apply``: the API function, and the subpackage behind it."""

    def __init__(self, name: str, function: Any) -> None:
        functools.update_wrapper(self, function)
        self._function = function
        self._subpackage = f"runner.{name}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._subpackage), attr)

    def __repr__(self) -> str:
        return repr(self._function)


def __getattr__(name: str) -> Any:
    if name in _API:
        from runner import api

        value = getattr(api, name)
        if name in _SUBPACKAGES:
            value = _Entry(name, value)
        setattr(sys.modules[__name__], name, value)  # once; later imports cannot replace it
        return value
    raise AttributeError(f"module 'runner' has no attribute {name!r}")


class _Package(types.ModuleType):
    """Keeps ``runner.plan`` / ``runner.apply`` the API functions once their subpackages load.

    Importing ``runner.plan.model`` makes Python set the attribute ``runner.plan`` to the
    subpackage; this drops that assignment (the subpackage stays in ``sys.modules``), so
    ``from runner import plan`` is the function whatever was imported before.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
