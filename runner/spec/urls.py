"""The platform URL rule, shared by validate and the API client: no token over plain http.

``base_url_problem`` returns what is wrong with a platform base URL (prefixed
``platform.url: ``), or None; the client raises it, validate reports it at the spec's place.
"""

from __future__ import annotations

import ipaddress
import urllib.parse


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str, *, allow_insecure_http: bool = False) -> str | None:
    """Why ``url`` cannot be a platform base URL, or None when it can."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"platform.url: {url!r} is not an http(s) URL; use e.g. https://us1.alteryxcloud.com"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "platform.url: give the base URL only (no query, fragment or user:password)"
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure_http:
        return (
            f"platform.url: refusing plain http:// to {parts.hostname}: the token would "
            "travel unencrypted; use https://, or set platform.allowInsecureHttp: true "
            "if you really mean it"
        )
    return None
