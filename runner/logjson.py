"""``--log-format json``: log records (and apply's step lines) as one JSON object a line.

CI log collectors (GitHub Actions, GitLab, Datadog, Loki) parse these without regexes:
``{"time": "...", "level": "warning", "logger": "runner.plan", "message": "..."}``.
Messages pass through the secret filter before they are formatted, as text logs do.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from runner.spec.secrets import redact

LogFormat = Literal["text", "json"]
_format: LogFormat = "text"


def set_format(fmt: LogFormat) -> None:
    global _format
    _format = fmt


def log_format() -> LogFormat:
    """What --log-format chose for this process (text unless the CLI said json)."""
    return _format


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "publish", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


def emit(
    event: str, message: str, *, level: str = "info", logger: str = "runner.apply", **fields: Any
) -> None:
    """One structured line on stderr (apply's step events, errors, under --log-format json)."""
    data = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "event": event,
        "message": redact(message),
        **fields,
    }
    sys.stderr.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stderr.flush()
