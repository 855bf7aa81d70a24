"""Taking a queue's messages from Redis and running them, a group at a time.

The messages keep ARQ's layout (a sorted set per queue, a job key per message, an
in-progress key as the lease), but jobq reads them with its own loop instead of ARQ's
worker: ARQ makes several round trips per job (a WATCH/MULTI per job to lease it, a
pipeline to read it, another to finish it) and polls an idle queue. Here one Lua call
acknowledges every delivery finished since the last call and leases as many new
messages as there are free slots; an idle consumer sleeps until an enqueue publishes
on the queue's channel (see ``jobq_core.dispatch.channel``), with a slow poll as a safety net.

The consumers of one worker share its :class:`Slots`: ``JOBQ_CONCURRENCY`` bounds the
jobs the process runs at once, whatever queue they come from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.dispatch.wire import Delivery, Message
from jobq_core.errors import JobqError, RedisUnavailable, SerializationError

log = logging.getLogger("jobq.worker")


class RedeliverLater(JobqError):
    """The delivery could not be claimed now (PostgreSQL is away): deliver it again after a while."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(f"in {delay_s}s")
        self.delay_s = delay_s


class Slots:
    """The jobs a worker process may run at once, shared by its queues' consumers.

    A consumer reserves slots before it asks Redis for messages and gives back what it
    did not get. A slot that frees up wakes first the consumers that found none free,
    so a busy queue does not keep every slot from a queue that waited.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0  # running deliveries plus reservations
        self._starved: list[QueueConsumer] = []

    def reserve(self, consumer: QueueConsumer) -> int:
        """Reserve every free slot for `consumer`; 0 when none is free (it is then woken first)."""
        free = self.capacity - self.used
        if free <= 0:
            if consumer not in self._starved:
                self._starved.append(consumer)
            return 0
        self.used += free
        return free

    def give_back(self, count: int) -> None:
        """Return `count` reserved slots that found no message."""
        self.used -= count
        if count:
            self._wake_starved()

    def finished(self) -> None:
        """One running delivery ended: its slot is free."""
        self.used -= 1
        self._wake_starved()

    def _wake_starved(self) -> None:
        starved, self._starved = self._starved, []
        for consumer in starved:
            consumer.wake()


class QueueConsumer:
    """Runs deliveries of one queue, as many as the worker's shared slots allow."""

    def __init__(
        self,
        queue: str,
        channel: DispatchChannel,
        handle: Callable[[Message], Awaitable[None]],
        *,
        slots: Slots,
        default_lease_s: float,
        poll_s: float,
    ) -> None:
        self.queue, self.channel, self.handle = queue, channel, handle
        self.slots, self.default_lease_ms, self.poll_s = slots, int(default_lease_s * 1000), poll_s
        self.tasks: set[asyncio.Task[None]] = set()
        self.taking = True  # False while the queue is paused here or the worker drains
        self._acks: list[str] = []
        self._changed = asyncio.Event()  # a slot freed, a message was published, or `taking` changed
        self._between_takes = asyncio.Event()  # clear while a take is under way
        self._between_takes.set()

    def wake(self) -> None:
        """Look at the queue now (an enqueue was published, or the pick rules changed)."""
        self._changed.set()

    async def run(self) -> None:
        """Take and run deliveries until cancelled; Redis outages propagate."""
        while True:
            self._changed.clear()
            free = self.slots.reserve(self) if self.taking else 0
            self._between_takes.clear()
            try:
                try:
                    taken = await self._take(free)
                except BaseException:
                    self.slots.give_back(free)
                    raise
                self.slots.give_back(free - len(taken))
                for delivery in taken:
                    task = asyncio.create_task(self._run(delivery))
                    self.tasks.add(task)
            finally:
                self._between_takes.set()
            if free == 0 or len(taken) < free:
                # Full, or the queue has nothing due: wait for a slot, a wake-up, or the poll.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_s):
                        await self._changed.wait()

    async def settled(self) -> None:
        """Return once no take is under way. With `taking` off, every delivery this consumer
        will ever run is then in `tasks`: a take that began before still starts what it took."""
        await self._between_takes.wait()

    async def flush(self) -> None:
        """Acknowledge what finished, taking nothing (the last call before stopping)."""
        await self._take(0)

    async def _take(self, want: int) -> list[Delivery]:
        if want == 0 and not self._acks:
            return []
        acks, self._acks = self._acks, []
        try:
            return await self.channel.take(self.queue, want, self.default_lease_ms, acks)
        except BaseException:
            self._acks[:0] = acks  # sent with the next call
            raise

    async def _run(self, delivery: Delivery) -> None:
        acknowledge = True
        try:
            await self.handle(delivery.message())
        except RedeliverLater as later:
            acknowledge = False
            await self._release(delivery, later.delay_s)
        except asyncio.CancelledError:
            # The worker is stopping: the runner handed the job back; let another worker
            # take the message at once instead of after the lease.
            acknowledge = False
            await asyncio.shield(self._release(delivery, 0.0))
            raise
        except SerializationError as exc:
            log.error("dropped message %s of queue %s: %s", delivery.arq_id, self.queue, exc)
        except Exception:  # the runner records handler errors; this is anything else
            log.exception("delivery %s of queue %s failed", delivery.arq_id, self.queue)
        finally:
            current = asyncio.current_task()
            if current is not None:
                self.tasks.discard(current)
            if acknowledge:
                self._acks.append(delivery.arq_id)
            self.slots.finished()  # wakes a starved queue's consumer before this one
            self._changed.set()

    async def _release(self, delivery: Delivery, delay_s: float) -> None:
        try:
            await self.channel.release(self.queue, [delivery.arq_id], delay_s)
        except RedisUnavailable:
            log.warning("Redis unavailable: %s is taken again when its lease ends", delivery.arq_id)
