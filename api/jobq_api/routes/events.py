"""`GET /v1/events`: a server-sent events stream of job, queue and worker changes.

The browser reads it with `fetch` (EventSource cannot send the API key header). Every
event has an increasing `id`; a client reconnecting with `Last-Event-ID` gets the events
it missed, or `reset` when they are no longer kept (or the id is from another process or
start) and it must refetch. The data comes from the process's one :class:`EventHub`,
so streams cost PostgreSQL nothing each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from jobq_core.names import LAST_EVENT_ID_HEADER
from jobq_core.pg.apikeys import ApiKey
from jobq_core.pg.apikeys import Scope as KeyScope

from ..auth import require
from ..event_hub import BUFFER_EVENTS, BUFFER_S, EventHub, Stream
from ..models import ServerEvent

router = APIRouter(tags=["events"])

RETRY_MS = 2_000  # the `retry:` a client waits before reconnecting
KEEPALIVE_S = 15.0  # a comment this often keeps proxies from closing an idle stream
# A stream ends after this long and the client resumes with its Last-Event-ID: the key
# is checked again, so a revoked key's stream does not outlive it by more than this.
STREAM_MAX_S = 300.0

_RETRY = b"retry: %d\n\n" % RETRY_MS
_KEEPALIVE = b": keep-alive\n\n"


class EventStreamResponse(StreamingResponse):
    """A `text/event-stream` body that forgets its hub subscription however it ends."""

    media_type = "text/event-stream"

    def __init__(self, hub: EventHub, stream: Stream, replay: list[bytes] | None) -> None:
        self.hub, self.stream = hub, stream
        # Made at once, with the subscription: a reset's id is where the stream's queue starts.
        first = hub.reset_event("unknown_id") if replay is None else b"".join(replay)
        first += hub.unavailable_event() or b""  # opened during an outage: say so at once
        super().__init__(
            _events(hub, stream, first),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.hub.unsubscribe(self.stream)


class _EventStreamDocument(JSONResponse):
    """For the OpenAPI document only: the 200 body is `text/event-stream`, its schema the events'.

    (FastAPI documents a non-JSON response class's body as a bare string; the endpoint
    returns an :class:`EventStreamResponse` itself, so this class never renders.)
    """

    media_type = "text/event-stream"


async def _events(hub: EventHub, stream: Stream, first: bytes) -> AsyncIterator[bytes]:
    """The body: the retry, the replay (or a reset), then events as they come, and keep-alives."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_MAX_S
    yield _RETRY
    if first:
        yield first
    while not stream.closed and (left := deadline - loop.time()) > 0:
        await stream.wait(min(KEEPALIVE_S, left))
        if stream.behind:
            stream.take()
            yield hub.reset_event("behind")
        elif items := stream.take():
            yield b"".join(items)
        elif not stream.closed and loop.time() < deadline:
            yield _KEEPALIVE


_DESCRIPTION = f"""Server-sent events (`text/event-stream`) of what changes, for a dashboard to patch
itself instead of polling. Each event is `id`, `event` and one `data:` line of compact JSON:

- `job`: a job was created, or changed state, attempt or progress (its list-row fields).
- `queues`: the per-queue counts changed; the body of `GET /v1/queues`.
- `workers`: a worker came or went, or its running count changed; the body of `GET /v1/workers`.
- `unavailable`: PostgreSQL cannot be read, so the stream sees no changes until a `reset`
  (reason `recovered`) says it does again: poll meanwhile (the polls' 503s say what is down).
  A stream opened during the outage starts with it.
- `reset`: refetch everything, then read on: the `Last-Event-ID` sent is no longer kept (or
  is from another API process or start), this client read too slowly, too much changed at
  once, or PostgreSQL is back after an outage.

Reconnect with the last `id` received as `Last-Event-ID` to get the events missed while away
(the server keeps the last {BUFFER_EVENTS:,} events, at most {BUFFER_S / 60:.0f} minutes old). The stream starts with
`retry: {RETRY_MS}`, sends `: keep-alive` comments every {KEEPALIVE_S:.0f} s, and ends after
{STREAM_MAX_S / 60:.0f} minutes (resume then). It shows states, not every transition: a job
that went from queued to succeeded between two looks (about a second apart) shows as succeeded.
The key goes in the `Authorization` header, never in the URL."""


@router.get(
    "/v1/events",
    status_code=200,
    summary="Stream changes",
    description=_DESCRIPTION,
    response_class=_EventStreamDocument,
    response_model=ServerEvent,
    response_description="A stream of events, one per change.",
)
async def events(
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(
            alias=LAST_EVENT_ID_HEADER,
            max_length=100,
            description="The `id` of the last event received, to resume after it.",
        ),
    ] = None,
    _: ApiKey = Depends(require(KeyScope.JOBS_READ)),
) -> EventStreamResponse:
    """Server-sent events of job, queue and worker changes."""
    hub: EventHub = request.app.state.events
    stream, replay = hub.subscribe(last_event_id)
    return EventStreamResponse(hub, stream, replay)
