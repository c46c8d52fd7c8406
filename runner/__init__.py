"""publish: plan and apply the publication of data job results into relational tables."""

from __future__ import annotations

__version__ = "0.1.0"
