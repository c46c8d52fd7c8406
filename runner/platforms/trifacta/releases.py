"""Which release documents which endpoint (``platform.release``).

The cloud API (Alteryx Analytics Cloud / Dataprep, description v2025.23.2) documents
output objects, write settings and publications, and has no ad-hoc publish. Two
endpoints are documented only in the pages of on-prem releases:

- ``PUT /v4/jobGroups/{id}/publish``: "API JobGroups Put Publish v4", releases 6.0 and
  6.4 (Hive and Redshift targets);
- ``POST /v4/connections/dryRun``: "API Connections Create DryRun v4", release 6.4.

``PATCH /v4/connections/{id}`` is documented in no release the project has pages of, so
it is never called: a changed connection is changed in the application.
"""

from __future__ import annotations

import re

CLOUD = "cloud"
PUBLISH = "PUT /v4/jobGroups/{id}/publish"
DRY_RUN = "POST /v4/connections/dryRun"
#: the first on-prem release whose pages document the endpoint
SINCE: dict[str, tuple[int, int]] = {PUBLISH: (6, 0), DRY_RUN: (6, 4)}
#: targets PUT .../publish documents (release 6.4 page: Hive and Redshift)
PUBLISH_VENDORS: frozenset[str] = frozenset({"redshift", "hive"})
_NUMBER = re.compile(r"^([0-9]{1,2})\.([0-9]{1,2})$")


def version(release: str) -> tuple[int, int] | None:
    """``(major, minor)`` of an on-prem release, None for the cloud."""
    match = _NUMBER.match(release.strip())
    return (int(match[1]), int(match[2])) if match else None


def documents(release: str, endpoint: str) -> bool:
    """Whether ``release`` documents ``endpoint`` (always, for the cloud's own endpoints)."""
    since = SINCE.get(endpoint)
    if since is None:
        return True
    number = version(release)
    return number is not None and number >= since


def where(endpoint: str) -> str:
    """The releases that document ``endpoint``, in words."""
    major, minor = SINCE[endpoint]
    return f"on-prem releases {major}.{minor} and later (platform.release), not the cloud API"
