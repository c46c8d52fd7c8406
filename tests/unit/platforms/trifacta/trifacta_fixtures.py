"""Specs, clocks and a stand-in service for the trifacta platform's unit tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from runner.platforms.trifacta import RetryPolicy, TrifactaPlatform
from runner.spec.model import Connection, Job, Spec, Target
from runner.spec.model import PlatformConfig as PlatformSpec
from runner.spec.secrets import Secret
from tests.trifacta.fake_service import FakeTrifacta
from tests.trifacta.openapi_check import call_errors

BASE = "https://trifacta.example.com"
TOKEN_VALUE = "tok-PLATFORM-s3cret-9f8e"
PG_PASSWORD = "pg-pass-W0rd-42"


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
def fake() -> Iterator[FakeTrifacta]:
    """The stand-in service with the documented example's recipe, connection and outputs."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        service = FakeTrifacta(rsps, BASE)
        service.add_output_object(28629, ("avro",))
        yield service
        assert not service.invalid, "\n".join(service.invalid)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Hand-written answers; each request and answer is checked against the description."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        errors = call_errors(BASE, mock.calls)
        assert not errors, "\n".join(errors)


TABLE2 = Target(
    "table2",
    job="clean",
    connection="redshift",
    path=("public",),
    table="test_table2",
    action="create",
    input_format="avro",
)


def make_spec(
    *,
    connections: dict[str, Connection] | None = None,
    jobs: dict[str, Job] | None = None,
    targets: dict[str, Target] | None = None,
    job_timeout: float = 3600.0,
    release: str = "cloud",
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
            job_timeout=job_timeout,
            poll_interval=2.0,
            release=release,
        ),
        connections=connections
        if connections is not None
        else {"redshift": Connection("redshift", id=2)},
        jobs=jobs
        if jobs is not None
        else {"clean": Job("clean", wrangled_dataset=28629, outputs=("avro",))},
        targets=targets if targets is not None else {"table2": TABLE2},
    )


def make_platform(spec: Spec, clock: FakeClock, **kwargs: Any) -> TrifactaPlatform:
    policy = RetryPolicy(base=0.5, cap=4.0, deadline=30.0, rng=random.Random(11))
    return TrifactaPlatform(spec, sleep=clock.sleep, clock=clock, policy=policy, **kwargs)


def riders(spec: Spec, job: str = "clean") -> tuple[tuple[Target, Connection, int | None], ...]:
    return tuple(
        (t, spec.connections[t.connection], spec.connections[t.connection].id)
        for t in spec.override_targets(job)
    )


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
