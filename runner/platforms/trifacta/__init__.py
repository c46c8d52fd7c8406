"""The ``trifacta`` platform: the Trifacta / Alteryx Designer Cloud REST API v4."""

from __future__ import annotations

from runner.platforms.trifacta.client import AmbiguousRequest, TrifactaClient
from runner.platforms.trifacta.platform import TrifactaPlatform
from runner.platforms.trifacta.retry import RetryPolicy
from runner.platforms.trifacta.waiting import JobGroupCanceled, JobGroupError

__all__ = [
    "AmbiguousRequest",
    "JobGroupCanceled",
    "JobGroupError",
    "RetryPolicy",
    "TrifactaClient",
    "TrifactaPlatform",
]
