"""Spark Connect sessions: opening one, and pyspark's errors as one line a user can act on.

The platform only needs a narrow part of a session (:class:`SparkSession`), so its logic
is tested against a fake one; :func:`connect` opens the real thing through pyspark's
Connect client (the ``publish-runner[spark]`` extra).
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol, cast

from runner.errors import PlatformError
from runner.platforms.spark.url import ConnectUrl

#: session settings every job runs with: results do not depend on the server's time zone,
#: and zone-less timestamps in CSV/JSON inputs stay zone-less (as polars reads them)
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
#: pyspark loggers that print a JSON record (with the JVM stack) for every failed query;
#: publish reports the error itself
_NOISY_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")


class SparkFrame(Protocol):
    """What publish uses of a (Connect) DataFrame."""

    @property
    def schema(self) -> Any: ...  # a StructType: .fields, each with .name and .dataType

    @property
    def write(self) -> Any: ...  # a DataFrameWriter

    def createOrReplaceTempView(self, name: str) -> None: ...

    def collect(self) -> list[Any]: ...


class SparkSession(Protocol):
    """What publish uses of a (Connect) SparkSession."""

    @property
    def read(self) -> Any: ...  # a DataFrameReader

    def sql(self, query: str, /) -> SparkFrame: ...

    def stop(self) -> None: ...


def message_of(exc: BaseException) -> str:
    """The first line of a Spark error (without the plan and the JVM stack that follow)."""
    text = str(exc).strip() or type(exc).__name__
    first = text.split("\n", 1)[0].strip()
    return first.rstrip(";").strip()


def spark_errors() -> tuple[type[BaseException], ...]:
    """The exception types a session raises for a failed query or a lost server."""
    try:
        from pyspark.errors import PySparkException
    except ImportError:  # pragma: no cover - only with the extra missing
        return ()
    import grpc

    return (PySparkException, grpc.RpcError)


def _quiet_pyspark_loggers() -> None:
    from pyspark.logger import PySparkLogger

    for name in _NOISY_LOGGERS:
        # made through pyspark's factory: its callers pass keyword arguments a plain
        # logging.Logger would refuse
        PySparkLogger.getLogger(name).disabled = True
    logging.getLogger("pyspark").setLevel(logging.ERROR)


#: seconds to wait for the server's port before giving up (pyspark itself retries for
#: ten minutes against a server that is not there)
REACH_TIMEOUT = 10.0


def check_reachable(url: ConnectUrl, timeout: float = REACH_TIMEOUT) -> None:
    """Raise PlatformError when nothing listens at the URL's host and port."""
    try:
        with socket.create_connection((url.host.strip("[]"), url.port), timeout=timeout):
            return
    except OSError as exc:
        raise PlatformError(
            f"platform: cannot reach the Spark Connect server at {url.shown}: "
            f"{exc.strerror or exc}; is it running (sbin/start-connect-server.sh) and is "
            "platform.url right?"
        ) from None


def connect(url: ConnectUrl, raw_url: str) -> SparkSession:
    """A new Spark Connect session on the cluster at ``url`` (its own temporary views)."""
    check_reachable(url)
    try:
        import pyspark.sql.connect.session as connect_session  # noqa: F401
        from pyspark.sql import SparkSession as PySparkSession
    except ImportError as exc:
        raise PlatformError(
            "platform: the spark platform needs the Spark Connect client: "
            "pip install 'publish-runner[spark]' "
            f"({message_of(exc)})"
        ) from None
    _quiet_pyspark_loggers()
    try:
        session: Any = PySparkSession.builder.remote(raw_url).create()
        for key, value in SESSION_CONF.items():
            session.conf.set(key, value)
    except spark_errors() as exc:
        raise PlatformError(
            f"platform: cannot open a Spark Connect session at {url.shown}: {message_of(exc)}; "
            "is the Connect server running (sbin/start-connect-server.sh) and the URL right?"
        ) from None
    return cast(SparkSession, session)
