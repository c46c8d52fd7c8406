"""The trifacta platform against a mocked API v4 (responses; any unregistered call fails)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from runner.errors import PlatformError
from runner.platforms.base import ApiCall, JobRun, Platform
from runner.platforms.trifacta import JobGroupCanceled, JobGroupError, RetryPolicy, TrifactaPlatform
from runner.platforms.trifacta.checks import redshift_message
from runner.spec.model import Connection, Job, Spec, Target
from runner.spec.model import Platform as PlatformSpec
from runner.spec.secrets import MASK, Secret

BASE = "https://trifacta.example.com"
TOKEN_VALUE = "tok-PLATFORM-s3cret-9f8e"
PG_PASSWORD = "pg-pass-W0rd-42"
WALL = 1_800_000_000.0  # the injected wall clock, seconds since the epoch


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def make_spec(
    *,
    connections: dict[str, Connection] | None = None,
    jobs: dict[str, Job] | None = None,
    targets: dict[str, Target] | None = None,
    job_timeout: float = 3600.0,
) -> Spec:
    """The documented example by default: adopt connection 2, run 28629, publish Avro."""
    return Spec(
        name="trifacta-redshift",
        file=Path("/specs/trifacta-redshift.yaml"),
        environment="default",
        platform=PlatformSpec(
            type="trifacta",
            url=BASE,
            token=Secret(TOKEN_VALUE, ["TRIFACTA_TOKEN"]),
            jobTimeout=job_timeout,
            pollInterval=2.0,
        ),
        connections=connections
        if connections is not None
        else {"redshift": Connection("redshift", id=2)},
        jobs=jobs
        if jobs is not None
        else {"clean": Job("clean", wrangledDataset=28629, outputs=("avro",))},
        targets=targets
        if targets is not None
        else {
            "table2": Target(
                "table2",
                job="clean",
                connection="redshift",
                path=("public",),
                table="test_table2",
                action="create",
                inputFormat="avro",
            )
        },
    )


def make_platform(spec: Spec, clock: FakeClock, **kwargs: Any) -> TrifactaPlatform:
    policy = RetryPolicy(base=0.5, cap=4.0, deadline=30.0, rng=random.Random(11))
    return TrifactaPlatform(
        spec, sleep=clock.sleep, clock=clock, wall_clock=lambda: WALL, policy=policy, **kwargs
    )


def body_of(call: Any) -> Any:
    return json.loads(call.request.body)


def statuses(rsps: responses.RequestsMock, group: int, *values: str) -> None:
    for value in values:
        rsps.get(f"{BASE}/v4/jobGroups/{group}/status", json=value)


PG = Connection(
    "pg",
    vendor="postgres",
    host="db.example.com",
    port=5432,
    database="sales",
    username="loader",
    password=Secret(PG_PASSWORD, ["PG_PASSWORD"]),
    params={"sslmode": "require"},
)
PG_BODY = {
    "name": "pg",
    "description": "",
    "vendor": "postgres",
    "vendorName": "postgres",
    "type": "jdbc",
    "host": "db.example.com",
    "port": 5432,
    "params": {"database": "sales", "connectStrOpts": ""},
    "ssl": True,
    "credentialType": "basic",
    "credentials": [{"username": "loader", "password": PG_PASSWORD}],
}


def test_is_a_platform(clock: FakeClock) -> None:
    platform: Platform = make_platform(make_spec(), clock)
    assert platform.type == "trifacta"
    assert platform.result_schema(Job("clean", wrangledDataset=1)) is None
    platform.close()


# --- the documented example end to end ---------------------------------------------------
def test_documented_example_plans_and_applies_the_documented_calls(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    spec = make_spec()
    platform = make_platform(spec, clock)
    connection, job, target = (
        spec.connections["redshift"],
        spec.jobs["clean"],
        spec.targets["table2"],
    )

    # plan: read the adopted connection once (cached), no errors; the calls apply will make
    rsps.get(f"{BASE}/v4/connections/2", json={"id": 2, "name": "redshift", "vendor": "redshift"})
    rsps.get(
        f"{BASE}/v4/wrangledDatasets/28629", json={"id": 28629, "updatedAt": "2024-01-02T03:04:05Z"}
    )
    assert platform.check(spec) == []
    fingerprint = platform.job_fingerprint(job)
    assert platform.connection_calls(connection, None) == [ApiCall("GET", "/v4/connections/2")]
    assert platform.job_calls(job, "run-1") == [
        ApiCall("POST", "/v4/jobGroups", {"wrangledDataset": {"id": 28629}, "ranfrom": "api"}),
        ApiCall("GET", "/v4/jobGroups/{jobGroupId}/status"),
    ]
    documented = {
        "connection": {"id": 2},
        "path": ["public"],
        "table": "test_table2",
        "action": "create",
        "inputFormat": "avro",
        "flowNodeId": 28629,
    }
    calls = platform.publish_calls(target, connection)
    assert calls == [
        ApiCall("GET", "/v4/jobGroups/{jobGroupId}/publications"),
        ApiCall("PUT", "/v4/jobGroups/{jobGroupId}/publish", documented),
        ApiCall("GET", "/v4/jobGroups/{publishJobGroupId}/status"),
    ]
    assert list(calls[1].body) == list(documented)

    # apply: no connection is created; run the job; publish with exactly the documented body
    assert platform.ensure_connection(connection, None).remote_id == 2
    rsps.post(
        f"{BASE}/v4/jobGroups",
        status=201,
        json={"sessionId": "s", "reason": "JobStarted", "id": 961, "jobs": {"data": [{"id": 21}]}},
        match=[matchers.header_matcher({"x-execution-id": "run-1"})],
    )
    statuses(rsps, 961, "Created", "InProgress", "Complete")
    cancel = threading.Event()
    run = platform.run_job(job, "run-1", fingerprint, cancel)
    assert (run.remote_id, run.details["jobGroupId"], run.fingerprint) == (961, 961, fingerprint)

    rsps.get(f"{BASE}/v4/jobGroups/961/publications", json={"data": [], "count": 0})
    rsps.put(
        f"{BASE}/v4/jobGroups/961/publish",
        json={"jobgroupId": 962, "reason": "JobStarted", "sessionId": "s2"},
    )
    statuses(rsps, 962, "InProgress", "Complete")
    result = platform.publish(target, connection, run, cancel)
    assert (result.rows_loaded, result.rows_after, result.columns) == (0, 0, ())
    assert not result.already_published

    posts = [c for c in rsps.calls if c.request.method == "POST"]
    assert len(posts) == 1
    assert body_of(posts[0]) == {"wrangledDataset": {"id": 28629}, "ranfrom": "api"}
    put = next(c for c in rsps.calls if c.request.method == "PUT")
    assert put.request.body == json.dumps(documented).encode()  # exact bytes, keys in order
    assert [c.request.method for c in rsps.calls].count("GET") == 2 + 3 + 1 + 2
    methods = [(c.request.method, c.request.path_url) for c in rsps.calls]
    assert methods.index(("GET", "/v4/jobGroups/961/publications")) < methods.index(
        ("PUT", "/v4/jobGroups/961/publish")
    )
    assert clock.sleeps[:2] == [2.0, 3.0]  # polls back off from platform.pollInterval


# --- jobs --------------------------------------------------------------------------------
def test_run_job_sends_overrides_and_converted_run_parameters(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    job = Job(
        "clean",
        wrangledDataset=7,
        overrides={"execution": "spark", "profiler": False},
        runParameters={"country": "Germany", "year": "2024"},
    )
    platform = make_platform(make_spec(jobs={"clean": job}), clock)
    expected = {
        "wrangledDataset": {"id": 7},
        "overrides": {"execution": "spark", "profiler": False},
        "runParameters": {
            "overrides": {
                "data": [{"key": "country", "value": "Germany"}, {"key": "year", "value": "2024"}]
            }
        },
        "ranfrom": "api",
    }
    rsps.post(
        f"{BASE}/v4/jobGroups",
        status=201,
        json={"id": 9},
        match=[
            matchers.json_params_matcher(expected),
            matchers.header_matcher({"x-execution-id": "r-42"}),
        ],
    )
    statuses(rsps, 9, "Complete")
    progress: list[str] = []
    run = platform.run_job(job, "r-42", "fp", threading.Event(), progress.append)
    assert run.remote_id == 9
    assert progress == ["job.clean: job group 9 started", "job.clean: job group 9 Complete"]
    assert platform.job_calls(job, "r-42")[0].body == expected


def test_unknown_statuses_mean_keep_waiting(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    platform = make_platform(make_spec(), clock)
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    statuses(rsps, 9, "Created", "Pending", "undefined", "InProgress", "Complete")
    platform.run_job(make_spec().jobs["clean"], "r", "fp", threading.Event())
    assert clock.sleeps == [2.0, 3.0, 4.5, 6.75]


def test_failed_job_surfaces_the_error_messages_of_failed_jobs(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    statuses(rsps, 9, "InProgress", "Failed")
    rsps.get(
        f"{BASE}/v4/jobGroups/9/jobs",
        json={
            "data": [
                {"id": 21, "status": "Complete", "jobType": "wrangle", "errorMessage": None},
                {
                    "id": 22,
                    "status": "Failed",
                    "jobType": "filewriter",
                    "errorMessage": "disk full",
                },
            ]
        },
    )
    with pytest.raises(JobGroupError) as info:
        platform.run_job(make_spec().jobs["clean"], "r", "fp", threading.Event())
    assert str(info.value) == "job.clean: job group 9 failed: filewriter job 22: disk full"
    assert (info.value.job_group_id, info.value.status) == (9, "Failed")


def test_job_canceled_in_the_application_is_an_error(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    statuses(rsps, 9, "Canceled")
    with pytest.raises(JobGroupError, match="job group 9 was canceled in the application"):
        platform.run_job(make_spec().jobs["clean"], "r", "fp", threading.Event())


def test_job_that_never_finishes_times_out_naming_group_and_last_status(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    spec = make_spec(job_timeout=60.0)
    platform = make_platform(spec, clock)
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    rsps.get(f"{BASE}/v4/jobGroups/9/status", json="InProgress")
    start = clock.now
    with pytest.raises(PlatformError) as info:
        platform.run_job(spec.jobs["clean"], "r", "fp", threading.Event())
    assert "job.clean: job group 9 did not finish within 60 s (platform.jobTimeout)" in str(
        info.value
    )
    assert "last status InProgress" in str(info.value)
    assert clock.now - start == pytest.approx(60.0)
    assert max(clock.sleeps) <= 30.0


def test_ctrl_c_cancels_the_job_group(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    platform = make_platform(make_spec(), clock)
    cancel = threading.Event()
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 9})
    rsps.get(f"{BASE}/v4/jobGroups/9/status", json="InProgress")
    rsps.post(f"{BASE}/v4/jobGroups/9/cancel", json={"jobIds": [21], "jobgroupId": 9})

    def on_progress(message: str) -> None:
        if message.endswith("InProgress"):
            cancel.set()  # the user pressed Ctrl-C while we wait

    with pytest.raises(JobGroupCanceled) as info:
        platform.run_job(make_spec().jobs["clean"], "r", "fp", cancel, on_progress)
    assert str(info.value) == "job.clean: job group 9 was canceled on request (Ctrl-C)"
    assert info.value.job_group_id == 9
    assert [c.request.url for c in rsps.calls][-1] == f"{BASE}/v4/jobGroups/9/cancel"


def test_cancel_before_start_posts_nothing(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(PlatformError, match="not started"):
        make_platform(make_spec(), clock).run_job(make_spec().jobs["clean"], "r", "fp", cancel)
    assert len(rsps.calls) == 0


# --- a lost POST response: exactly one run -------------------------------------------------
def _lost_post(posts: list[requests.PreparedRequest]) -> Any:
    def callback(request: requests.PreparedRequest) -> Any:
        posts.append(request)  # the server got it and started the run ...
        raise requests.ConnectionError("Connection reset by peer")  # ... the answer is lost

    return callback


def test_lost_post_response_reuses_the_run_found_by_time(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    posts: list[requests.PreparedRequest] = []
    rsps.add_callback(responses.POST, f"{BASE}/v4/jobGroups", callback=_lost_post(posts))
    rsps.get(
        f"{BASE}/v4/jobLibrary",
        json={
            "data": [
                {"id": 12, "wrangledDataset": {"id": 28629}, "createdAt": iso(WALL + 1)},
                {"id": 11, "wrangledDataset": {"id": 999}, "createdAt": iso(WALL + 2)},
                {"id": 8, "wrangledDataset": {"id": 28629}, "createdAt": iso(WALL - 3600)},
            ]
        },
        match=[
            matchers.query_param_matcher({"ranfrom": "api", "sort": "-createdAt", "limit": "25"})
        ],
    )
    statuses(rsps, 12, "Complete")
    run = platform.run_job(make_spec().jobs["clean"], "run-abc", "fp", threading.Event())
    assert run.remote_id == 12
    assert len(posts) == 1
    assert posts[0].headers["x-execution-id"] == "run-abc"
    assert [c.request.method for c in rsps.calls].count("POST") == 1


def test_lost_post_response_prefers_the_echoed_execution_id(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    posts: list[requests.PreparedRequest] = []
    rsps.add_callback(responses.POST, f"{BASE}/v4/jobGroups", callback=_lost_post(posts))
    rsps.get(
        f"{BASE}/v4/jobLibrary",
        json={
            "data": [
                {
                    "id": 14,
                    "wrangledDataset": {"id": 28629},
                    "executionId": "other",
                    "createdAt": iso(WALL + 5),
                },
                {
                    "id": 13,
                    "wrangledDataset": {"id": 28629},
                    "executionId": "run-abc",
                    "createdAt": iso(WALL),
                },
            ]
        },
    )
    statuses(rsps, 13, "Complete")
    assert (
        platform.run_job(make_spec().jobs["clean"], "run-abc", "fp", threading.Event()).remote_id
        == 13
    )
    assert len(posts) == 1


def test_ambiguous_5xx_with_no_run_found_posts_again_with_the_same_key(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    rsps.post(f"{BASE}/v4/jobGroups", status=502)
    rsps.get(f"{BASE}/v4/jobLibrary", json={"data": []})
    rsps.post(
        f"{BASE}/v4/jobGroups",
        status=201,
        json={"id": 30},
        match=[matchers.header_matcher({"x-execution-id": "run-abc"})],
    )
    statuses(rsps, 30, "Complete")
    assert (
        platform.run_job(make_spec().jobs["clean"], "run-abc", "fp", threading.Event()).remote_id
        == 30
    )
    posts = [c for c in rsps.calls if c.request.method == "POST"]
    assert [p.request.headers["x-execution-id"] for p in posts] == ["run-abc", "run-abc"]


def test_duplicate_execution_id_304_finds_the_existing_run(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    rsps.post(f"{BASE}/v4/jobGroups", status=304)
    rsps.get(
        f"{BASE}/v4/jobLibrary",
        json={"data": [{"id": 40, "wrangledDataset": {"id": 28629}, "createdAt": iso(WALL)}]},
    )
    statuses(rsps, 40, "Complete")
    assert (
        platform.run_job(make_spec().jobs["clean"], "run-abc", "fp", threading.Event()).remote_id
        == 40
    )


def test_ambiguous_post_never_found_gives_up_without_a_duplicate_storm(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    rsps.post(f"{BASE}/v4/jobGroups", body=requests.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/v4/jobLibrary", json={"data": []})
    with pytest.raises(PlatformError, match="no run with execution id run-abc was found"):
        platform.run_job(make_spec().jobs["clean"], "run-abc", "fp", threading.Event())
    assert sum(clock.sleeps) <= 30.0


# --- fingerprints ------------------------------------------------------------------------
def test_job_fingerprint_includes_updated_at_and_is_cached(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    job = make_spec().jobs["clean"]
    rsps.get(f"{BASE}/v4/wrangledDatasets/28629", json={"updatedAt": "2024-01-01T00:00:00Z"})
    first = make_platform(make_spec(), clock)
    a = first.job_fingerprint(job)
    assert first.job_fingerprint(job) == a  # one GET: cached per process
    rsps.get(f"{BASE}/v4/wrangledDatasets/28629", json={"updatedAt": "2024-02-01T00:00:00Z"})
    b = make_platform(make_spec(), clock).job_fingerprint(job)
    assert a != b
    assert len(rsps.calls) == 2


def test_job_fingerprint_of_a_missing_dataset_names_the_job(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(
        f"{BASE}/v4/wrangledDatasets/28629", status=404, json={"exception": {"name": "NotFound"}}
    )
    with pytest.raises(PlatformError, match=r"job\.clean: wrangledDataset 28629 does not exist"):
        make_platform(make_spec(), clock).job_fingerprint(make_spec().jobs["clean"])


def test_job_fingerprint_falls_back_to_the_definition_on_other_failures(
    rsps: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.get(f"{BASE}/v4/wrangledDatasets/28629", status=500)
    with caplog.at_level(logging.WARNING):
        fp = make_platform(make_spec(), clock).job_fingerprint(make_spec().jobs["clean"])
    assert len(fp) == 64
    assert "fingerprint without the dataset version" in caplog.text


def test_connection_fingerprint_compares_secrets_by_fingerprint(clock: FakeClock) -> None:
    platform = make_platform(make_spec(), clock)
    same = Connection(**{**PG.__dict__, "password": Secret(PG_PASSWORD, ["OTHER_NAME"])})
    changed = Connection(**{**PG.__dict__, "password": Secret("new-password", ["PG_PASSWORD"])})
    assert platform.connection_fingerprint(PG) == platform.connection_fingerprint(same)
    assert platform.connection_fingerprint(PG) != platform.connection_fingerprint(changed)
    assert PG_PASSWORD not in platform.connection_fingerprint(PG)


# --- connections -------------------------------------------------------------------------
def test_create_connection_finds_by_name_then_posts_the_documented_body(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.get(
        f"{BASE}/v4/connections",
        json={"data": [{"id": 3, "name": "pg-old"}], "count": 1},
        match=[
            matchers.query_param_matcher(
                {"filter": "pg", "filterFields": "name", "limit": "100", "offset": "0"}
            )
        ],
    )
    rsps.post(f"{BASE}/v4/connections", status=201, json={"id": 5, "name": "pg"})
    assert platform.ensure_connection(PG, None).remote_id == 5
    assert rsps.calls[1].request.body == json.dumps(PG_BODY).encode()


def test_connection_calls_mask_the_password(clock: FakeClock) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    calls = platform.connection_calls(PG, None)
    assert [(c.method, c.path.split("?")[0]) for c in calls] == [
        ("GET", "/v4/connections"),
        ("POST", "/v4/connections"),
    ]
    assert calls[1].body["credentials"] == [{"username": "loader", "password": MASK}]
    assert PG_PASSWORD not in json.dumps([c.to_json() for c in calls])
    update = platform.connection_calls(PG, 5)
    assert update == [ApiCall("PATCH", "/v4/connections/5", calls[1].body)]


def test_find_by_name_pages_through_results_and_updates(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    page1 = [{"id": i, "name": f"pg{i}"} for i in range(100)]
    rsps.get(
        f"{BASE}/v4/connections",
        json={"data": page1},
        match=[
            matchers.query_param_matcher(
                {"filter": "pg", "filterFields": "name", "limit": "100", "offset": "0"}
            )
        ],
    )
    rsps.get(
        f"{BASE}/v4/connections",
        json={"data": [{"id": 777, "name": "pg"}]},
        match=[
            matchers.query_param_matcher(
                {"filter": "pg", "filterFields": "name", "limit": "100", "offset": "100"}
            )
        ],
    )
    rsps.patch(
        f"{BASE}/v4/connections/777",
        json={"id": 777},
        match=[matchers.json_params_matcher(PG_BODY)],
    )
    assert platform.ensure_connection(PG, None).remote_id == 777


def test_update_known_connection_with_patch(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.patch(
        f"{BASE}/v4/connections/5", json={"id": 5}, match=[matchers.json_params_matcher(PG_BODY)]
    )
    assert platform.ensure_connection(PG, 5).remote_id == 5


def test_gone_connection_is_recreated(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.patch(f"{BASE}/v4/connections/5", status=404)
    rsps.get(f"{BASE}/v4/connections", json={"data": []})
    rsps.post(f"{BASE}/v4/connections", status=201, json={"id": 6})
    assert platform.ensure_connection(PG, 5).remote_id == 6


def test_lost_connection_create_response_finds_it_by_name(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.get(f"{BASE}/v4/connections", json={"data": []})
    rsps.post(f"{BASE}/v4/connections", body=requests.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/v4/connections", json={"data": [{"id": 8, "name": "pg"}]})
    assert platform.ensure_connection(PG, None).remote_id == 8
    assert [c.request.method for c in rsps.calls].count("POST") == 1


def test_two_connections_with_the_name_ask_to_adopt_by_id(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(
        f"{BASE}/v4/connections", json={"data": [{"id": 1, "name": "pg"}, {"id": 2, "name": "pg"}]}
    )
    with pytest.raises(PlatformError, match=r"2 connections are named pg \(ids 1, 2\); adopt one"):
        make_platform(make_spec(connections={"pg": PG}), clock).ensure_connection(PG, None)


def test_adopting_a_missing_connection_fails(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(f"{BASE}/v4/connections/2", status=404)
    platform = make_platform(make_spec(), clock)
    assert platform.describe_connection(2) is None
    with pytest.raises(PlatformError, match="connection 2 does not exist"):
        platform.ensure_connection(make_spec().connections["redshift"], None)


def test_check_connection_uses_status_for_existing_and_dry_run_for_new(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(connections={"pg": PG}), clock)
    rsps.get(f"{BASE}/v4/connections/2/status", json={"result": "SUCCESS"})
    assert platform.check_connection(Connection("redshift", id=2)) is None
    rsps.post(
        f"{BASE}/v4/connections/dryRun",
        json={
            "result": "FAILURE",
            "reason": {
                "exception": {"name": "ConnectFailed", "message": "timeout", "details": "host down"}
            },
        },
        match=[matchers.json_params_matcher(PG_BODY)],
    )
    assert platform.check_connection(PG) == (
        "connection.pg: the connection test failed: ConnectFailed: timeout (host down)"
    )


# --- plan errors -------------------------------------------------------------------------
def test_redshift_connection_must_be_adopted(clock: FakeClock) -> None:
    redshift = Connection(
        "rs", vendor="redshift", host="h", port=5439, database="d", username="u", password="p"
    )
    spec = make_spec(connections={"rs": redshift}, targets={})
    problems = make_platform(spec, clock).check(spec, remote=False)
    assert problems == [
        "connection.rs: Redshift connections cannot be created through the API; create it in "
        "the application and adopt it with `id: N`"
    ]
    assert problems[0] == redshift_message("rs")


def test_plan_errors_for_what_the_docs_forbid(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(f"{BASE}/v4/connections/2", json={"id": 2, "vendor": "redshift"})
    rsps.get(f"{BASE}/v4/connections/3", json={"id": 3, "vendor": "postgres", "readOnly": True})
    rsps.get(f"{BASE}/v4/connections/4", status=404)
    spec = make_spec(
        connections={
            "rs": Connection("rs", id=2),
            "ro": Connection("ro", id=3),
            "gone": Connection("gone", id=4),
            "lite": Connection("lite", vendor="sqlite", database="x.db"),
        },
        jobs={
            "a": Job("a", wrangledDataset=1, outputs=("csv",)),
            "b": Job("b", outputs=("hyper",), overrides={"execution": "photon"}),
        },
        targets={
            "fmt": Target(
                "fmt", job="a", connection="rs", table="t", path=("public",), inputFormat="avro"
            ),
            "csv": Target("csv", job="a", connection="rs", table="t", inputFormat="csv"),
            "ro": Target("ro", job="a", connection="ro", table="t", inputFormat="csv"),
            "gone": Target("gone", job="a", connection="gone", table="t", inputFormat="csv"),
            "hy": Target("hy", job="b", connection="ro", table="t", inputFormat="hyper"),
            "up": Target(
                "up",
                job="a",
                connection="ro",
                table="t",
                inputFormat="csv",
                action="upsert",
                key=("id",),
            ),
        },
    )
    problems = make_platform(spec, clock).check(spec)
    assert problems == [
        "connection.lite: vendor sqlite is not a Trifacta connection type; use one of mysql, "
        "postgres, or adopt a connection made in the application with `id: N`",
        "job.b: wrangledDataset (the recipe id to run) is required on the trifacta platform",
        "target.fmt: inputFormat avro is not written by job.a (outputs: csv); add it to the "
        "job's outputs or publish one of those",
        "target.csv: publishing to Redshift needs Avro results; set inputFormat: avro (and "
        "avro in the job's outputs)",
        "connection.ro: connection 3 does not support writes; publish through a connection "
        "that can write",
        "connection.gone: connection 4 does not exist (GET /v4/connections/4 answered 404); "
        "check the id",
        "target.hy: the photon running environment does not write hyper results (it writes "
        "avro, csv, json, parquet, pqt); change job.b.overrides.execution or the inputFormat",
        "target.up: action upsert needs a key, which PUT /v4/jobGroups/{id}/publish cannot "
        "carry; use another action on the trifacta platform",
    ]


def test_connection_to_create_needs_its_fields(clock: FakeClock) -> None:
    bare = Connection("pg", vendor="postgres", host="h", params={"schema": "x"})
    spec = make_spec(connections={"pg": bare}, targets={})
    assert make_platform(spec, clock).check(spec, remote=False) == [
        "connection.pg: port, database, username, password needed to create it through the "
        "API (or adopt an existing connection with `id: N`)",
        "connection.pg: params.schema is not supported on the trifacta platform; put driver "
        "options in params.connectStrOpts",
    ]


# --- publishing --------------------------------------------------------------------------
def test_publish_uses_the_created_connection_id_and_surfaces_publish_failures(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    spec = make_spec(
        connections={"pg": PG},
        targets={
            "t": Target(
                "t",
                job="clean",
                connection="pg",
                path=("public",),
                table="orders",
                action="truncateAndLoad",
            )
        },
    )
    platform = make_platform(spec, clock)
    run = JobRun(
        "clean", "r", "fp", remote_id=9, details={"jobGroupId": 9, "wrangledDataset": 28629}
    )
    rsps.get(f"{BASE}/v4/jobGroups/9/publications", json={"data": [], "count": 0})
    rsps.put(
        f"{BASE}/v4/jobGroups/9/publish",
        json={"jobgroupId": 31, "reason": "JobStarted", "sessionId": "x"},
        match=[
            matchers.json_params_matcher(
                {
                    "connection": {"id": 5},
                    "path": ["public"],
                    "table": "orders",
                    "action": "truncateAndLoad",
                    "inputFormat": "avro",
                    "flowNodeId": 28629,
                }
            )
        ],
    )
    statuses(rsps, 31, "Failed")
    rsps.get(
        f"{BASE}/v4/jobGroups/31/jobs",
        json={
            "data": [
                {"id": 3, "status": "Failed", "jobType": "publish", "errorMessage": "table exists"}
            ]
        },
    )
    with pytest.raises(
        JobGroupError, match=r"target\.t: job group 31 failed: publish job 3: table exists"
    ):
        platform.publish(spec.targets["t"], PG, run, threading.Event(), connection_id=5)
    assert platform.publish_calls(spec.targets["t"], PG)[1].body["connection"] == {
        "id": "{connection.pg.id}"
    }
    assert platform.publish_calls(spec.targets["t"], PG, connection_id=5)[1].body["connection"] == {
        "id": 5
    }


def test_publish_without_a_connection_id_refuses(clock: FakeClock) -> None:
    spec = make_spec(connections={"pg": PG})
    run = JobRun("clean", "r", "fp", remote_id=9)
    target = Target("t", job="clean", connection="pg", table="orders")
    with pytest.raises(PlatformError, match=r"remote id of connection\.pg is unknown"):
        make_platform(spec, clock).publish(target, PG, run, threading.Event())


def test_publish_with_overrides_rides_on_the_run_and_is_verified(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    target = Target(
        "o",
        job="clean",
        connection="redshift",
        path=("public",),
        table="t2",
        action="load",
        via="overrides",
    )
    spec = make_spec(targets={"o": target})
    platform = make_platform(spec, clock)
    job, connection = spec.jobs["clean"], spec.connections["redshift"]
    rsps.get(f"{BASE}/v4/connections/2", json={"id": 2, "vendor": "redshift"})
    pubs = platform.override_publications(job)
    assert pubs == ((target, connection, 2),)
    expected = {
        "wrangledDataset": {"id": 28629},
        "overrides": {
            "publications": [
                {
                    "path": ["public"],
                    "tableName": "t2",
                    "action": "load",
                    "targetType": "redshift",
                    "connectionId": 2,
                }
            ]
        },
        "ranfrom": "api",
    }
    rsps.post(
        f"{BASE}/v4/jobGroups",
        status=201,
        json={"id": 9},
        match=[matchers.json_params_matcher(expected)],
    )
    statuses(rsps, 9, "Complete")
    run = platform.run_job(job, "r", "fp", threading.Event(), publications=pubs)
    rsps.get(
        f"{BASE}/v4/jobGroups/9/publications",
        json={
            "data": [{"id": 1, "path": ["public"], "tableName": "t2", "connectionId": 2}],
            "count": 1,
        },
    )
    assert platform.publish(target, connection, run, threading.Event()).rows_loaded == 0
    assert platform.publish_calls(target, connection) == [
        ApiCall("GET", "/v4/jobGroups/{jobGroupId}/publications")
    ]
    rsps.get(f"{BASE}/v4/jobGroups/9/publications", json={"data": [], "count": 0})
    with pytest.raises(PlatformError, match=r"has no publication to public\.t2"):
        platform.publish(target, connection, run, threading.Event())


def test_ambiguous_publish_is_not_repeated(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    spec = make_spec()
    platform = make_platform(spec, clock)
    rsps.get(f"{BASE}/v4/jobGroups/9/publications", json={"data": [], "count": 0})
    rsps.put(f"{BASE}/v4/jobGroups/9/publish", status=500)
    run = JobRun("clean", "r", "fp", remote_id=9)
    with pytest.raises(PlatformError, match="before publishing again"):
        platform.publish(
            spec.targets["table2"], spec.connections["redshift"], run, threading.Event()
        )
    assert [c.request.method for c in rsps.calls] == ["GET", "PUT"]


def test_published_targets_lists_publications(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.get(
        f"{BASE}/v4/jobGroups/9/publications",
        json={"data": [{"id": 1, "tableName": "t"}], "count": 1},
    )
    assert make_platform(make_spec(), clock).published_targets(9) == [{"id": 1, "tableName": "t"}]


# --- the token stays secret --------------------------------------------------------------
def test_token_and_passwords_never_in_errors_logs_reprs_or_plans(
    rsps: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    spec = make_spec(connections={"pg": PG, "redshift": Connection("redshift", id=2)})
    platform = make_platform(spec, clock)
    rsps.post(
        f"{BASE}/v4/connections/dryRun",
        status=400,
        json={
            "exception": {"name": "Bad", "message": f"password {PG_PASSWORD} token {TOKEN_VALUE}"}
        },
    )
    rsps.post(f"{BASE}/v4/jobGroups", status=503)
    rsps.get(f"{BASE}/v4/jobLibrary", status=401)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for action in (
            lambda: platform.check_connection(PG),
            lambda: platform.run_job(spec.jobs["clean"], "r", "fp", threading.Event()),
        ):
            with pytest.raises(PlatformError) as info:
                action()
            texts += [str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(platform), repr(platform.client), repr(spec.platform)]
    texts += [json.dumps(c.to_json()) for c in platform.connection_calls(PG, None)]
    for text in texts:
        assert TOKEN_VALUE not in text
        assert PG_PASSWORD not in text


def test_job_calls_show_override_publications_with_placeholders(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    target = Target("o", job="clean", connection="pg", path=("public",), table="t", via="overrides")
    spec = make_spec(connections={"pg": PG}, targets={"o": target})
    platform = make_platform(spec, clock)
    pubs = platform.override_publications(spec.jobs["clean"])
    body = platform.job_calls(spec.jobs["clean"], "r", publications=pubs)[0].body
    assert body["overrides"]["publications"] == [
        {
            "path": ["public"],
            "tableName": "t",
            "action": "create",
            "targetType": "postgres",
            "connectionId": "{connection.pg.id}",
        }
    ]
    with pytest.raises(PlatformError, match=r"remote id of connection\.pg is unknown"):
        platform.run_job(spec.jobs["clean"], "r", "fp", threading.Event(), publications=pubs)
    assert len(rsps.calls) == 0


def test_a_run_answer_without_a_job_group_id_is_an_error(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(f"{BASE}/v4/jobGroups", status=201, body="")
    with pytest.raises(PlatformError, match="answered no job group id"):
        make_platform(make_spec(), clock).run_job(
            make_spec().jobs["clean"], "r", "fp", threading.Event()
        )


def test_the_documented_example_spec_file_drives_the_documented_put(
    rsps: responses.RequestsMock, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_file = Path(__file__).parents[2] / "publish_specs" / "trifacta-redshift.yaml"
    if not spec_file.exists():  # pragma: no cover - the example is another module's file
        pytest.skip(f"{spec_file} is missing")
    from runner.spec.api import load_spec

    monkeypatch.setenv("TRIFACTA_TOKEN", TOKEN_VALUE)
    monkeypatch.setenv("TRIFACTA_URL", BASE)
    spec = load_spec(spec_file)
    platform = make_platform(spec, clock)
    (connection,) = spec.connections.values()
    (job,) = spec.jobs.values()
    (target,) = spec.targets.values()
    rsps.get(f"{BASE}/v4/connections/2", json={"id": 2, "vendor": "redshift"})
    assert platform.check(spec) == []
    assert platform.ensure_connection(connection, connection.id).remote_id == 2
    rsps.post(f"{BASE}/v4/jobGroups", status=201, json={"id": 961})
    statuses(rsps, 961, "Complete")
    run = platform.run_job(job, "run-1", "fp", threading.Event())
    rsps.get(f"{BASE}/v4/jobGroups/961/publications", json={"data": [], "count": 0})
    rsps.put(f"{BASE}/v4/jobGroups/961/publish", json={"jobgroupId": 962, "reason": "JobStarted"})
    statuses(rsps, 962, "Complete")
    platform.publish(target, connection, run, threading.Event())
    put = next(c for c in rsps.calls if c.request.method == "PUT")
    assert put.request.body == (
        b'{"connection": {"id": 2}, "path": ["public"], "table": "test_table2", '
        b'"action": "create", "inputFormat": "avro", "flowNodeId": 28629}'
    )


# --- publishing once: the publications lookup before the PUT ------------------------------
LOAD = Target("t", job="clean", connection="pg", path=("public",), table="orders", action="load")
LOAD_PUT = {
    "connection": {"id": 5},
    "path": ["public"],
    "table": "orders",
    "action": "load",
    "inputFormat": "avro",
    "flowNodeId": 28629,
}
PUBLICATIONS = f"{BASE}/v4/jobGroups/9/publications"


def load_platform(clock: FakeClock) -> tuple[TrifactaPlatform, JobRun]:
    spec = make_spec(connections={"pg": PG}, targets={"t": LOAD})
    run = JobRun(
        "clean", "r", "fp", remote_id=9, details={"jobGroupId": 9, "wrangledDataset": 28629}
    )
    return make_platform(spec, clock), run


def expect_put(rsps: responses.RequestsMock) -> None:
    rsps.put(
        f"{BASE}/v4/jobGroups/9/publish",
        json={"jobgroupId": 31, "reason": "JobStarted", "sessionId": "x"},
        match=[matchers.json_params_matcher(LOAD_PUT)],
    )
    statuses(rsps, 31, "Complete")


def methods(rsps: responses.RequestsMock) -> list[str]:
    return [f"{c.request.method} {c.request.path_url}" for c in rsps.calls]


@pytest.mark.parametrize(
    "publication",
    [
        {"id": 7, "path": ["public"], "tableName": "orders", "action": "load", "connectionId": 5},
        {"id": 7, "path": ["public"], "table": "orders", "action": "load", "connectionId": "5"},
        {
            "id": 7,
            "path": ["public"],
            "tableName": "orders",
            "targetType": "postgres",
            "action": "load",
            "connection": {"id": "5"},
        },
        {"id": 7, "path": "public", "tableName": "orders", "action": "load", "connectionId": 5},
    ],
    ids=["documented", "string-id-and-table", "nested-connection", "string-path"],
)
def test_an_existing_publication_is_not_published_again(
    rsps: responses.RequestsMock, clock: FakeClock, publication: dict[str, Any]
) -> None:
    platform, run = load_platform(clock)
    other = {**publication, "id": 6, "tableName": "other", "table": "other"}
    rsps.get(PUBLICATIONS, json={"data": [other, publication], "count": 2})
    result = platform.publish(LOAD, PG, run, threading.Event(), connection_id=5)
    assert result.already_published
    assert (result.rows_loaded, result.rows_after, result.columns) == (0, 0, ())
    assert methods(rsps) == ["GET /v4/jobGroups/9/publications"]  # no PUT


def test_publish_after_a_lost_state_write_puts_only_once(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    """The first apply PUTs and crashes before recording it; the next one must not append."""
    published: list[dict[str, Any]] = []

    def listing(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"data": published, "count": len(published)})

    def put(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body or b"{}")
        published.append(
            {
                "id": 70,
                "path": sent["path"],
                "tableName": sent["table"],
                "targetType": "postgres",
                "action": sent["action"],
                "connectionId": str(sent["connection"]["id"]),
            }
        )
        return 200, {}, json.dumps({"jobgroupId": 31, "reason": "JobStarted"})

    rsps.add_callback(responses.GET, PUBLICATIONS, callback=listing)
    rsps.add_callback(responses.PUT, f"{BASE}/v4/jobGroups/9/publish", callback=put)
    statuses(rsps, 31, "Complete")
    first, run = load_platform(clock)
    assert not first.publish(LOAD, PG, run, threading.Event(), connection_id=5).already_published
    # a new process (nothing cached) with the state that never learnt about the publish
    again, _ = load_platform(clock)
    assert again.publish(LOAD, PG, run, threading.Event(), connection_id=5).already_published
    assert [m for m in methods(rsps) if m.startswith("PUT")] == ["PUT /v4/jobGroups/9/publish"]
    assert len(published) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"tableName": "orders_old"},
        {"path": ["staging"]},
        {"path": []},
        {"connectionId": 6},
        {"connectionId": "05x"},
        {"action": "truncateAndLoad"},
        {"connectionId": None},
        {"path": None},
        {"action": None},
        {"status": "Failed"},
        {"tableName": None},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_a_publication_that_does_not_clearly_match_does_not_block_the_put(
    rsps: responses.RequestsMock, clock: FakeClock, change: dict[str, Any]
) -> None:
    platform, run = load_platform(clock)
    base = {"id": 7, "path": ["public"], "tableName": "orders", "action": "load", "connectionId": 5}
    publication = {k: v for k, v in {**base, **change}.items() if v is not None}
    rsps.get(PUBLICATIONS, json={"data": [publication], "count": 1})
    expect_put(rsps)
    result = platform.publish(LOAD, PG, run, threading.Event(), connection_id=5)
    assert not result.already_published
    assert methods(rsps) == [
        "GET /v4/jobGroups/9/publications",
        "PUT /v4/jobGroups/9/publish",
        "GET /v4/jobGroups/31/status",
    ]


@pytest.mark.parametrize("status", [404, 500, 503])
def test_a_failing_publications_lookup_is_logged_and_the_put_goes_ahead(
    rsps: responses.RequestsMock,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    platform, run = load_platform(clock)
    rsps.get(
        PUBLICATIONS,
        status=status,
        json={"exception": {"name": "Oops", "message": "no listing", "details": ""}},
    )
    expect_put(rsps)
    with caplog.at_level(logging.WARNING, logger="runner.platforms.trifacta"):
        result = platform.publish(LOAD, PG, run, threading.Event(), connection_id=5)
    assert not result.already_published
    calls = methods(rsps)
    lookups = calls.count("GET /v4/jobGroups/9/publications")
    assert lookups == 1 if status == 404 else lookups > 1  # 5xx: retried first
    assert calls[lookups:] == ["PUT /v4/jobGroups/9/publish", "GET /v4/jobGroups/31/status"]
    assert any(
        "could not check job group 9's publications" in r.getMessage()
        and str(status) in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_publications_lookup_publishes_nothing(
    rsps: responses.RequestsMock, clock: FakeClock, status: int
) -> None:
    platform, run = load_platform(clock)
    rsps.get(PUBLICATIONS, status=status)
    with pytest.raises(PlatformError, match=r"target\.t: .*nothing was published") as info:
        platform.publish(LOAD, PG, run, threading.Event(), connection_id=5)
    assert str(status) in str(info.value)
    assert methods(rsps) == ["GET /v4/jobGroups/9/publications"]


def test_an_unreachable_api_during_the_lookup_publishes_nothing(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    platform, run = load_platform(clock)
    rsps.get(PUBLICATIONS, body=requests.ConnectionError("connection reset"))
    with pytest.raises(PlatformError, match="nothing was published"):
        platform.publish(LOAD, PG, run, threading.Event(), connection_id=5)
    assert all(m == "GET /v4/jobGroups/9/publications" for m in methods(rsps))


def test_publish_calls_show_the_lookup_before_the_put(clock: FakeClock) -> None:
    platform, _ = load_platform(clock)
    assert platform.publish_calls(LOAD, PG, connection_id=5) == [
        ApiCall("GET", "/v4/jobGroups/{jobGroupId}/publications"),
        ApiCall("PUT", "/v4/jobGroups/{jobGroupId}/publish", LOAD_PUT),
        ApiCall("GET", "/v4/jobGroups/{publishJobGroupId}/status"),
    ]
