"""Opening a MySQL / MariaDB connection, and when LOAD DATA LOCAL INFILE may be offered.

``LOAD DATA LOCAL INFILE`` lets the server ask the client for any file it can read, so
the capability is only enabled (see :func:`local_infile_allowed`) when the server is on
this machine (``localhost``, 127.0.0.0/8, ``::1`` or a unix socket), or the connection
verifies the server's TLS certificate (``params.ssl_verify_cert`` or
``params.ssl_verify_identity`` true), or ``params.localInfile`` is ``true`` (the user
trusts the server and the network). ``params.localInfile: false`` turns it off.
Otherwise rows go by multi-row INSERTs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pymysql

from runner.spec.model import Connection
from runner.spec.secrets import reveal
from runner.targets import _common as common

#: binary utf8mb4 collations, best first: they compare exactly as the results do (``a`` and
#: ``A``, ``e`` and ``é`` differ); the NO PAD ones also tell ``x`` from ``x `` (MySQL 8,
#: MariaDB 10.2+); ``utf8mb4_bin`` (MySQL 5.7) ignores trailing spaces in comparisons
BINARY_COLLATIONS = ("utf8mb4_0900_bin", "utf8mb4_nopad_bin", "utf8mb4_bin")
_BOOL_PARAMS = {"ssl_verify_cert", "ssl_verify_identity", "ssl_disabled", "compress"}
_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine: ``localhost``, 127.0.0.0/8 or ``::1`` (no DNS)."""
    name = (host or "localhost").strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def local_infile_allowed(host: str | None, params: Mapping[str, object]) -> bool:
    """Whether a connection may enable ``LOAD DATA LOCAL INFILE`` (see the module doc).

    ``params.localInfile`` decides when given; else a loopback host or unix socket, or
    TLS that verifies the server's certificate (not disabled), allows it.
    """
    if "localInfile" in params:
        return _truthy(params["localInfile"])
    if params.get("unix_socket") or is_loopback(host):
        return True
    if _truthy(params.get("ssl_disabled", "")):
        return False
    return _truthy(params.get("ssl_verify_cert", "")) or _truthy(
        params.get("ssl_verify_identity", "")
    )


@dataclass(frozen=True)
class Opened:
    conn: Any
    mariadb: bool
    #: the server allows LOAD DATA LOCAL (``@@local_infile``)
    local_infile: bool
    #: the binary collation of the text columns publish creates (:data:`BINARY_COLLATIONS`)
    collation: str


def open_connection(
    connection: Connection, *, local_infile: bool, statement_timeout: float, connect_timeout: int
) -> Opened:
    """An autocommit utf8mb4 connection in a strict, UTC session."""
    params: dict[str, Any] = dict(common.params_of(connection))
    params.pop("localInfile", None)
    for k in _BOOL_PARAMS & params.keys():
        params[k] = _truthy(params[k])
    conn = pymysql.connect(
        host=connection.host or "localhost",
        port=connection.port or 3306,
        user=connection.username or "root",
        password=reveal(connection.password) or "",
        database=connection.database or None,
        connect_timeout=connect_timeout,
        read_timeout=int(statement_timeout) + 60,
        write_timeout=int(statement_timeout) + 60,
        local_infile=local_infile,
        charset="utf8mb4",
        autocommit=True,
        **params,
    )
    with conn.cursor() as cur:
        cur.execute("select version(), @@local_infile")
        row = cur.fetchone()
        mariadb = "mariadb" in str(row[0]).lower()
        cur.execute(f"set session sql_mode = '{_SQL_MODE}', time_zone = '+00:00'")
        if mariadb:
            cur.execute("set session max_statement_time = %s", (statement_timeout,))
        cur.execute(
            "select COLLATION_NAME from information_schema.COLLATIONS where COLLATION_NAME in "
            f"({', '.join(conn.escape(c) for c in BINARY_COLLATIONS)})"
        )
        have = {str(r[0]) for r in cur.fetchall()}
    collation = next((c for c in BINARY_COLLATIONS if c in have), "utf8mb4_bin")
    return Opened(conn, mariadb, bool(int(row[1] or 0)), collation)
