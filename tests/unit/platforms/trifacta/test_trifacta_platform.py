# ruff: noqa: F811 (fixtures imported from tests.unit.platforms.trifacta.trifacta_fixtures)
"""The trifacta platform against the stand-in service (every request checked against the
project's API description); clocks are injected, nothing really sleeps."""

from __future__ import annotations

import logging
import threading

import pytest

from runner.errors import PlatformError
from runner.platforms.base import Platform
from runner.platforms.trifacta import JobGroupCanceled, JobGroupError
from runner.spec.model import Connection, Job, Target
from runner.state.model import JobRunRecord
from tests.trifacta.fake_service import FakeTrifacta
from tests.unit.platforms.trifacta.trifacta_fixtures import (  # noqa: F401
    TABLE2,
    TOKEN_VALUE,
    FakeClock,
    clock,
    fake,
    make_platform,
    make_spec,
    riders,
)

FAILURE = "Redshift COPY failed: permission denied for schema public"


def run(fake: FakeTrifacta, clock: FakeClock, spec=None, **kwargs):  # type: ignore[no-untyped-def]
    spec = spec or make_spec()
    platform = make_platform(spec, clock)
    job = next(iter(spec.jobs.values()))
    return platform, platform.run_job(
        job, "run-1", "fp", threading.Event(), publications=riders(spec, job.name), **kwargs
    )


def test_is_a_platform(clock: FakeClock) -> None:
    platform: Platform = make_platform(make_spec(), clock)
    assert platform.type == "trifacta"


def test_run_sends_the_documented_body_and_passes_job_keys_through(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    job = Job(
        "clean",
        wrangled_dataset=28629,
        overrides={"profiler": False},
        run_parameters={"country": "Germany"},
        execution="photon",
        force_cache_update=True,
        ignore_recipe_errors=False,
    )
    spec = make_spec(jobs={"clean": job})
    _, result = run(fake, clock, spec)
    ((_, _, body),) = fake.calls("POST", r"^/v4/jobGroups$")
    assert body == {
        "wrangledDataset": {"id": 28629},
        "overrides": {"profiler": False, "execution": "photon"},
        "runParameters": {"overrides": {"data": [{"key": "country", "value": "Germany"}]}},
        "forceCacheUpdate": True,
        "ignoreRecipeErrors": False,
        "ranfrom": "api",
    }
    group = fake.groups[result.remote_id]
    assert group.execution_id == "run-1"
    assert clock.sleeps and all(s > 0 for s in clock.sleeps)  # waited on the injected clock


def test_run_waits_for_every_job_including_the_publish_job(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.publish_polls = 3
    platform, result = run(fake, clock)
    group = fake.groups[result.remote_id]
    assert [j["jobType"] for j in group.jobs] == ["wrangle", "publish"]
    assert [j["status"] for j in group.jobs] == ["Complete", "Complete"]
    assert group.job_polls >= 3  # the status said Complete before the publish job ended
    published = platform.publish(TABLE2, Connection("redshift", id=2), result, threading.Event())
    assert published.table is not None
    assert published.table.startswith("redshift.public.test_table2_")


def test_a_failed_transform_job_fails_the_run_with_its_message(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.fail_transform = "bad recipe"
    with pytest.raises(JobGroupError) as info:
        run(fake, clock)
    assert "failed: wrangle job" in str(info.value) and "bad recipe" in str(info.value)
    assert clock.now - 50.0 < 60  # the never-started publish job was not waited for


def test_a_failed_publish_job_leaves_the_run_done_and_fails_the_publish(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.fail_publish = FAILURE
    platform, result = run(fake, clock)  # the transform succeeded: the run is done
    with pytest.raises(PlatformError) as info:
        platform.publish(TABLE2, Connection("redshift", id=2), result, threading.Event())
    assert "publish job" in str(info.value) and FAILURE in str(info.value)
    assert "test_table2_<timestamp>" in str(info.value)


def test_a_run_that_never_finishes_times_out_naming_group_and_status(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.transform_polls = 10**6
    with pytest.raises(PlatformError) as info:
        run(fake, clock, make_spec(job_timeout=60))
    assert "did not finish within 60 s (platform.jobTimeout); last status InProgress" in str(
        info.value
    )
    assert clock.now - 50.0 <= 60 + 1e-6


def test_ctrl_c_cancels_the_job_group(fake: FakeTrifacta, clock: FakeClock) -> None:
    spec = make_spec()
    platform = make_platform(spec, clock)
    cancel = threading.Event()
    original = clock.sleep

    def sleep_then_cancel(seconds: float) -> None:
        original(seconds)
        cancel.set()

    platform.waiter = type(platform.waiter)(platform.client, sleep_then_cancel, 2.0, 3600.0)
    with pytest.raises(JobGroupCanceled):
        platform.run_job(spec.jobs["clean"], "run-1", "fp", cancel, publications=riders(spec))
    assert len(fake.calls("POST", r"/cancel$")) == 1


def test_cancel_before_start_posts_nothing(fake: FakeTrifacta, clock: FakeClock) -> None:
    spec = make_spec()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(PlatformError, match="not started"):
        make_platform(spec, clock).run_job(spec.jobs["clean"], "r", "fp", cancel)
    assert fake.calls("POST") == []


def test_a_lost_answer_is_posted_again_with_the_same_execution_id(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.lose.append(("POST", r"/v4/publications$"))  # not this one: it must not be repeated
    with pytest.raises(PlatformError, match="may have been acted on"):
        run(fake, clock)
    assert len(fake.calls("POST", r"/v4/publications$")) == 1
    assert fake.calls("POST", r"^/v4/jobGroups$") == []


def test_a_lost_run_answer_then_304_stops_and_never_adopts_a_recent_run(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    spec = make_spec(targets={})
    other = make_platform(spec, clock)  # another client's run of the same recipe, just now
    other.run_job(spec.jobs["clean"], "someone-else", "fp", threading.Event())
    fake.lose.append(("POST", r"/v4/jobGroups$"))
    with pytest.raises(PlatformError) as info:
        make_platform(spec, clock).run_job(spec.jobs["clean"], "run-1", "fp", threading.Event())
    message = str(info.value)
    assert "exists (304" in message and "does not say which job group" in message
    posts = fake.calls("POST", r"^/v4/jobGroups$")
    assert len(posts) == 3  # the other run, ours (answer lost), ours again (304)
    assert len(fake.groups) == 2  # nothing ran twice, nothing was adopted


def test_a_lost_run_answer_is_matched_where_the_service_echoes_the_execution_id(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.library_echo = "executionId"
    fake.lose.append(("POST", r"/v4/jobGroups$"))
    spec = make_spec(targets={})
    result = make_platform(spec, clock).run_job(
        spec.jobs["clean"], "run-1", "fp", threading.Event()
    )
    assert fake.groups[result.remote_id].execution_id == "run-1"
    assert len(fake.calls("POST", r"^/v4/jobGroups$")) == 1


def test_job_fingerprint_reads_updated_at_once_and_names_a_missing_recipe(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    platform = make_platform(make_spec(), clock)
    job = platform.spec.jobs["clean"]
    first = platform.job_fingerprint(job)
    assert platform.job_fingerprint(job) == first
    assert len(fake.calls("GET", r"wrangledDatasets")) == 1
    changed = Job("clean", wrangled_dataset=28629, force_cache_update=True)
    assert platform.job_fingerprint(changed) != first
    with pytest.raises(PlatformError, match=r"job.gone: wrangledDataset 5 does not exist"):
        platform.job_fingerprint(Job("gone", wrangled_dataset=5))


def test_the_plan_shows_output_object_steps_and_the_timestamped_table(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    spec = make_spec()
    platform = make_platform(spec, clock)
    job = spec.jobs["clean"]
    details = platform.job_details(job, publications=riders(spec))
    (created,) = details["publications"]
    assert created["change"] == "create" and created["fields"]["tableName"] == "test_table2"
    calls = [(c.method, c.path) for c in platform.job_calls(job, "r", publications=riders(spec))]
    assert calls[:2] == [("POST", "/v4/publications"), ("POST", "/v4/jobGroups")]
    note = platform.publish_note(TABLE2)
    assert "new table redshift.public.test_table2_<timestamp> on every run (schema only" in note
    assert platform.table_matches(TABLE2, "redshift.public.test_table2_1764576001")
    assert not platform.table_matches(TABLE2, "redshift.public.test_table2")
    assert not platform.table_matches(TABLE2, "redshift.other.test_table2_1")
    assert {m for m, _, _ in fake.seen} == {"GET"}


def test_a_recipe_without_output_object_gets_one_before_its_publication(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.output_objects.clear()
    fake.write_settings.clear()
    path = "s3://bucket/runs/clean.avro"
    job = Job(
        "clean",
        wrangled_dataset=28629,
        overrides={"writesettings": [{"path": path, "action": "create", "format": "avro"}]},
    )
    spec = make_spec(jobs={"clean": job})
    _platform, result = run(fake, clock, spec)
    (oid,) = fake.output_objects
    assert fake.output_objects[oid]["flownode"] == {"id": 28629}
    ((_, _, pub),) = fake.calls("POST", r"/v4/publications$")
    assert pub["outputObjectId"] == oid  # the id the POST answered, not the plan's placeholder
    assert fake.groups[result.remote_id].files[0]["uri"] == path


def test_a_missing_result_format_adds_a_file_output_beside_the_existing_one(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    fake.write_settings.clear()
    oid = next(iter(fake.output_objects))
    fake._write_setting(
        {"path": "s3://b/out/clean.csv", "action": "create", "format": "csv", "outputObjectId": oid}
    )
    run(fake, clock)
    ((_, _, body),) = fake.calls("POST", r"/v4/writeSettings$")
    assert body == {
        "path": "s3://b/out/clean.avro",
        "action": "create",
        "format": "avro",
        "outputObjectId": oid,
    }


def test_no_file_output_and_no_folder_is_a_plan_error(fake: FakeTrifacta, clock: FakeClock) -> None:
    fake.write_settings.clear()
    problems = make_platform(make_spec(), clock).check(make_spec())
    assert any("the run writes no avro results" in p for p in problems)


def test_has_results_reads_the_job_group_outputs(fake: FakeTrifacta, clock: FakeClock) -> None:
    platform, result = run(fake, clock)
    record = JobRunRecord("clean", "run-1", "fp", "now", remote_id=result.remote_id)
    assert platform.has_results(record, "avro")
    assert not platform.has_results(record, "csv")


def test_via_publish_puts_once_and_tracks_the_publish_job(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    target = Target(**{**TABLE2.__dict__, "via": "publish"})
    spec = make_spec(targets={"table2": target}, release="6.4")
    platform, result = run(fake, clock, spec)
    fake.publish_polls = 4
    published = platform.publish(target, spec.connections["redshift"], result, threading.Event())
    assert published.table and published.table.startswith("redshift.public.test_table2_")
    (put,) = fake.calls("PUT")
    assert put[1] == f"/v4/jobGroups/{result.remote_id}/publish"
    # the same results again: found among the job group's publications, not put again
    again = platform.publish(target, spec.connections["redshift"], result, threading.Event())
    assert again.already_published and len(fake.calls("PUT")) == 1


def test_via_publish_refuses_results_in_another_format(
    fake: FakeTrifacta, clock: FakeClock
) -> None:
    target = Target(**{**TABLE2.__dict__, "via": "publish", "input_format": "csv"})
    spec = make_spec(targets={"table2": target}, release="6.4")
    platform, result = run(fake, clock, spec)
    fake.groups[result.remote_id].files[:] = [{"uri": "s3://b/x.avro", "fileType": "FILE"}]
    with pytest.raises(PlatformError, match="wrote no csv results"):
        platform.publish(target, spec.connections["redshift"], result, threading.Event())
    assert fake.calls("PUT") == []


def test_an_ambiguous_put_is_not_repeated(fake: FakeTrifacta, clock: FakeClock) -> None:
    target = Target(**{**TABLE2.__dict__, "via": "publish"})
    spec = make_spec(targets={"table2": target}, release="6.4")
    platform, result = run(fake, clock, spec)
    fake.lose.append(("PUT", r"/publish$"))
    with pytest.raises(PlatformError, match=r"look at job group .* publications"):
        platform.publish(target, spec.connections["redshift"], result, threading.Event())
    assert len(fake.calls("PUT")) == 1


def test_the_token_is_never_in_errors_logs_or_reprs(
    fake: FakeTrifacta, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_publish = FAILURE
    with caplog.at_level(logging.DEBUG):
        platform, result = run(fake, clock)
        with pytest.raises(PlatformError) as info:
            platform.publish(TABLE2, Connection("redshift", id=2), result, threading.Event())
    assert TOKEN_VALUE not in caplog.text + str(info.value) + repr(platform) + repr(platform.client)
