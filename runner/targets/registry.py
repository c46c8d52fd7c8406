"""Open the target for a connection of the spec, by its vendor."""

from __future__ import annotations

from pathlib import Path

from runner.errors import TargetError
from runner.spec.model import Connection
from runner.targets.base import TableTarget
from runner.targets.dialect import Dialect


def open_target(connection: Connection, base_dir: Path) -> TableTarget:
    """The target for ``connection``; ``base_dir`` resolves relative SQLite paths."""
    vendor = connection.vendor
    if vendor == "sqlite":
        from runner.targets.sqlite import SqliteTarget

        return SqliteTarget(connection, base_dir)
    if vendor == "postgres":
        from runner.targets.postgres import PostgresTarget

        return PostgresTarget(connection)
    if vendor == "redshift":
        from runner.targets.redshift import RedshiftTarget

        return RedshiftTarget(connection)
    if vendor == "mysql":
        from runner.targets.mysql import MysqlTarget

        return MysqlTarget(connection)
    raise TargetError(
        f"connection.{connection.name}: publish cannot open a {vendor or 'adopted'} connection "
        "itself; on the local platform give vendor and its settings"
    )


def dialect_for(vendor: str | None) -> Dialect | None:
    """The dialect of a vendor's databases (no connection needed), or None."""
    if vendor == "sqlite":
        from runner.targets.sqlite_types import DIALECT as SQLITE

        return SQLITE
    if vendor == "postgres":
        from runner.targets.postgres_types import DIALECT as POSTGRES

        return POSTGRES
    if vendor == "redshift":
        from runner.targets.redshift import DIALECT as REDSHIFT

        return REDSHIFT
    if vendor == "mysql":
        from runner.targets.mysql.types import DIALECT as MYSQL

        return MYSQL
    return None
