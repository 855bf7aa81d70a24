"""`wait()`: over the event stream where there is one, polling where there is not, and never
past its timeout."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from jobq_client import NotFound, Timeout, WaitTimeout
from jobq_client import events as client_events
from jobq_client.events import IDLE_S, JobWatch, Step
from tests.client.conftest import Counting, MakeClient
from tests.integration.conftest import StartWorker

NO_STREAM = {"/v1/events": 404}  # an API without the stream (older, or behind a proxy that hides it)


async def test_wait_follows_the_stream_and_reads_the_job_only_when_it_may_be_final(
    make_client: MakeClient, api_url: str, admin_key: str, start_worker: StartWorker
) -> None:
    await start_worker()
    counting = Counting()
    jobq = await make_client(api_url, admin_key, transport=counting)
    job = await jobq.submit("jobq.sleep", {"seconds": 2, "steps": 4})

    done = await jobq.wait(job.id, timeout=30, poll_interval=0.1)

    assert done.status == "succeeded" and done.result == {"slept_s": 2} and done.finished_at is not None
    assert (datetime.now(UTC) - done.finished_at).total_seconds() < 2.5, "the stream tells within about a second"
    assert counting.count("GET", "/v1/events") == 1
    # Read on opening, on the stream's first reset, and once final; polling every 0.1 s would read it ~20 times.
    assert counting.count("GET", f"/v1/jobs/{job.id}") <= 3


async def test_without_the_stream_wait_polls(
    make_client: MakeClient, api_url: str, admin_key: str, start_worker: StartWorker
) -> None:
    await start_worker()
    counting = Counting(refuse=NO_STREAM)
    jobq = await make_client(api_url, admin_key, transport=counting)
    job = await jobq.submit("jobq.sleep", {"seconds": 1})

    done = await jobq.wait(job.id, timeout=30, poll_interval=0.1)

    assert done.status == "succeeded"
    assert counting.count("GET", "/v1/events") == 1
    assert counting.count("GET", f"/v1/jobs/{job.id}") >= 5


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "polling"])
async def test_wait_ends_at_its_timeout_with_the_job_as_last_read(
    make_client: MakeClient, api_url: str, admin_key: str, stream: bool
) -> None:
    jobq = await make_client(api_url, admin_key, transport=Counting(refuse={} if stream else NO_STREAM))
    job = await jobq.submit("jobq.noop")  # no worker runs: it stays queued

    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        await jobq.wait(job.id, timeout=1.5, poll_interval=0.2)

    assert 1.5 <= time.monotonic() - started < 2.2  # a read outlives the deadline by REOPEN_S at most
    assert isinstance(caught.value, Timeout) and caught.value.job is not None and caught.value.job.status == "queued"
    assert f"job {job.id} is still queued after 1.5 s" in str(caught.value)

    with pytest.raises(WaitTimeout) as now:  # a timeout of 0 reads the job once
        await jobq.wait(job.id, timeout=0)
    assert now.value.job is not None and now.value.job.id == job.id


async def test_a_stream_gone_silent_is_left_for_polling(
    make_client: MakeClient, api_url: str, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_events, "IDLE_S", 0.5)  # the API's keep-alives come every 15 s
    counting = Counting()
    jobq = await make_client(api_url, admin_key, transport=counting)
    job = await jobq.submit("jobq.noop")

    with pytest.raises(WaitTimeout):
        await jobq.wait(job.id, timeout=2.5, poll_interval=0.2)

    assert counting.count("GET", "/v1/events") == 1
    assert counting.count("GET", f"/v1/jobs/{job.id}") >= 6, "polled after the stream fell silent"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "polling"])
async def test_waiting_for_a_deleted_job_is_not_found_at_once(
    make_client: MakeClient, api_url: str, admin_key: str, stream: bool
) -> None:
    jobq = await make_client(api_url, admin_key, transport=Counting(refuse={} if stream else NO_STREAM))
    job = await jobq.submit("jobq.noop")
    await jobq.delete_job(job.id)

    started = time.monotonic()
    with pytest.raises(NotFound):
        await jobq.wait(job.id, timeout=10)
    assert time.monotonic() - started < 1


# --- the watch's decisions, without a server ------------------------------------------------


def test_the_stream_is_reopened_before_the_deadline_so_no_read_outlives_it() -> None:
    watch = JobWatch("job-1", timeout_s=100)
    headers, read_timeout = watch.open()
    assert headers == {} and read_timeout == IDLE_S
    assert watch.opened() is Step.FETCH
    for line in ["id: run-7", "event: reset", 'data: {"reason": "unknown_id"}']:
        assert watch.line(line) is Step.READ
    assert watch.line("") is Step.FETCH
    assert not watch.must_reopen()

    watch.deadline.started -= 100 - IDLE_S + 5  # IDLE_S - 5 seconds are left
    assert watch.must_reopen()
    headers, read_timeout = watch.open()
    assert headers == {"Last-Event-ID": "run-7"} and read_timeout == pytest.approx(IDLE_S - 5, abs=0.1)
    assert watch.opened() is Step.READ, "a resumed stream replays what was missed"
    assert not watch.must_reopen()
    assert isinstance(watch.read_timed_out(), WaitTimeout)
    watch.deadline.started -= 1
    assert watch.must_reopen(), "a second later, a read could outlive the deadline by a second"
    watch.open()
    watch.deadline.started -= IDLE_S
    with pytest.raises(WaitTimeout):  # a stream busy with other news does not hold a wait past its deadline
        watch.must_reopen()


def test_a_stream_reopened_within_an_event_resumes_before_it_so_the_event_is_sent_again() -> None:
    watch = JobWatch("job-1", timeout_s=20)  # under IDLE_S: the stream is reopened as the deadline nears
    watch.open()
    watch.opened()
    for line in ["id: run-1", "event: queues", 'data: {"queues": []}', ""]:
        watch.line(line)
    watch.deadline.started -= 1
    assert watch.line("id: run-2") is Step.READ  # the job's final state, say, cut short by the reopen
    assert watch.must_reopen()
    headers, _ = watch.open()
    assert headers == {"Last-Event-ID": "run-1"}, "resuming after run-2 would never send it"
    assert watch.opened() is Step.READ


def test_a_stream_reopened_before_its_first_whole_event_reads_the_job_again() -> None:
    watch = JobWatch("job-1", timeout_s=20)
    assert watch.open()[0] == {} and watch.opened() is Step.FETCH
    watch.deadline.started -= 1
    assert watch.line("id: run-1") is Step.READ
    assert watch.must_reopen()
    headers, _ = watch.open()
    assert headers == {} and watch.opened() is Step.FETCH, "a stream opened without Last-Event-ID replays nothing"


def test_only_a_final_state_of_this_job_a_reset_or_a_keep_alive_sends_for_the_job() -> None:
    watch = JobWatch("job-1", timeout_s=None)
    watch.open()

    def event(kind: str, data: str) -> Step:
        steps = [watch.line(f"event: {kind}"), watch.line(f"data: {data}"), watch.line("")]
        assert steps[:2] == [Step.READ, Step.READ]
        return steps[2]

    row = '"type": "t", "queue": "q", "priority": 0, "attempts": 1, "max_attempts": 3, "progress": null,'
    row += (
        ' "progress_message": null, "tags": [], "run_at": "2026-01-01T00:00:00Z", "created_at": "2026-01-01T00:00:00Z",'
    )
    row += ' "started_at": null, "finished_at": null'
    assert event("job", f'{{"id": "job-1", "status": "running", {row}}}') is Step.READ
    assert event("job", f'{{"id": "job-2", "status": "succeeded", {row}}}') is Step.READ
    assert event("job", f'{{"id": "job-1", "status": "dead", {row}}}') is Step.FETCH
    assert event("queues", '{"queues": []}') is Step.READ
    assert event("reset", '{"reason": "behind"}') is Step.FETCH
    assert event("unavailable", '{"message": "connection refused"}') is Step.POLL
    assert watch.line(": keep-alive") is Step.FETCH
    assert watch.line("retry: 2000") is Step.READ
    assert not watch.must_reopen(), "no deadline, no reopening"
