"""The Spark Connect URL: ``sc://HOST:PORT/;param=value;...`` (Spark's documented form).

Parameters publish knows: ``token`` (a bearer token; the client sends it over TLS only),
``use_ssl``, ``user_id``, ``session_id``, ``user_agent``. Their values, and the token
above all, are masked wherever publish shows the URL.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from runner.errors import PlatformError

DEFAULT_PORT = 15002
#: parameters whose values are never shown
SECRET_PARAMS = frozenset({"token"})
KNOWN_PARAMS = frozenset(
    {"token", "use_ssl", "user_id", "session_id", "user_agent", "grpc_max_message_size"}
)
_HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")


@dataclass(frozen=True)
class ConnectUrl:
    host: str
    port: int
    params: tuple[tuple[str, str], ...]

    @property
    def token(self) -> str | None:
        return dict(self.params).get("token")

    @property
    def use_ssl(self) -> bool:
        return dict(self.params).get("use_ssl", "").lower() == "true"

    @property
    def shown(self) -> str:
        """The URL for output: every secret parameter's value masked."""
        parts = [f"{k}={'***' if k in SECRET_PARAMS else v}" for k, v in self.params]
        tail = "/;" + ";".join(parts) if parts else ""
        return f"sc://{self.host}:{self.port}{tail}"

    @property
    def identity(self) -> str:
        """What names the cluster in fingerprints: host, port, TLS (never the token)."""
        return f"sc://{self.host}:{self.port}/;use_ssl={str(self.use_ssl).lower()}"


def parse_url(url: str) -> ConnectUrl:
    """Parse ``sc://HOST[:PORT][/;k=v;...]``; raise PlatformError saying what is wrong."""
    if not url.startswith("sc://"):
        raise PlatformError("platform.url: a Spark Connect URL starts with sc:// (sc://HOST:15002)")
    rest = url[len("sc://") :]
    where, _, tail = rest.partition("/")
    params: list[tuple[str, str]] = []
    for item in tail.lstrip(";").split(";") if tail else ():
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise PlatformError(
                f"platform.url: parameter {key or item!r} needs a value (;name=value)"
            )
        if key not in KNOWN_PARAMS:
            raise PlatformError(
                f"platform.url: unknown Spark Connect parameter {key!r}; known: "
                f"{', '.join(sorted(KNOWN_PARAMS))}"
            )
        params.append((key, urllib.parse.unquote(value)))
    host, port = where, DEFAULT_PORT
    if where.rsplit(":", 1)[-1].isdigit() and not where.endswith("]"):
        host, _, port_text = where.rpartition(":")
        port = int(port_text)
    if not host or not _HOST.match(host):
        raise PlatformError(f"platform.url: {host!r} is not a host name (sc://HOST:15002)")
    if not 0 < port < 65536:
        raise PlatformError(f"platform.url: port {port} is out of range")
    parsed = ConnectUrl(host, port, tuple(params))
    use_ssl = dict(params).get("use_ssl")
    if parsed.token is not None and use_ssl is not None and use_ssl.lower() != "true":
        raise PlatformError(
            "platform.url: a token travels over TLS only; drop use_ssl=false "
            "(the client turns TLS on when a token is given)"
        )
    return parsed


def spark_url_problem(url: str) -> str | None:
    """What is wrong with a Spark Connect URL (for validate), or None."""
    try:
        parse_url(url)
    except PlatformError as exc:
        return str(exc).removeprefix("platform.url: ")
    return None
