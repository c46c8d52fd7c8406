"""publish: plan and apply the publication of data job results into relational tables.

The Python API (documented in docs/python.md)::

    from runner import load_spec, plan, apply

``plan`` and ``apply`` here are functions (:mod:`runner.api`), although ``runner.plan`` and
``runner.apply`` are also subpackages: import from those by their full dotted name
(``from runner.plan.model import Plan``), which is unaffected. The API is imported on first
use, so ``publish --help`` does not pay for it.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from runner.api import ApplyFailed, ApplyResult, apply, load_spec, plan

__all__ = ["ApplyFailed", "ApplyResult", "__version__", "apply", "load_spec", "plan"]
_API = frozenset({"ApplyFailed", "ApplyResult", "apply", "load_spec", "plan"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from runner import api

        return getattr(api, name)
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
