"""The one user-facing error base of `publish`.

Every error a user can cause or fix (a bad spec, a plan error, a stale plan, a lock held,
a failed publication) derives from :class:`PublishError` and exits 1 with its message
only. Anything else that escapes is a bug: the CLI logs its traceback to a file and
exits 3.

    PublishError
     ├── SpecError          the spec cannot be loaded, rendered or validated (carries issues)
     ├── PlanError          the plan cannot be made (carries one message per problem)
     ├── StateError         the state is unreadable, locked, or cannot be written
     │    └── LockError     another apply holds the lock
     ├── StalePlanError     a saved plan no longer matches the spec or the state
     ├── PlanFileError      a file given as a plan is not a readable, complete plan
     ├── ApplyError         one or more steps of an apply failed
     ├── TargetError        a database refused a load or could not be reached
     └── PlatformError      a job could not be run
          └── ApiError      the Trifacta API answered with an error

    TargetError and PlatformError carry ``transient``: True for a lost connection, a
    deadlock, or a server error after retries, so the report says "rerun" rather than
    "fix the spec".

    InternalError           a bug already logged to a crash log (exit 3, not a PublishError)
    Interrupted             Ctrl-C stopped an apply after saving state (exit 130)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class PublishError(Exception):
    """A problem the user can fix; the CLI prints the message and exits 1."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec, with where it is."""

    file: str
    line: int | None
    column: int | None
    path: str  # JSON path such as "$.targets.orders_out.action"
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


class SpecError(PublishError):
    """The spec cannot be loaded, rendered or validated; lists every issue at once."""

    def __init__(self, issues: Sequence[SpecIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class PlanError(PublishError):
    """The plan cannot be made; every problem is listed, nothing has run."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"the plan has {count} error{'s' if count != 1 else ''}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class StateError(PublishError):
    """The state cannot be read, written or locked."""


class LockError(StateError):
    """Another process holds the state lock."""


class StalePlanError(PublishError):
    """A saved plan was made against a spec or state that has since moved."""


class PlanFileError(PublishError):
    """A file given as a saved plan is not a readable, complete publish plan, or cannot be written."""


class ApplyError(PublishError):
    """One or more steps of an apply failed; the summary says which."""


class TargetError(PublishError):
    """A target database refused an operation or could not be reached.

    ``transient``: the failure says nothing about the spec or the data (a lost connection,
    a deadlock victim, a server shutting down): rerunning the same command may succeed.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class PlatformError(PublishError):
    """A job could not be run or its results could not be read.

    ``transient``: as for :class:`TargetError` (e.g. the API answered 5xx after retries).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class ApiError(PlatformError):
    """The Trifacta API answered with an error, or could not be reached.

    Transient unless told otherwise when the server could not be reached (no status), was
    overloaded (429) or failed (5xx), after the client's retries.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        transient: bool | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        if transient is None:
            transient = status is None or status == 429 or status >= 500
        super().__init__(message, transient=transient)


class InternalError(Exception):
    """A bug whose traceback is already in a crash log; the CLI prints this line and exits 3."""


class Interrupted(Exception):
    """Ctrl-C stopped the apply; what finished is in state. The CLI exits 130."""
