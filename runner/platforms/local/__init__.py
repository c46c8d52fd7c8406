"""The ``local`` platform: jobs run in-process with polars, results published by our loaders."""

from __future__ import annotations

from runner.platforms.local.platform import LocalPlatform

__all__ = ["LocalPlatform"]
