"""Group commit: many concurrent single writes made as one statement.

A worker's running deliveries each claim their job and record their outcome on their
own, and the API's requests each submit their job; a hundred of them at once would
make a hundred round trips and a hundred commits. A :class:`GroupWriter` sends the
first write at once and, while that statement is in flight, gathers the writes that
arrive; they go together in the next one. An idle process pays no delay; a busy one
pays one commit per group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")
Result = TypeVar("Result")

MAX_GROUP = 500


class GroupWriter(Generic[Key, Value, Result]):
    """Runs `write(group)` for groups of (key, value) items submitted one by one.

    `write` answers with a result per key it wrote (keys it leaves out get None); a key
    submitted twice in one group gets its result once, the other caller None (one
    claim of a job, not two); when `write` raises, every item of the group gets that
    exception.
    """

    def __init__(
        self, write: Callable[[Sequence[tuple[Key, Value]]], Awaitable[dict[Key, Result]]], max_group: int = MAX_GROUP
    ):
        self._write = write
        self._max_group = max_group
        self._waiting: list[tuple[Key, Value, asyncio.Future[Result | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, key: Key, value: Value) -> Result | None:
        """Write `value` under `key` with the next group; its result, or None."""
        future: asyncio.Future[Result | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, value, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a caller cancelled while its group is in flight must not cancel the
        # group's statement for everyone else; its own write still lands.
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_retrieve)
            raise

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[: self._max_group], self._waiting[self._max_group :]
            try:
                results = await self._write([(key, value) for key, value, _ in group])
            except Exception as exc:  # handed to each caller, who decides what an outage means
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for key, _, future in group:
                if not future.done():
                    future.set_result(results.pop(key, None))


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark the outcome of an abandoned write as seen (asyncio warns about unseen errors)."""
    if not future.cancelled():
        future.exception()
