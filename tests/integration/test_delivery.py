"""The worker's side of the dispatch channel against a real Redis: leases, acks, releases,
wake-ups, and a worker process that picks a job up at once instead of at its next poll."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from jobq_core import names
from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.dispatch.wire import Delivery, Dispatch, Message
from jobq_worker.consumer import QueueConsumer, Slots
from tests.integration.api_helpers import submit
from tests.integration.conftest import StartWorker, wait_for_status
from tests.support.wait import until

LEASE_MS = 60_000


def dispatch(queue: str, attempt: int = 1) -> Dispatch:
    return Dispatch(str(uuid.uuid4()), attempt, queue, datetime.now(UTC))


@pytest.fixture
def queue() -> str:
    """A queue of this test's own: the session's Redis is shared."""
    return f"q-{uuid.uuid4().hex[:8]}"


async def test_a_taken_message_is_leased_and_no_one_else_takes_it(redis_client: aioredis.Redis, queue: str) -> None:
    client = DispatchChannel(redis_client)
    sent = [dispatch(queue) for _ in range(5)]
    assert await client.enqueue(sent) == 5

    first = await client.take(queue, 3, LEASE_MS)
    second = await client.take(queue, 10, LEASE_MS)

    assert len(first) == 3 and len(second) == 2
    ids = {d.arq_id for d in first} | {d.arq_id for d in second}
    assert ids == {names.arq_job_id(d.job_id, 1) for d in sent}
    assert await client.take(queue, 10, LEASE_MS) == []
    message = first[0].message()
    assert names.arq_job_id(message.job_id, message.attempt) == first[0].arq_id
    # Still in the sorted set while running (a dead worker's messages are taken again later).
    assert await redis_client.zcard(names.redis_queue_key(queue)) == 5


async def test_an_ack_removes_the_message_its_job_key_and_its_lease(redis_client: aioredis.Redis, queue: str) -> None:
    client = DispatchChannel(redis_client)
    await client.enqueue([dispatch(queue), dispatch(queue)])
    taken = await client.take(queue, 2, LEASE_MS)

    await client.take(queue, 0, LEASE_MS, acks=[taken[0].arq_id])

    arq_id = taken[0].arq_id
    assert await redis_client.zscore(names.redis_queue_key(queue), arq_id) is None
    assert not await redis_client.exists(names.ARQ_JOB_PREFIX + arq_id, names.ARQ_IN_PROGRESS_PREFIX + arq_id)
    assert await redis_client.exists(names.ARQ_IN_PROGRESS_PREFIX + taken[1].arq_id)
    # An acknowledged attempt may be dispatched again (a retry by hand reuses no id, but
    # a handed-back attempt does): Redis no longer holds it.
    assert await client.enqueue([Dispatch(arq_id.rsplit(":", 1)[0], 1, queue, datetime.now(UTC))]) == 1


async def test_a_lease_that_ends_lets_another_worker_take_the_message(redis_client: aioredis.Redis, queue: str) -> None:
    client = DispatchChannel(redis_client)
    await client.enqueue([dispatch(queue)])
    taken = await client.take(queue, 1, LEASE_MS)
    assert await client.take(queue, 1, LEASE_MS) == []

    # The lease ends (as it does when the worker holding it died): another worker takes it.
    await redis_client.pexpire(names.ARQ_IN_PROGRESS_PREFIX + taken[0].arq_id, 50)
    await asyncio.sleep(0.2)

    again = await client.take(queue, 1, LEASE_MS)
    assert [d.arq_id for d in again] == [taken[0].arq_id]


async def test_each_lease_lasts_its_own_jobs_timeout_plus_the_margin(redis_client: aioredis.Redis, queue: str) -> None:
    client = DispatchChannel(redis_client)
    short = Dispatch(str(uuid.uuid4()), 1, queue, datetime.now(UTC), timeout_s=5)
    long = Dispatch(str(uuid.uuid4()), 1, queue, datetime.now(UTC), timeout_s=3600)
    await client.enqueue([short, long])
    # The default (for a message that names no lease) is far from both.
    taken = {d.arq_id: d for d in await client.take(queue, 2, 1_000)}
    assert len(taken) == 2
    leases = {arq_id.split(":")[0]: await redis_client.pttl(names.ARQ_IN_PROGRESS_PREFIX + arq_id) for arq_id in taken}
    assert 60_000 < leases[short.job_id] <= 65_000
    assert 3_600_000 < leases[long.job_id] <= 3_660_000


async def test_a_message_that_names_no_lease_gets_the_default(redis_client: aioredis.Redis, queue: str) -> None:
    # A message written by another producer (no "l" first in the body) is leased for the consumer's default.
    client = DispatchChannel(redis_client)
    await redis_client.set(names.ARQ_JOB_PREFIX + "other:1", b'{"t":null,"f":"jobq.run","a":[],"k":{},"et":0}')
    await redis_client.zadd(names.redis_queue_key(queue), {"other:1": 0})
    (taken,) = await client.take(queue, 1, 7_000)
    assert 0 < await redis_client.pttl(names.ARQ_IN_PROGRESS_PREFIX + taken.arq_id) <= 7_000


async def test_release_hands_a_message_back_now_or_after_a_delay(redis_client: aioredis.Redis, queue: str) -> None:
    client = DispatchChannel(redis_client)
    await client.enqueue([dispatch(queue), dispatch(queue)])
    a, b = await client.take(queue, 2, LEASE_MS)

    await client.release(queue, [a.arq_id])
    await client.release(queue, [b.arq_id], defer_s=30)

    assert [d.arq_id for d in await client.take(queue, 2, LEASE_MS)] == [a.arq_id]
    due = await redis_client.zscore(names.redis_queue_key(queue), b.arq_id)
    assert due is not None and due > (time.time() + 25) * 1000


async def test_a_message_whose_job_key_expired_is_dropped(redis_client: aioredis.Redis, queue: str) -> None:
    client = DispatchChannel(redis_client)
    gone, kept = dispatch(queue), dispatch(queue)
    await client.enqueue([gone, kept])
    await redis_client.delete(names.ARQ_JOB_PREFIX + names.arq_job_id(gone.job_id, 1))

    taken = await client.take(queue, 5, LEASE_MS)

    assert [d.arq_id for d in taken] == [names.arq_job_id(kept.job_id, 1)]
    assert await redis_client.zcard(names.redis_queue_key(queue)) == 1


async def test_take_steps_over_running_messages_to_reach_waiting_ones(redis_client: aioredis.Redis, queue: str) -> None:
    # ARQ reads a fixed window from the head of the queue; running messages stay at the
    # head, so a full window of them starves the rest. The scan must go past them.
    client = DispatchChannel(redis_client)
    await client.enqueue([dispatch(queue) for _ in range(300)])
    running = await client.take(queue, 250, LEASE_MS)

    rest = await client.take(queue, 100, LEASE_MS)

    assert len(running) == 250 and len(rest) == 50


async def test_an_enqueue_publishes_on_the_queue_channel_once_per_call(
    redis_client: aioredis.Redis, queue: str
) -> None:
    client = DispatchChannel(redis_client)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(names.redis_queue_key(queue), names.redis_queue_key(queue + "-2"))
    for _ in range(2):
        await pubsub.get_message(timeout=1)  # the subscribe confirmations
    try:
        await client.enqueue([dispatch(queue), dispatch(queue), dispatch(queue + "-2")])
        already = dispatch(queue)
        await client.enqueue([already])
        await client.enqueue([already])  # nothing new: no wake-up

        channels = []
        while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)) is not None:
            channels.append(message["channel"].decode())
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    assert sorted(channels) == sorted(
        [names.redis_queue_key(queue), names.redis_queue_key(queue + "-2"), names.redis_queue_key(queue)]
    )


async def test_an_idle_worker_wakes_on_enqueue_rather_than_at_its_next_poll(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    start_worker: StartWorker,
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    poll_s = 10.0
    await start_worker(JOBQ_POLL_DELAY_S=str(poll_s))
    queue_key = names.redis_queue_key("default")

    async def subscribed() -> bool:
        [(_, count)] = await redis_client.pubsub_numsub(queue_key)
        return int(count) > 0

    async def acknowledged() -> bool:
        return await redis_client.zcard(queue_key) == 0

    await until(subscribed, what="the worker to listen on the queue's channel")
    # One job at a time, each once the worker acknowledged the last: that ack is its last
    # take, so it is idle in its poll wait, and only a wake-up can start the next job
    # before the poll ends. The first job is not timed: the worker may take it with the
    # takes it makes on starting; so may one more, but only one.
    waits = []
    for _ in range(4):
        job = await submit(api, auth, type="jobq.noop")
        done = await wait_for_status(api, auth, job["id"], {"succeeded", "dead"}, timeout_s=poll_s + 5)
        assert done["status"] == "succeeded"
        await until(acknowledged, what=f"the worker to acknowledge job {job['id']}")
        sql = "SELECT extract(epoch FROM started_at - created_at) FROM jobq_jobs WHERE id = $1::uuid"
        waits.append(float(await db.fetchval(sql, job["id"])))

    assert max(waits[1:]) < poll_s / 5, waits


class GatedChannel(DispatchChannel):
    """The real channel, each take held at a gate first: a take under way, on demand."""

    def __init__(self, redis_client: aioredis.Redis) -> None:
        super().__init__(redis_client)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def take(self, queue: str, want: int, default_lease_ms: int, acks: Sequence[str] = ()) -> list[Delivery]:
        self.waiting.set()
        await self.gate.wait()
        return await super().take(queue, want, default_lease_ms, acks)


async def test_a_take_under_way_when_the_drain_begins_has_its_jobs_among_the_tasks_it_waits_for(
    redis_client: aioredis.Redis, queue: str
) -> None:
    channel = GatedChannel(redis_client)
    await channel.enqueue([dispatch(queue)])
    ran: list[str] = []
    finish = asyncio.Event()

    async def handle(message: Message) -> None:
        await finish.wait()
        ran.append(message.job_id)

    consumer = QueueConsumer(queue, channel, handle, slots=Slots(2), default_lease_s=60, poll_s=0.1)
    loop = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(channel.waiting.wait(), 5)  # the consumer is inside a take
        consumer.taking = False  # what the drain does first
        consumer.wake()
        settled = asyncio.create_task(consumer.settled())
        await asyncio.sleep(0.2)
        assert not settled.done(), "settled while a take was under way"

        channel.gate.set()
        await asyncio.wait_for(settled, 5)
        # What the drain waits for holds the job that take brought.
        assert len(consumer.tasks) == 1, "the taken delivery is not among the tasks"
        finish.set()
        await asyncio.wait_for(asyncio.gather(*consumer.tasks), 5)
        assert len(ran) == 1
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
