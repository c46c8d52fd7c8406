"""Connection ``params``: the driver parameters a spec may set, per vendor (an allow-list).

A spec arrives in a pull request and CI plans it with real credentials, so a parameter
must not be able to run SQL, read files into the session or change what publish does:
MySQL's ``init_command`` (runs a statement on connect), ``sql_mode``, ``read_default_file``,
``client_flag`` or ``autocommit``, or libpq's ``options``, ``service`` and ``passfile`` are
refused at validate, and the targets pass no other key to a driver. The JSON Schema holds
the same lists (a test keeps them equal) so editors flag an unknown key as you type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")

#: libpq connection parameters that only choose transport, TLS and timeouts
LIBPQ: frozenset[str] = frozenset(
    {
        "application_name",
        "channel_binding",
        "connect_timeout",
        "gssencmode",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "krbsrvname",
        "load_balance_hosts",
        "requirepeer",
        "ssl_max_protocol_version",
        "ssl_min_protocol_version",
        "sslcert",
        "sslcompression",
        "sslcrl",
        "sslcrldir",
        "sslkey",
        "sslmode",
        "sslpassword",
        "sslrootcert",
        "sslsni",
        "target_session_attrs",
        "tcp_user_timeout",
    }
)
#: PyMySQL ``connect()`` arguments that only choose transport and TLS
PYMYSQL: frozenset[str] = frozenset(
    {
        "bind_address",
        "max_allowed_packet",
        "program_name",
        "server_public_key",
        "ssl_ca",
        "ssl_cert",
        "ssl_disabled",
        "ssl_key",
        "ssl_key_password",
        "ssl_verify_cert",
        "ssl_verify_identity",
        "unix_socket",
    }
)

#: what the local platform's targets hand to their driver (or read themselves), per vendor
DRIVER_PARAMS: Mapping[str, frozenset[str]] = {
    "sqlite": frozenset(),
    "postgres": LIBPQ,
    "redshift": LIBPQ | {"s3Staging", "iamRole", "region"},
    "mysql": PYMYSQL | {"localInfile"},
}
#: parameters the trifacta platform maps onto its connection body (see platforms/trifacta)
TRIFACTA_PARAMS: frozenset[str] = frozenset({"connectStrOpts", "ssl", "sslmode"})


def allowed_params(vendor: str) -> frozenset[str]:
    """Every key ``params`` may hold for ``vendor`` on some platform (the schema's list)."""
    local = DRIVER_PARAMS.get(vendor, frozenset())
    return local | TRIFACTA_PARAMS if vendor in ("postgres", "mysql") else local


def driver_params(vendor: str | None, params: Mapping[str, V]) -> dict[str, V]:
    """``params`` for the local driver of ``vendor``; ValueError names a key not allowed."""
    allowed = DRIVER_PARAMS.get(vendor or "", frozenset())
    refused = sorted(set(params) - allowed)
    if refused:
        shown = ", ".join(sorted(allowed)) or "none"
        raise ValueError(
            f"params.{refused[0]} is not a driver parameter publish passes to {vendor}; "
            f"allowed: {shown}"
        )
    return dict(params)
