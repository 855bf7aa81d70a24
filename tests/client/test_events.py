"""`events()`: the API's changes as models, resumed after the last event when a stream ends or
falls silent, and the errors of a stream that cannot be opened."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from jobq_client import AsyncClient, NotFound, RetryPolicy, Unauthorized, Unavailable
from jobq_client import events as client_events
from jobq_client.events import Event
from jobq_client.models import JobEvent, QueuesEvent, ResetEvent
from tests.client.conftest import Both, Counting, MakeClient
from tests.integration.conftest import StartWorker
from tests.support.wait import until


@dataclass
class Reading:
    """What one `events()` call has yielded so far, read in the background until `done` says so."""

    events: list[Event] = field(default_factory=list)
    opens: int = 0
    error: BaseException | None = None
    finished: bool = False

    def jobs(self, job_id: str) -> list[JobEvent]:
        return [e for e in self.events if isinstance(e, JobEvent) and e.data.id == job_id]

    async def wait_for(self, probe: Callable[[Reading], Any], what: str, timeout_s: float = 20) -> Any:
        async def check() -> Any:
            if self.error is not None:
                raise self.error
            return probe(self)

        return await until(check, timeout_s=timeout_s, what=what)


async def read_events(
    jobq: Both, done: Callable[[Reading], bool], **kwargs: Any
) -> tuple[Reading, asyncio.Future[None]]:
    """Iterate `jobq.events(**kwargs)` in the background (a thread for the blocking client)
    until `done(reading)` after an event; the future ends with the iteration."""
    reading = Reading()

    def opened() -> None:
        reading.opens += 1

    client = jobq.client
    if isinstance(client, AsyncClient):

        async def iterate() -> None:
            try:
                async for event in client.events(on_open=opened, **kwargs):
                    reading.events.append(event)
                    if done(reading):
                        return
            except BaseException as exc:
                reading.error = exc
                raise
            finally:
                reading.finished = True

        return reading, asyncio.ensure_future(iterate())

    sync = client

    def iterate_sync() -> None:
        try:
            for event in sync.events(on_open=opened, **kwargs):
                reading.events.append(event)
                if done(reading):
                    return
        except BaseException as exc:
            reading.error = exc
            raise
        finally:
            reading.finished = True

    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(None)

    def thread() -> None:
        error: BaseException | None = None
        try:
            iterate_sync()
        except BaseException as exc:
            error = exc
        loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=thread, daemon=True).start()
    return reading, future


async def warm_up(jobq: Both, reading: Reading) -> None:
    """Submit jobs until the stream carries one's event: from then on no change goes unseen. (An
    API that had no stream open takes the jobs there at its first look as given, sending nothing.)"""

    async def probe() -> bool:
        if reading.error is not None:
            raise reading.error
        if any(isinstance(e, JobEvent) for e in reading.events):
            return True
        await jobq.submit("jobq.noop", tags=["warm-up"])
        return False

    await until(probe, timeout_s=20, every_s=0.5, what="a job event on the stream")


def succeeded(job_id: list[str]) -> Callable[[Reading], bool]:
    return lambda r: bool(job_id) and any(e.data.status == "succeeded" for e in r.jobs(job_id[0]))


async def test_events_are_the_jobs_changes_as_models_in_order(
    make_client: MakeClient, api_url: str, admin_key: str, start_worker: StartWorker
) -> None:
    jobq = await make_client(api_url, admin_key)
    watched: list[str] = []
    reading, finished = await read_events(jobq, succeeded(watched))
    await warm_up(jobq, reading)
    assert reading.opens == 1

    job = await jobq.submit("jobq.sleep", {"seconds": 2, "steps": 2})  # no worker yet: it waits, queued
    watched.append(job.id)
    await reading.wait_for(lambda r: r.jobs(job.id), "the job's queued event")
    await start_worker()
    await asyncio.wait_for(finished, 30)

    events = reading.jobs(job.id)
    statuses = [e.data.status for e in events]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses, statuses
    assert statuses == sorted(statuses, key=["queued", "running", "succeeded"].index)
    assert all(e.data.type == "jobq.sleep" and e.data.queue == "default" for e in events)
    assert events[-1].data.finished_at is not None and events[-1].data.attempts == 1
    assert any(isinstance(e, QueuesEvent) and any(q.name == "default" for q in e.data.queues) for e in reading.events)
    numbers = [int(e.id.rpartition("-")[2]) for e in reading.events]
    assert numbers == sorted(set(numbers)), "event ids increase"
    assert not any(isinstance(e, ResetEvent) for e in reading.events)


def seen(reading: Reading) -> set[str]:
    return {e.data.id for e in reading.events if isinstance(e, JobEvent)}


async def test_a_stream_resumed_after_an_event_replays_what_came_after_it(
    make_client: MakeClient, api_url: str, admin_key: str
) -> None:
    jobq = await make_client(api_url, admin_key)
    missed: set[str] = set()
    # A stream open throughout: once it has the jobs below, so does the API's buffer.
    witness, witnessed = await read_events(jobq, lambda r: bool(missed) and missed <= seen(r))
    await warm_up(jobq, witness)

    first = await jobq.submit("jobq.noop")  # no worker: it stays queued
    reading, finished = await read_events(jobq, lambda r: first.id in seen(r))
    await asyncio.wait_for(finished, 20)  # that iteration stopped: its stream is closed
    last = reading.jobs(first.id)[-1].id

    jobs = [await jobq.submit("jobq.noop", {"n": n}) for n in range(3)]  # while it is closed
    missed.update(job.id for job in jobs)
    await asyncio.wait_for(witnessed, 20)
    resumed, done = await read_events(jobq, lambda r: missed <= seen(r), last_event_id=last)
    await asyncio.wait_for(done, 20)

    replayed = [e for e in resumed.events if isinstance(e, JobEvent)]
    assert {e.data.id for e in replayed[:3]} == missed and all(e.data.status == "queued" for e in replayed[:3])
    assert not any(isinstance(e, ResetEvent) for e in resumed.events)

    unknown, stopped = await read_events(jobq, lambda r: True, last_event_id="0badc0de-7")
    await asyncio.wait_for(stopped, 20)
    assert isinstance(unknown.events[0], ResetEvent) and unknown.events[0].data.reason == "unknown_id"


async def test_a_stream_gone_silent_is_opened_again_and_reads_on(
    make_client: MakeClient, api_url: str, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_events, "IDLE_S", 0.5)  # the API's keep-alives come every 15 s
    counting = Counting()
    jobq = await make_client(api_url, admin_key, transport=counting)
    watched: list[str] = []
    reading, finished = await read_events(jobq, lambda r: bool(watched) and bool(r.jobs(watched[0])))
    await warm_up(jobq, reading)
    await reading.wait_for(lambda r: r.opens >= 3, "the silent stream to be opened twice more")

    job = await jobq.submit("jobq.noop")
    watched.append(job.id)
    await asyncio.wait_for(finished, 20)

    assert reading.jobs(job.id)[0].data.status == "queued"
    assert counting.count("GET", "/v1/events") == reading.opens >= 3
    assert not any(isinstance(e, ResetEvent) for e in reading.events), "each stream resumed after the last event"


async def test_a_stream_that_cannot_be_opened_raises_its_error(
    make_client: MakeClient, api_url: str, admin_key: str
) -> None:
    for jobq, error in [
        (await make_client(api_url, "jobq_not-a-key"), Unauthorized),
        (await make_client(api_url, admin_key, transport=Counting(refuse={"/v1/events": 404})), NotFound),
    ]:
        reading, finished = await read_events(jobq, lambda r: True)
        with pytest.raises(error):
            await asyncio.wait_for(finished, 20)
        assert reading.opens == 0 and reading.events == []

    counting = Counting(refuse={"/v1/events": 503})
    retry = RetryPolicy(attempts=3, backoff_s=0.01)
    jobq = await make_client(api_url, admin_key, transport=counting, retry=retry)
    reading, finished = await read_events(jobq, lambda r: True)
    with pytest.raises(Unavailable):
        await asyncio.wait_for(finished, 20)
    assert counting.count("GET", "/v1/events") == 3, "opening is retried as any read is"
