"""`jobq tail`: a line per job change as it happens, until it is stopped."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from jobq_client import AsyncClient
from jobq_client.models import JobEvent
from tests.client.cli.conftest import Cli
from tests.integration.conftest import StartWorker
from tests.support.wait import until


@dataclass
class Tail:
    """A running `jobq tail`, its output read as it comes."""

    process: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            reader = threading.Thread(target=lambda s=stream, into=lines: into.extend(iter(s.readline, "")))
            reader.start()
            self.readers.append(reader)

    async def wait_for(self, probe: Callable[[list[str]], object], what: str, timeout_s: float = 20) -> None:
        async def check() -> object:
            if self.process.poll() is not None:
                raise AssertionError(f"tail exited {self.process.returncode}: {self.err}")
            return probe(self.out)

        await until(check, timeout_s=timeout_s, what=what)

    def stop(self) -> int:
        """SIGTERM it, as a supervisor would; its exit status once its output is read to the end."""
        self.process.send_signal(signal.SIGTERM)
        return self.end()

    def end(self) -> int:
        code = self.process.wait(10)
        for reader in self.readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            assert stream is not None
            stream.close()
        return code


@pytest.fixture
async def tail(cli: Cli) -> AsyncIterator[Callable[..., Tail]]:
    started: list[Tail] = []

    def start(*args: str) -> Tail:
        started.append(Tail(cli.start("tail", *args)))
        return started[-1]

    yield start
    for t in started:
        if t.process.poll() is None:
            t.process.kill()
        t.end()


async def warm_up(api: AsyncClient, tail: Tail, seen: Callable[[list[str]], bool]) -> None:
    """Submit jobs until tail shows one: from then on no change goes unseen (an API that had no
    stream open takes the jobs there at its first look as given, sending nothing for them)."""
    await until(lambda: opened(tail), what="tail to open its stream")

    async def probe() -> bool:
        if seen(tail.out):
            return True
        await api.submit("jobq.noop", tags=["warm-up"])
        return False

    await until(probe, timeout_s=20, every_s=0.5, what="a warm-up job on the tail")


async def opened(tail: Tail) -> bool:
    return any("following job changes at" in line for line in tail.err)


async def test_tail_prints_a_jobs_state_changes_as_they_happen_until_terminated(
    tail: Callable[..., Tail], api: AsyncClient, api_url: str, start_worker: StartWorker
) -> None:
    following = tail()
    await warm_up(api, following, lambda out: any("jobq.noop" in line for line in out))
    assert following.err == [f"jobq: following job changes at {api_url} (Ctrl-C stops)\n"]

    job = await api.submit("jobq.sleep", {"seconds": 2, "steps": 2})  # no worker yet: queued
    mine = lambda out: [line for line in out if job.id in line]  # noqa: E731
    await following.wait_for(lambda out: mine(out), "the queued line")
    await start_worker()
    await following.wait_for(lambda out: any(" succeeded " in line for line in mine(out)), "the succeeded line")

    lines = mine(following.out)
    status = r"(queued|running|succeeded) +attempt (0|1)/3( +50% slept 1/2)?"
    pattern = rf"\d\d:\d\d:\d\d  {job.id}  jobq\.sleep  default  {status}"
    assert all(re.fullmatch(pattern, line.rstrip("\n")) for line in lines), lines
    statuses = [line.split()[4] for line in lines]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses, lines
    assert any("50% slept 1/2" in line for line in lines), "progress shows while it runs"

    assert following.stop() == 0
    assert len(following.err) == 1, "nothing more to say on stderr"


async def test_tail_json_is_one_event_per_line_of_the_type_asked_for(
    tail: Callable[..., Tail], api: AsyncClient
) -> None:
    only_sleeps = tail("--json", "--type", "jobq.sleep")
    everything = tail("--json")
    await warm_up(api, everything, lambda out: bool(out))
    await until(lambda: opened(only_sleeps), what="the other tail to open")

    noop = await api.submit("jobq.noop")
    sleep = await api.submit("jobq.sleep", {"seconds": 1})
    await everything.wait_for(lambda out: sleep.id in "".join(out) and noop.id in "".join(out), "both jobs")
    await only_sleeps.wait_for(lambda out: sleep.id in "".join(out), "the sleep job")

    events = [JobEvent.model_validate(json.loads(line)) for line in only_sleeps.out]  # each line one event
    assert {e.data.id for e in events} == {sleep.id} and events[0].data.status == "queued"
    assert noop.id not in "".join(only_sleeps.out)
    assert {json.loads(line)["event"] for line in everything.out} == {"job"}
    assert only_sleeps.stop() == everything.stop() == 0
