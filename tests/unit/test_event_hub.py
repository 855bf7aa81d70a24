"""The event hub's logic without a database: a scripted look stands in for PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from jobq_api import event_hub
from jobq_api.event_hub import EventHub, Stream, encode
from jobq_api.models import JobEventData
from jobq_core.errors import DatabaseUnavailable
from jobq_core.pg import changes
from jobq_core.pg.changes import Changes, Running

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def job(job_id: str, status: str = "queued", **fields: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "type": "jobq.noop",
        "queue": "default",
        "status": status,
        "priority": 0,
        "attempts": 1 if status == "running" else 0,
        "max_attempts": 3,
        "progress": None,
        "progress_message": None,
        "tags": [],
        "run_at": T0,
        "created_at": T0,
        "started_at": None,
        "finished_at": None,
        **fields,
    }


QUEUES = [{"name": "default", "ready": 0, "scheduled": 0, "running": 0, "dead": 0, "oldest_ready_age_s": None}]
WORKER = {"id": "w1", "alive": True, "running": 0, "heartbeat_at": T0}


class Script:
    """A look that answers what the test queued next, and records what it was asked."""

    def __init__(self) -> None:
        self.answers: asyncio.Queue[Changes | Exception] = asyncio.Queue()
        self.asked: list[tuple[datetime | None, dict[str, Running], bool]] = []

    def then(
        self, jobs: list[dict[str, Any]] | None = None, queues: list[dict[str, Any]] | None = None, workers: Any = None
    ) -> None:
        n = len(self.asked) + self.answers.qsize()
        self.answers.put_nowait(Changes(T0 + timedelta(seconds=n), jobs or [], queues, workers or [WORKER]))

    async def __call__(self, since: datetime | None, running: Mapping[str, Running], count: bool) -> Changes:
        self.asked.append((since, dict(running), count))
        answer = await self.answers.get()
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
async def hub() -> AsyncIterator[tuple[EventHub, Script]]:
    script = Script()
    hub = EventHub(script, interval_s=0.01)
    yield hub, script
    await hub.close()


async def received(stream: Stream, n: int) -> list[tuple[str, Any]]:
    """The next `n` events a stream gets, as (event, data)."""
    got: list[tuple[str, Any]] = []
    while len(got) < n:
        await stream.wait(2)
        items = stream.take()
        assert items, f"no event after {got}"
        for item in b"".join(items).decode().split("\n\n"):
            if item:
                fields = dict(line.split(": ", 1) for line in item.split("\n"))
                got.append((fields["event"], orjson.loads(fields["data"])))
    return got


def test_an_event_is_its_id_type_and_one_line_of_compact_json() -> None:
    wire = encode("ab-7", "job", {"id": "x", "at": T0, "progress": None})

    assert wire == b'id: ab-7\nevent: job\ndata: {"id":"x","at":"2026-12-01T12:00:00+00:00","progress":null}\n\n'


def test_the_job_event_fields_are_the_documented_ones() -> None:
    assert set(changes.JOB_FIELDS) == set(JobEventData.model_fields)


def test_a_full_stream_is_emptied_and_marked_behind_and_taking_clears_it() -> None:
    stream = Stream(backlog=3)
    for n in range(3):
        stream.offer(b"%d" % n)
    assert not stream.behind
    stream.offer(b"3")
    stream.offer(b"4")

    assert stream.behind
    assert stream.take() == [b"4"]
    assert not stream.behind


async def test_the_first_look_is_a_baseline_then_changes_are_sent_once(hub: tuple[EventHub, Script]) -> None:
    hub_, script = hub
    script.then([job("a", "running")], QUEUES)
    stream, replay = hub_.subscribe(None)
    assert replay == []
    # The baseline: no job event for what was already running; the queues and workers as they are.
    assert await received(stream, 2) == [
        ("queues", {"queues": QUEUES}),
        ("workers", {"workers": [orjson.loads(orjson.dumps(WORKER))]}),
    ]

    script.then([job("a", "running", progress=0.5), job("b")])
    first = await received(stream, 2)
    script.then([job("a", "running", progress=0.5), job("b")])  # read again (the look-back): nothing new
    script.then([job("b", "running")])
    second = await received(stream, 1)

    assert [(e, d["id"], d["status"], d["progress"]) for e, d in first] == [
        ("job", "a", "running", 0.5),
        ("job", "b", "queued", None),
    ]
    assert [(d["id"], d["status"]) for _, d in second] == [("b", "running")]
    since, running, _ = script.asked[1]
    assert since == T0 - timedelta(seconds=event_hub.LOOKBACK_S)
    assert running == {"a": Running(1, None, None)}
    assert script.asked[3][1] == {"a": Running(1, 0.5, None)}


async def test_a_heartbeat_alone_sends_no_workers_event(hub: tuple[EventHub, Script]) -> None:
    hub_, script = hub
    script.then([], QUEUES)
    stream, _ = hub_.subscribe(None)
    await received(stream, 2)

    script.then(workers=[{**WORKER, "heartbeat_at": T0 + timedelta(seconds=5)}])
    script.then(workers=[{**WORKER, "running": 1}])

    assert [e for e, _ in await received(stream, 1)] == ["workers"]
    assert len(script.asked) >= 3


async def test_resuming_replays_what_followed_the_id_and_anything_else_is_none(hub: tuple[EventHub, Script]) -> None:
    hub_, script = hub
    script.then([], QUEUES)
    stream, _ = hub_.subscribe(None)
    await received(stream, 2)
    mark = hub_.last_id
    script.then([job("a"), job("b")])
    await received(stream, 2)

    _, replay = hub_.subscribe(mark)
    _, current = hub_.subscribe(hub_.last_id)
    run, _, seq = hub_.last_id.rpartition("-")

    assert replay is not None and [orjson.loads(w.split(b"data: ")[1])["id"] for w in replay] == ["a", "b"]
    assert current == []
    assert hub_.subscribe(f"{run}-{int(seq) + 1}")[1] is None  # never sent
    assert hub_.subscribe(f"other-{seq}")[1] is None  # another process, or start
    assert hub_.subscribe("nonsense")[1] is None


async def test_an_id_older_than_the_buffer_cannot_be_resumed(
    hub: tuple[EventHub, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_hub, "BUFFER_EVENTS", 3)
    hub_, script = hub
    script.then([], QUEUES)
    stream, _ = hub_.subscribe(None)
    await received(stream, 2)
    mark = hub_.last_id
    script.then([job("a"), job("b")])
    await received(stream, 2)
    assert hub_.subscribe(mark)[1] is not None  # 2 events after it, 4 in all: the oldest went, not these

    script.then([job("c"), job("d")])
    await received(stream, 2)

    assert hub_.subscribe(mark)[1] is None


async def test_more_changes_than_a_look_sends_are_one_reset(
    hub: tuple[EventHub, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_hub, "LOOK_EVENTS", 2)
    hub_, script = hub
    script.then([], QUEUES)
    stream, _ = hub_.subscribe(None)
    await received(stream, 2)

    script.then([job("a"), job("b"), job("c")])
    script.then([job("d"), job("e"), job("f")])  # within OVERFLOW_RESET_S: owed, not sent again
    script.then([job("g")])

    got = await received(stream, 2)
    assert [(event, data.get("reason") or data["id"]) for event, data in got] == [("reset", "overflow"), ("job", "g")]


async def test_the_poller_outlives_an_outage_and_stops_when_no_one_listens(
    hub: tuple[EventHub, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_hub, "LINGER_S", 0.05)
    hub_, script = hub
    script.answers.put_nowait(DatabaseUnavailable("ConnectionRefusedError"))
    script.then([], QUEUES)
    stream, _ = hub_.subscribe(None)
    await received(stream, 2)
    old_id = hub_.last_id

    hub_.unsubscribe(stream)
    for _ in range(20):
        script.then()
    for _ in range(200):
        if not hub_.polling:
            break
        await asyncio.sleep(0.01)
    assert not hub_.polling, "the poller went on with no stream open"

    _, replay = hub_.subscribe(old_id)
    assert replay is None  # a new start: what happened while stopped was not kept


async def test_an_outage_is_announced_once_to_open_and_new_streams_and_its_end_is_a_reset(
    hub: tuple[EventHub, Script],
) -> None:
    hub_, script = hub
    script.then([], QUEUES)
    stream, _ = hub_.subscribe(None)
    await received(stream, 2)  # the baseline's queues and workers

    for _ in range(3):  # three failed looks: one announcement
        script.answers.put_nowait(DatabaseUnavailable("ConnectionRefusedError"))
    script.then([job("a")], QUEUES)
    got = await received(stream, 3)
    assert got == [
        ("unavailable", {"message": DatabaseUnavailable("ConnectionRefusedError").message}),
        ("reset", {"reason": "recovered"}),
        ("job", got[2][1]),
    ]
    assert got[2][1]["id"] == "a"
    assert hub_.unavailable_event() is None


async def test_during_an_outage_the_hub_has_the_event_a_new_stream_starts_with(hub: tuple[EventHub, Script]) -> None:
    hub_, script = hub
    script.answers.put_nowait(DatabaseUnavailable("ConnectionRefusedError"))
    first, _ = hub_.subscribe(None)
    assert (await received(first, 1))[0][0] == "unavailable"

    wire = hub_.unavailable_event()
    assert wire is not None and b"event: unavailable" in wire
