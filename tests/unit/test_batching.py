"""Group commit: writes submitted together go as one group, and each caller gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from jobq_core.batching import GroupWriter


class Recorder:
    def __init__(self, delay_s: float = 0.01, fail: Exception | None = None) -> None:
        self.groups: list[list[int]] = []
        self.delay_s, self.fail = delay_s, fail

    async def write(self, group: Sequence[tuple[int, str]]) -> dict[int, str]:
        self.groups.append([key for key, _ in group])
        await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        return {key: value.upper() for key, value in group if key % 2 == 0}


async def test_an_idle_writer_sends_a_lone_write_at_once() -> None:
    recorder = Recorder()
    writer = GroupWriter(recorder.write)

    assert await writer.submit(2, "a") == "A"
    assert recorder.groups == [[2]]


async def test_writes_that_arrive_together_or_while_one_is_in_flight_go_as_groups() -> None:
    recorder = Recorder(delay_s=0.05)
    writer = GroupWriter(recorder.write)

    first = asyncio.create_task(writer.submit(0, "zero"))
    await asyncio.sleep(0.01)  # the first group is in flight
    rest = [asyncio.create_task(writer.submit(i, f"v{i}")) for i in range(1, 101)]
    results = await asyncio.gather(first, *rest)

    assert recorder.groups == [[0], list(range(1, 101))]
    # Each caller gets the answer for its own key; a key the write did not find gets None.
    assert results[0] == "ZERO"
    assert results[1:] == [f"V{i}" if i % 2 == 0 else None for i in range(1, 101)]


async def test_groups_are_capped() -> None:
    recorder = Recorder()
    writer = GroupWriter(recorder.write, max_group=40)

    await asyncio.gather(*(writer.submit(i, "x") for i in range(100)))

    assert [len(g) for g in recorder.groups] == [40, 40, 20]


async def test_a_failed_write_fails_every_caller_of_its_group_and_the_writer_carries_on() -> None:
    recorder = Recorder(fail=ConnectionError("down"))
    writer = GroupWriter(recorder.write)

    results = await asyncio.gather(*(writer.submit(i, "x") for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)

    recorder.fail = None
    assert await writer.submit(4, "ok") == "OK"


async def test_a_cancelled_caller_does_not_cancel_the_write_of_its_group() -> None:
    recorder = Recorder(delay_s=0.05)
    writer = GroupWriter(recorder.write)
    doomed = asyncio.create_task(writer.submit(0, "a"))
    other = asyncio.create_task(writer.submit(2, "b"))
    await asyncio.sleep(0.01)

    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed

    assert await other == "B"
    assert recorder.groups == [[0, 2]]


async def test_a_key_submitted_twice_in_one_group_gets_its_result_once() -> None:
    recorder = Recorder(delay_s=0.05)
    writer = GroupWriter(recorder.write)
    first = asyncio.create_task(writer.submit(0, "in flight"))
    await asyncio.sleep(0.01)

    twice = await asyncio.gather(writer.submit(2, "a"), writer.submit(2, "a"))

    assert await first == "IN FLIGHT"
    assert sorted(twice, key=str) == ["A", None]
