"""An HTTP client for the Trifacta / Alteryx Designer Cloud REST API v4.

One :class:`requests.Session` (connection pooling through an ``HTTPAdapter``), a
``(connect, read)`` timeout on every call, TLS always verified, and the bearer token
from a :class:`~runner.spec.secrets.Secret`, revealed only into the ``Authorization``
header. Plain ``http://`` is accepted for loopback hosts only, unless
``allowInsecureHttp`` says otherwise.

Retries use full-jitter exponential backoff within an overall deadline
(:mod:`.retry`) for connection errors, read timeouts, 429 (waiting at least the
server's ``x-retry-after`` / ``Retry-After``) and 5xx. A call marked unsafe (a POST that
may start something) is never retried when the server may have acted on it: the client
raises :class:`AmbiguousRequest` and the caller looks for the result before trying again.

Errors:

    PlatformError
     ├── ApiError           the API answered with an error status (or could not be reached)
     └── AmbiguousRequest   an unsafe call failed in a way that leaves its outcome unknown
"""

from __future__ import annotations

import http
import json
import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError

from runner.errors import ApiError, PlatformError
from runner.platforms.trifacta.retry import Clock, Deadline, RetryPolicy, Sleep, retry_after
from runner.spec.secrets import Secret, redact
from runner.spec.urls import base_url_problem, is_loopback

log = logging.getLogger("runner.platforms.trifacta")

#: (connect, read) seconds for every call
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
REQUEST_ID_HEADER = "x-trifacta-request-id"
_DETAILS_LIMIT = 300


class AmbiguousRequest(PlatformError):
    """An unsafe call (e.g. ``POST /v4/jobGroups``) may or may not have taken effect."""

    def __init__(self, message: str, *, method: str, path: str, status: int | None) -> None:
        self.method = method
        self.path = path
        self.status = status
        super().__init__(message)


class _BearerAuth(requests.auth.AuthBase):
    """Puts the token into the Authorization header, and nowhere else."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return r

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


def check_base_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """The base URL without a trailing slash; refuses plain http to a non-loopback host."""
    problem = base_url_problem(url, allow_insecure_http=allow_insecure_http)
    if problem:
        raise PlatformError(problem)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http" and parts.hostname and not is_loopback(parts.hostname):
        log.warning(
            "platform.url: plain http:// to %s (allowInsecureHttp): the token travels unencrypted",
            parts.hostname,
        )
    return url.rstrip("/")


def _reason(response: requests.Response) -> str:
    if response.reason:
        return str(response.reason)
    try:
        return http.HTTPStatus(response.status_code).phrase
    except ValueError:
        return "Error"


def _exception_text(response: requests.Response) -> str:
    """``Name: message (details)`` from the API's ``{"exception": {...}}`` body, if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    exc = body.get("exception") if isinstance(body, dict) else None
    if not isinstance(exc, dict):
        return ""
    name = str(exc.get("name") or "").strip()
    message = str(exc.get("message") or "").strip()
    details = exc.get("details")
    text = ": ".join(p for p in (name, message) if p)
    if details:
        detail = details if isinstance(details, str) else json.dumps(details, sort_keys=True)
        if len(detail) > _DETAILS_LIMIT:
            detail = detail[:_DETAILS_LIMIT] + "..."
        text = f"{text} ({detail})" if text else detail
    return text


def api_error(response: requests.Response, method: str, path: str, note: str = "") -> ApiError:
    """The user-facing error for an error answer: status, method, path, the API's words."""
    status = response.status_code
    head = f"Trifacta API: {status} {_reason(response)} on {method} {path}"
    parts = []
    if status == 401:
        parts.append(
            "the token was refused; check platform.token (a valid, unexpired API access token)"
        )
    elif status == 403:
        parts.append(
            "permission denied; check that the token's user may do this "
            "(workspace role, ownership or sharing of the object)"
        )
    text = _exception_text(response)
    if text:
        parts.append(text)
    message = head + (": " + "; ".join(parts) if parts else "")
    if note:
        message += f" {note}"
    request_id = response.headers.get(REQUEST_ID_HEADER)
    if request_id:
        message += f" (request id {request_id})"
    return ApiError(redact(message), status=status, method=method, path=path)


def _may_have_been_sent(exc: requests.RequestException) -> bool:
    """False only when the connection was never made (the server cannot have acted)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    return not isinstance(inner, ConnectTimeoutError)  # NewConnectionError derives from it


def _failure_text(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed" if not _may_have_been_sent(exc) else "connection lost"
    return type(exc).__name__


class TrifactaClient:
    """Authenticated, retrying calls to one Trifacta API base URL."""

    def __init__(
        self,
        base_url: str,
        token: Secret,
        *,
        allow_insecure_http: bool = False,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        if not isinstance(token, Secret):
            raise PlatformError("platform.token: must come from secret('NAME')")
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._auth = _BearerAuth(token)
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        if self._owns_session:
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)
        self._sleep = sleep
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        #: number of HTTP requests sent (benchmarks and tests read it)
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"TrifactaClient({self.base_url!r})"

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # ------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        safe: bool | None = None,
    ) -> requests.Response:
        """One logical call with retries; returns a response with status < 400.

        ``safe`` (default: True for every method but POST) says whether the call may be
        repeated when its outcome is unknown; an unsafe call raises
        :class:`AmbiguousRequest` instead.
        """
        method = method.upper()
        if safe is None:
            safe = method in SAFE_METHODS
        deadline = Deadline(self.policy.deadline, self.clock)
        attempt = 0
        while True:
            failure: str
            response: requests.Response | None = None
            try:
                self.requests_sent += 1
                response = self.session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=body,
                    headers={"Accept": "application/json", **(headers or {})},
                    auth=self._auth,
                    timeout=self.timeout,
                    verify=True,
                )
            except requests.RequestException as exc:
                failure = _failure_text(exc)
                if not safe and _may_have_been_sent(exc):
                    raise AmbiguousRequest(
                        f"Trifacta API: {failure} on {method} {path}; the request may have "
                        "been acted on",
                        method=method,
                        path=path,
                        status=None,
                    ) from None
                wait = self.policy.backoff(attempt)
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status == 429:
                    wait = self.policy.backoff(attempt, floor=retry_after(response.headers))
                elif status >= 500:
                    if not safe:
                        raise AmbiguousRequest(
                            f"Trifacta API: {status} {_reason(response)} on {method} {path}; "
                            "the request may have been acted on",
                            method=method,
                            path=path,
                            status=status,
                        )
                    wait = self.policy.backoff(attempt)
                else:
                    raise api_error(response, method, path)
                failure = f"{status} {_reason(response)}"
            attempt += 1
            if attempt >= self.policy.max_attempts or not deadline.allows(wait):
                raise self._gave_up(method, path, response, failure, attempt, deadline)
            log.warning(
                "Trifacta API: %s on %s %s; retrying in %.1f s", failure, method, path, wait
            )
            self._sleep(wait)

    def _gave_up(
        self,
        method: str,
        path: str,
        response: requests.Response | None,
        failure: str,
        attempt: int,
        deadline: Deadline,
    ) -> ApiError:
        note = (
            f"(gave up after {attempt} attempt{'s' if attempt != 1 else ''} "
            f"within the {deadline.seconds:g} s retry deadline)"
        )
        if response is not None:
            return api_error(response, method, path, note)
        return ApiError(
            f"Trifacta API: {failure} on {method} {path} to {self.base_url} {note}",
            method=method,
            path=path,
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and the decoded JSON body (None for an empty body)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"Trifacta API: {method} {path} answered {response.status_code} with a body "
                "that is not JSON",
                status=response.status_code,
                method=method,
                path=path,
            ) from None
