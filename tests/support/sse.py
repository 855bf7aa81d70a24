"""A test client for `GET /v1/events`: reads the stream in the background and keeps what came."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.support.wait import until


@dataclass
class Event:
    """One event, with the wall-clock time it arrived."""

    event: str
    id: str | None
    data: Any
    at: float

    @property
    def seq(self) -> int:
        """The event number within its API process start (the id after its run prefix)."""
        assert self.id is not None
        return int(self.id.rpartition("-")[2])


@dataclass
class EventReader:
    """What one stream delivered so far: events, comments, the retry field, the response."""

    events: list[Event] = field(default_factory=list)
    comments: list[tuple[str, float]] = field(default_factory=list)
    retry_ms: int | None = None
    response: httpx.Response | None = None

    def of(self, event: str) -> list[Event]:
        """The events of one type, in order."""
        return [e for e in self.events if e.event == event]

    def jobs(self, job_id: str) -> list[dict[str, Any]]:
        """The data of every `job` event about one job, in order."""
        return [e.data for e in self.events if e.event == "job" and e.data["id"] == job_id]

    async def wait_for(
        self, predicate: Callable[[Event], bool], *, timeout_s: float = 10, what: str = "an event"
    ) -> Event:
        """The first event (already here or still to come) that matches."""

        async def probe() -> Event | None:
            return next((e for e in self.events if predicate(e)), None)

        return await until(probe, timeout_s=timeout_s, every_s=0.02, what=what)

    def feed(self, lines: list[str]) -> None:
        """Take one block of lines (an event, a comment, a retry) as the HTML spec reads them."""
        event, data, event_id = "message", [], None
        for line in lines:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                self.comments.append((value, time.time()))
            elif name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
            elif name == "retry" and value.isdigit():
                self.retry_ms = int(value)
        if data:
            self.events.append(Event(event, event_id, orjson.loads("\n".join(data)), time.time()))


@contextlib.asynccontextmanager
async def read_events(
    base_url: str, headers: dict[str, str], last_event_id: str | None = None
) -> AsyncIterator[EventReader]:
    """Open `GET /v1/events` and read it in the background until the block ends."""
    reader = EventReader()
    if last_event_id is not None:
        headers = {**headers, "Last-Event-ID": last_event_id}
    opened = asyncio.Event()

    async def run() -> None:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None)) as client,
            client.stream("GET", "/v1/events", headers=headers) as response,
        ):
            reader.response = response
            opened.set()
            block: list[str] = []
            async for line in response.aiter_lines():
                if line:
                    block.append(line)
                else:
                    reader.feed(block)
                    block = []

    task = asyncio.create_task(run())
    waiter = asyncio.create_task(opened.wait())
    await asyncio.wait([task, waiter], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises what went wrong
    assert opened.is_set(), "the stream did not open within 10 s"
    try:
        yield reader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
