"""The Trifacta API client: auth, URL rules, retries, errors (HTTP mocked with responses)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError

from runner.errors import ApiError, PlatformError
from runner.platforms.trifacta.client import AmbiguousRequest, TrifactaClient, check_base_url
from runner.platforms.trifacta.retry import Deadline, RetryPolicy, retry_after
from runner.spec.secrets import Secret
from tests.trifacta.openapi_check import call_errors

BASE = "https://trifacta.example.com"
TOKEN_VALUE = "tok-c1ient-S3CRET-value"


class FakeClock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingSession(requests.Session):
    """A session that records the keyword arguments of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict[str, object]] = []

    def request(self, method, url, **kwargs):  # type: ignore[no-untyped-def, override]
        self.kwargs.append(kwargs)
        return super().request(method, url, **kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: tests that send or fake what the API description does not allow, on purpose
UNDOCUMENTED = {
    "test_400_is_not_retried_and_shows_details": "a body the service refuses",
    "test_non_json_answer_is_an_api_error": "a proxy's HTML answer",
    "test_read_timeouts_until_deadline_name_the_call_not_the_query": "a query to keep out of errors",
    "test_unregistered_call_fails": "a path that does not exist",
}


@pytest.fixture
def rsps(request: pytest.FixtureRequest) -> Iterator[responses.RequestsMock]:
    """Faked answers; each request and answer is checked against the API description."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        if request.node.originalname not in UNDOCUMENTED:
            errors = call_errors(BASE, mock.calls)
            assert not errors, "\n".join(errors)


def connection(cid: int, name: str = "redshift") -> dict[str, object]:
    """A connection as GET /v4/connections/{id} documents it."""
    return {
        "id": cid,
        "uuid": f"u{cid}",
        "name": name,
        "vendor": "redshift",
        "vendorName": "redshift",
        "type": "jdbc",
        "credentialType": "iamRoleArn",
    }


RUN = {"wrangledDataset": {"id": 28629}}


def make_client(clock: FakeClock, **kwargs: object) -> TrifactaClient:
    policy = kwargs.pop(
        "policy", RetryPolicy(base=0.5, cap=8.0, deadline=60.0, rng=random.Random(7))
    )
    return TrifactaClient(
        kwargs.pop("url", BASE),  # type: ignore[arg-type]
        Secret(TOKEN_VALUE, ["TRIFACTA_TOKEN"]),
        sleep=clock.sleep,
        clock=clock,
        policy=policy,  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def error_body(name: str, message: str, details: str = "") -> dict[str, object]:
    return {"exception": {"name": name, "message": message, "details": details}}


# --- happy path: headers, timeout, TLS ---------------------------------------------------
def test_get_sends_bearer_token_accept_timeout_and_verifies_tls(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    session = RecordingSession()
    rsps.get(
        f"{BASE}/v4/connections/2",
        json=connection(2),
        match=[
            matchers.header_matcher(
                {"Authorization": f"Bearer {TOKEN_VALUE}", "Accept": "application/json"}
            )
        ],
    )
    client = make_client(clock, session=session, timeout=(3.0, 20.0))
    assert client.json("GET", "/v4/connections/2") == connection(2)
    assert session.kwargs[0]["timeout"] == (3.0, 20.0)
    assert session.kwargs[0]["verify"] is True
    assert clock.sleeps == []
    assert client.requests_sent == 1


def test_own_session_pools_connections(clock: FakeClock) -> None:
    client = make_client(clock)
    adapter = client.session.get_adapter(BASE)
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter._pool_maxsize == 16  # type: ignore[attr-defined]
    client.close()


# --- error answers -----------------------------------------------------------------------
def test_404_message_has_status_method_path_api_words_and_request_id(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(
        f"{BASE}/v4/connections/9",
        status=404,
        json=error_body("NotFound", "Connection 9 not found"),
        headers={"x-trifacta-request-id": "req-123"},
    )
    with pytest.raises(ApiError) as info:
        make_client(clock).json("GET", "/v4/connections/9", params={"embed": "creator"})
    assert str(info.value) == (
        "Trifacta API: 404 Not Found on GET /v4/connections/9: NotFound: Connection 9 not found "
        "(request id req-123)"
    )
    assert (info.value.status, info.value.method, info.value.path) == (
        404,
        "GET",
        "/v4/connections/9",
    )
    assert clock.sleeps == []


def test_400_is_not_retried_and_shows_details(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(
        f"{BASE}/v4/connections",
        status=400,
        json=error_body("ValidationFailed", "Input validation failed", "port must be a number"),
    )
    with pytest.raises(ApiError) as info:
        make_client(clock).json("POST", "/v4/connections", body={"port": "x"})
    assert str(info.value) == (
        "Trifacta API: 400 Bad Request on POST /v4/connections: ValidationFailed: "
        "Input validation failed (port must be a number)"
    )
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        (401, "the token was refused; check platform.token"),
        (403, "permission denied; check that the token's user may do this"),
    ],
)
def test_401_403_tell_to_check_token_or_permissions_and_are_not_retried(
    rsps: responses.RequestsMock, clock: FakeClock, status: int, advice: str
) -> None:
    rsps.get(f"{BASE}/v4/connections/2", status=status, json=error_body("Auth", "no"))
    with pytest.raises(ApiError) as info:
        make_client(clock).json("GET", "/v4/connections/2")
    text = str(info.value)
    assert text.startswith(f"Trifacta API: {status} ")
    assert advice in text
    assert TOKEN_VALUE not in text
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_non_json_answer_is_an_api_error(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/v4/jobGroups/9/status", body="<html>proxy</html>")
    with pytest.raises(ApiError, match="not JSON"):
        make_client(clock).json("GET", "/v4/jobGroups/9/status")


# --- retries -----------------------------------------------------------------------------
@pytest.mark.parametrize("header", ["x-retry-after", "Retry-After"])
def test_429_waits_at_least_the_retry_after_seconds(
    rsps: responses.RequestsMock, clock: FakeClock, header: str
) -> None:
    rsps.get(
        f"{BASE}/v4/jobGroups/9/status",
        status=429,
        json=error_body("TooManyRequestsException", "Too Many Requests", "Wait 3 seconds"),
        headers={header: "3"},
    )
    rsps.get(f"{BASE}/v4/jobGroups/9/status", json="Complete")
    assert make_client(clock).json("GET", "/v4/jobGroups/9/status") == "Complete"
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] >= 3.0


def test_429_on_post_is_retried_since_nothing_ran(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(
        f"{BASE}/v4/jobGroups",
        status=429,
        headers={"x-retry-after": "5"},
        json=error_body("TooManyRequestsException", "Too Many Requests"),
    )
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    response = make_client(clock).request("POST", "/v4/jobGroups", body=RUN, safe=False)
    assert response.status_code == 201
    assert clock.sleeps[0] >= 5.0


def test_500_then_success_is_retried_with_backoff(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(f"{BASE}/v4/connections/2", status=500, json=error_body("Internal", "oops"))
    rsps.get(f"{BASE}/v4/connections/2", json=connection(2))
    assert make_client(clock).json("GET", "/v4/connections/2") == connection(2)
    assert len(clock.sleeps) == 1
    assert 0.0 <= clock.sleeps[0] <= 0.5  # first full-jitter ceiling is the base


def test_repeated_503_gives_up_at_the_deadline(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(f"{BASE}/v4/connections/2", status=503, json=error_body("Unavailable", "busy"))
    policy = RetryPolicy(base=1.0, cap=4.0, deadline=20.0, max_attempts=100, rng=random.Random(1))
    start = clock.now
    with pytest.raises(ApiError) as info:
        make_client(clock, policy=policy).json("GET", "/v4/connections/2")
    text = str(info.value)
    assert text.startswith("Trifacta API: 503 Service Unavailable on GET /v4/connections/2")
    assert "retry deadline" in text
    assert info.value.status == 503
    assert clock.now - start <= 20.0
    assert len(rsps.calls) == len(clock.sleeps) + 1 > 3
    assert all(0 <= s <= 4.0 for s in clock.sleeps)


def test_429_whose_wait_exceeds_the_deadline_fails_without_sleeping(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(
        f"{BASE}/v4/jobLibrary",
        status=429,
        headers={"x-retry-after": "600"},
        json=error_body("TooManyRequestsException", "Too Many Requests"),
    )
    with pytest.raises(ApiError, match="429 Too Many Requests"):
        make_client(clock).json("GET", "/v4/jobLibrary")
    assert clock.sleeps == []


def test_read_timeout_on_get_is_retried(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/v4/jobGroups/9/status", body=requests.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/v4/jobGroups/9/status", json="InProgress")
    assert make_client(clock).json("GET", "/v4/jobGroups/9/status") == "InProgress"
    assert len(clock.sleeps) == 1


def test_read_timeouts_until_deadline_name_the_call_not_the_query(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(f"{BASE}/v4/jobLibrary", body=requests.ReadTimeout("read timed out"))
    policy = RetryPolicy(base=1.0, cap=2.0, deadline=5.0, max_attempts=50, rng=random.Random(3))
    with pytest.raises(ApiError) as info:
        make_client(clock, policy=policy).json("GET", "/v4/jobLibrary", params={"q": "x"})
    text = str(info.value)
    assert text.startswith(f"Trifacta API: read timeout on GET /v4/jobLibrary to {BASE}")
    assert "q=x" not in text


def test_read_timeout_on_unsafe_post_is_ambiguous_and_not_retried(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(f"{BASE}/v4/jobGroups", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(AmbiguousRequest) as info:
        make_client(clock).request("POST", "/v4/jobGroups", body=RUN, safe=False)
    assert info.value.status is None
    assert "may have been acted on" in str(info.value)
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_5xx_on_unsafe_post_is_ambiguous(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.post(f"{BASE}/v4/jobGroups", status=502, json=error_body("BadGateway", "upstream"))
    with pytest.raises(AmbiguousRequest) as info:
        make_client(clock).request("POST", "/v4/jobGroups", body=RUN, safe=False)
    assert info.value.status == 502
    assert len(rsps.calls) == 1


def test_connection_refused_on_post_is_retried_since_nothing_was_sent(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    refused = requests.ConnectionError(
        MaxRetryError(None, "/v4/jobGroups", NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    )
    rsps.post(f"{BASE}/v4/jobGroups", body=refused)
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    response = make_client(clock).request("POST", "/v4/jobGroups", body=RUN, safe=False)
    assert response.json() == {"id": 9}
    assert len(clock.sleeps) == 1


def test_connect_timeout_on_post_is_retried(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.post(f"{BASE}/v4/jobGroups", body=requests.ConnectTimeout("connect timed out"))
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    assert (
        make_client(clock).request("POST", "/v4/jobGroups", body=RUN, safe=False).status_code == 201
    )


def test_unregistered_call_fails(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    policy = RetryPolicy(base=0.1, cap=0.2, deadline=1.0, max_attempts=2)
    with pytest.raises(ApiError, match="connection lost on GET /v4/nowhere"):
        make_client(clock, policy=policy).json("GET", "/v4/nowhere")


# --- URL rules ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://us1.alteryxcloud.com/",
        "http://127.0.0.1:3005",
        "http://localhost:8080",
        "http://[::1]:1",
    ],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


def test_plain_http_to_another_host_is_refused() -> None:
    with pytest.raises(PlatformError) as info:
        check_base_url("http://example.com")
    assert "refusing plain http:// to example.com" in str(info.value)
    assert "allowInsecureHttp" in str(info.value)


def test_plain_http_allowed_on_request_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="runner.platforms.trifacta"):
        assert (
            check_base_url("http://example.com", allow_insecure_http=True) == "http://example.com"
        )
    assert "unencrypted" in caplog.text


@pytest.mark.parametrize(
    "url", ["ftp://example.com", "example.com", "https://h/?token=x", "https://u:p@h"]
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(PlatformError, match=r"platform\.url"):
        check_base_url(url)


def test_token_must_be_a_secret() -> None:
    with pytest.raises(PlatformError, match="secret"):
        TrifactaClient(BASE, TOKEN_VALUE)  # type: ignore[arg-type]


# --- the token stays secret --------------------------------------------------------------
def test_token_never_in_repr_errors_or_logs(
    rsps: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.get(
        f"{BASE}/v4/connections/2",
        status=500,
        json=error_body("Internal", f"bad header Bearer {TOKEN_VALUE}"),
    )
    policy = RetryPolicy(base=0.1, cap=0.2, deadline=1.0, max_attempts=3)
    client = make_client(clock, policy=policy)
    with caplog.at_level(logging.DEBUG), pytest.raises(ApiError) as info:
        client.json("GET", "/v4/connections/2")
    assert TOKEN_VALUE not in str(info.value)  # redacted even when the API echoes it
    assert TOKEN_VALUE not in repr(info.value)
    assert TOKEN_VALUE not in repr(client)
    assert TOKEN_VALUE not in repr(client._auth)
    assert all(TOKEN_VALUE not in r.getMessage() for r in caplog.records)
    assert "retrying" in caplog.text


# --- retry helpers -----------------------------------------------------------------------
def test_backoff_is_full_jitter_capped_and_floored() -> None:
    policy = RetryPolicy(base=1.0, cap=10.0, rng=random.Random(5))
    for attempt in range(12):
        delay = policy.backoff(attempt)
        assert 0.0 <= delay <= min(10.0, 2**attempt)
    assert policy.backoff(0, floor=3.0) >= 3.0


def test_retry_after_reads_either_header_and_ignores_dates() -> None:
    assert retry_after({"x-retry-after": "57"}) == 57.0
    assert retry_after({"Retry-After": "2.5"}) == 2.5
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({}) == 0.0


def test_deadline_uses_the_injected_clock(clock: FakeClock) -> None:
    deadline = Deadline(10.0, clock)
    assert deadline.allows(10.0)
    clock.sleep(4.0)
    assert deadline.remaining() == 6.0
    assert not deadline.allows(6.5)
