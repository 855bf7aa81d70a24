"""A mixed workload over the HTTP API, for the dashboards to have something to show.

Waves of jobs for `seconds`: no-ops, short sleeps, jobs failing once then succeeding,
jobs failing every attempt (they end dead), a permanent failure, and one long sleep
cancelled while it runs. Uses the built-in job types only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Submitted:
    """What the workload submitted, by kind."""

    counts: dict[str, int] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    def add(self, kind: str, n: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n


def _wave(n: int) -> list[tuple[str, dict[str, object]]]:
    jobs: list[tuple[str, dict[str, object]]] = []
    jobs += [("noop", {"type": "jobq.noop"})] * 12
    jobs += [("sleep", {"type": "jobq.sleep", "payload": {"seconds": 0.05 + 0.05 * (n % 6)}})] * 6
    jobs += [("fail-once", {"type": "jobq.fail", "payload": {"times": 1}})] * 2
    if n % 3 == 0:
        jobs.append(("dead", {"type": "jobq.fail", "payload": {"message": "always fails"}}))
    if n % 5 == 0:
        jobs.append(("permanent", {"type": "jobq.fail", "payload": {"permanent": True}}))
    return jobs


async def run(api_url: str, key: str, seconds: float = 20.0, every_s: float = 1.0) -> Submitted:
    """Submit a wave every `every_s` for `seconds`, and cancel one long job while it runs."""
    done = Submitted()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as client:
        long = await client.post("/v1/jobs", json={"type": "jobq.sleep", "payload": {"seconds": 600}})
        long.raise_for_status()
        long_id = long.json()["id"]
        done.add("long", 1)
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            wave = _wave(n)
            response = await client.post("/v1/jobs/batch", json={"jobs": [job for _, job in wave]})
            response.raise_for_status()
            for kind, _ in wave:
                done.add(kind, 1)
            if n == 3:  # the long job runs by now: cancel it
                (await client.post(f"/v1/jobs/{long_id}/cancel")).raise_for_status()
                done.cancelled.append(long_id)
            for _ in range(3):  # a few reads, so the API's read routes show up too
                await client.get("/v1/queues")
            n += 1
            await asyncio.sleep(every_s)
    return done
