"""The client against a real plain-HTTP server on 127.0.0.1, and the http:// rule."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import responses

from runner.errors import ApiError, PlatformError
from runner.platforms.trifacta import RetryPolicy, TrifactaClient, TrifactaPlatform
from runner.spec.model import Job, Spec
from runner.spec.model import PlatformConfig as PlatformSpec
from runner.spec.secrets import Secret
from tests.trifacta.openapi_check import call_errors

TOKEN_VALUE = "tok-LOCAL-server-s3cret"
#: GET /v4/connections/2 as the API description documents it
CONNECTION = {
    "id": 2,
    "uuid": "u2",
    "name": "warehouse",
    "vendor": "postgres",
    "vendorName": "postgres",
    "type": "jdbc",
    "credentialType": "basic",
}


class Handler(BaseHTTPRequestHandler):
    """A few canned API v4 endpoints; records what it was sent."""

    seen: ClassVar[list[tuple[str, str, dict[str, str], Any]]] = []
    statuses: ClassVar[list[str]] = []
    slow_once: ClassVar[list[bool]] = []

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-trifacta-request-id", "local-1")
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.seen.append((self.command, self.path, dict(self.headers), body))
        return body

    def do_GET(self) -> None:
        self._record()
        if self.path == "/v4/slow" and self.slow_once:
            self.slow_once.pop()
            time.sleep(0.6)  # longer than the client's read timeout
        if self.path in ("/v4/slow", "/v4/connections/2"):
            self._send(200, CONNECTION)
        elif self.path == "/v4/jobGroups/9/status":
            self._send(200, self.statuses.pop(0) if self.statuses else "Complete")
        elif self.path == "/v4/jobGroups/9/jobs":
            self._send(200, {"data": [{"id": 21, "status": "Complete", "jobType": "wrangle"}]})
        else:
            self._send(404, {"exception": {"name": "NotFound", "message": f"no {self.path}"}})

    def do_POST(self) -> None:
        self._record()
        if self.path == "/v4/jobGroups":
            self._send(201, {"id": 9, "reason": "JobStarted", "sessionId": "s"})
        else:
            self._send(404, {"exception": {"name": "NotFound", "message": "no"}})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on the deliberately slow answer: expected


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen.clear()
    Handler.statuses[:] = ["Created", "InProgress"]
    Handler.slow_once[:] = []
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def spec_for(url: str, *, allow_insecure: bool = False) -> Spec:
    return Spec(
        name="local",
        file=Path("/specs/local.yaml"),
        environment="default",
        platform=PlatformSpec(
            type="trifacta",
            url=url,
            token=Secret(TOKEN_VALUE, ["TRIFACTA_TOKEN"]),
            allow_insecure_http=allow_insecure,
            poll_interval=0.01,
        ),
        jobs={"clean": Job("clean", wrangled_dataset=28629)},
    )


def test_client_talks_to_a_plain_http_server_on_loopback(server: str) -> None:
    client = TrifactaClient(server, Secret(TOKEN_VALUE))
    assert client.json("GET", "/v4/connections/2")["name"] == "warehouse"
    method, path, headers, _ = Handler.seen[0]
    assert (method, path) == ("GET", "/v4/connections/2")
    assert headers["Authorization"] == f"Bearer {TOKEN_VALUE}"
    with pytest.raises(ApiError) as info:
        client.json("GET", "/v4/jobGroups/77")
    assert str(info.value) == (
        "Trifacta API: 404 Not Found on GET /v4/jobGroups/77: NotFound: no /v4/jobGroups/77 "
        "(request id local-1)"
    )
    client.close()


def test_platform_runs_a_job_against_the_local_server(server: str) -> None:
    platform = TrifactaPlatform(spec_for(server))
    run = platform.run_job(platform.spec.jobs["clean"], "run-local", "fp", threading.Event())
    assert run.remote_id == 9
    posts = [s for s in Handler.seen if s[0] == "POST"]
    assert len(posts) == 1
    assert posts[0][2]["x-execution-id"] == "run-local"
    assert posts[0][3] == {"wrangledDataset": {"id": 28629}, "ranfrom": "api"}
    assert [s[1] for s in Handler.seen].count("/v4/jobGroups/9/status") == 3
    platform.close()


def test_a_read_timeout_against_the_server_is_retried(server: str) -> None:
    Handler.slow_once[:] = [True]
    client = TrifactaClient(
        server,
        Secret(TOKEN_VALUE),
        timeout=(1.0, 0.2),
        policy=RetryPolicy(base=0.01, cap=0.02, deadline=10.0),
    )
    assert client.json("GET", "/v4/slow")["id"] == 2
    assert [s[1] for s in Handler.seen] == ["/v4/slow", "/v4/slow"]
    client.close()


def test_non_loopback_http_is_refused_before_any_request() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # any request would be answered (and counted), so only not sending one passes
        for method in (responses.GET, responses.POST, responses.PUT, responses.PATCH):
            rsps.add(method, re.compile(r"http://example\.com/.*"), json={"id": 1})
        with pytest.raises(PlatformError) as info:
            TrifactaPlatform(spec_for("http://example.com"))
        assert "refusing plain http:// to example.com" in str(info.value)
        assert len(rsps.calls) == 0


def test_non_loopback_http_is_allowed_when_told_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        responses.RequestsMock(assert_all_requests_are_fired=True) as rsps,
        caplog.at_level(logging.WARNING, logger="runner.platforms.trifacta"),
    ):
        rsps.get("http://example.com/v4/connections/2", json=CONNECTION)
        platform = TrifactaPlatform(spec_for("http://example.com", allow_insecure=True))
        assert platform.describe_connection(2) == CONNECTION
        assert call_errors("http://example.com", rsps.calls) == []
    assert "plain http:// to example.com (allowInsecureHttp)" in caplog.text
    assert TOKEN_VALUE not in caplog.text
