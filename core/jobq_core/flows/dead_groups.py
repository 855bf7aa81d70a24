"""Dead jobs grouped by how they failed, and a group retried by hand.

Groups are counted in Python, with the pure rules of ``model/fingerprint.py``, over a
bounded page: the newest `SCAN_LIMIT` dead jobs (optionally of one queue and type),
found through the indexes on status (see ``newest_dead_jobs``), with only the first
`MESSAGE_CHARS` characters of each message. However many dead jobs there are, one call
fetches at most that many and says whether there were more (`truncated`). The rules
live once, in Python: normalising in SQL too would be a second copy to keep in step
with the one the unit tests check.

Retrying a group picks its members from the same page, so every job a listing counts
can be retried, and each retry moves the oldest out of the page: called again, it
reaches older ones.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg

from jobq_core.dispatch.channel import DispatchChannel
from jobq_core.flows.submit import dispatch_waiting
from jobq_core.model.fingerprint import MESSAGE_CHARS, DeadGroup, DeadJob, Grouper, oldest_first
from jobq_core.pg import store

SCAN_LIMIT = 50_000
"""The most dead jobs (the newest) one listing or retry reads."""
RETRY_CAP = 1_000
"""The most jobs one group retry sends back to the queue."""
_CHUNK = 2_000  # jobs fingerprinted between yields to the event loop (about 15 ms of work)


@dataclass(frozen=True)
class DeadGroups:
    """The groups found among the newest dead jobs."""

    groups: list[DeadGroup]
    scanned: int
    """Dead jobs read (at most `SCAN_LIMIT`)."""
    truncated: bool
    """Whether older dead jobs were left unread."""


@dataclass(frozen=True)
class GroupRetried:
    """What retrying a group did."""

    fingerprint: str
    retried: int
    """Jobs sent back to the queue."""
    remaining: int
    """Jobs of the group still dead among those read."""
    scanned: int
    truncated: bool
    dispatched: bool
    """False when Redis was down: the retried jobs wait for the dispatch relay."""


async def _newest_dead(pool: asyncpg.Pool, queue: str | None, type: str | None) -> tuple[list[asyncpg.Record], bool]:
    rows = await store.newest_dead(pool, queue=queue, type=type, limit=SCAN_LIMIT + 1, message_chars=MESSAGE_CHARS)
    return rows[:SCAN_LIMIT], len(rows) > SCAN_LIMIT


async def _in_chunks(rows: Sequence[asyncpg.Record]) -> AsyncIterator[list[DeadJob]]:
    """The rows as dead jobs, a chunk at a time, yielding to the event loop in between:
    50,000 rows take a few hundred milliseconds to fingerprint, and other requests wait
    no more than a chunk's worth."""
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        yield [DeadJob(r["id"], r["type"], r["error_type"], r["message"], r["finished_at"]) for r in chunk]
        await asyncio.sleep(0)


async def dead_groups(pool: asyncpg.Pool, *, queue: str | None = None, type: str | None = None) -> DeadGroups:
    """The newest dead jobs (of `queue` and `type`, if given) grouped by fingerprint."""
    rows, truncated = await _newest_dead(pool, queue, type)
    grouper = Grouper()
    async for jobs in _in_chunks(rows):
        grouper.add(jobs)
    return DeadGroups(grouper.groups(), len(rows), truncated)


async def retry_group(
    pool: asyncpg.Pool,
    channel: DispatchChannel,
    fingerprint: str,
    *,
    limit: int = RETRY_CAP,
    queue: str | None = None,
    type: str | None = None,
) -> GroupRetried | None:
    """Retry up to `limit` of the group's dead jobs, the longest dead first, each with one
    more attempt, and dispatch them; None when no dead job read has this fingerprint."""
    rows, truncated = await _newest_dead(pool, queue, type)
    grouper = Grouper()
    members: list[DeadJob] = []
    async for jobs in _in_chunks(rows):
        members += [job for job in jobs if grouper.key(job) == fingerprint]
    if not members:
        return None
    chosen: list[uuid.UUID] = [job.id for job in oldest_first(members)[: min(limit, RETRY_CAP)]]
    retried = await store.retry_dead(pool, chosen)
    dispatched = await dispatch_waiting(pool, channel, retried)
    return GroupRetried(fingerprint, len(retried), len(members) - len(retried), len(rows), truncated, dispatched)
