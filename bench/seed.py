"""`python -m bench.seed`: N jobs straight into PostgreSQL with COPY, in the mix a busy system has.

    python -m bench.seed --url postgresql://... --jobs 1000000

About 95 % succeeded, 1.5 % dead, 1.5 % cancelled and 2 % waiting or running (1 % queued,
0.7 % scheduled, 0.3 % running, all created in the last two hours); 10 queues (40 % of
the jobs in one, 0.3 % in the rarest), 50 job types (5 per queue, the first far more
common than the last), 0–2 of 30 tags, payloads from
200 B to 5 KB (log-uniform) with one of 1 MB in every 100,000, an error message drawn from
50,000 distinct ones on every dead job and half the scheduled ones (retries waiting out
their back-off), creation times spread over the 30 days before now. Every finished job
has its attempts recorded. Ids are UUIDv7 of their creation time, as the API makes them,
and rows go in creation order, as they would arrive.

The same seed (`--seed`) makes the same jobs, bar the time they are relative to. The
table is vacuumed and analysed at the end, as autovacuum would leave a settled one.
Used by the at-scale benchmark (bench/at_scale.py) and the EXPLAIN test
(tests/integration/test_list_plans.py).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import math
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

# Each queue's share of the jobs: a few busy queues and a long tail, down to a rare one.
QUEUE_SHARES = {
    "default": 0.40,
    "email": 0.22,
    "webhooks": 0.12,
    "reports": 0.08,
    "billing": 0.06,
    "media": 0.05,
    "search": 0.04,
    "imports": 0.02,
    "exports": 0.007,
    "maintenance": 0.003,
}
TYPES_PER_QUEUE = 5
# Within a queue, its first type is the most common (Zipf: 1, 1/2, ... 1/5).
TYPE_WEIGHTS = {
    f"{queue}.task{k}": share * (1 / (k + 1)) / sum(1 / (j + 1) for j in range(TYPES_PER_QUEUE))
    for queue, share in QUEUE_SHARES.items()
    for k in range(TYPES_PER_QUEUE)
}
TYPES = list(TYPE_WEIGHTS)
# fmt: off
TAGS = [f"tenant-{i}" for i in range(20)] + [
    "urgent", "bulk", "nightly", "retry", "vip", "beta", "eu", "us", "apac", "trial",
]
WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
    "xray", "yankee", "zulu",
]
# fmt: on
ERROR_MESSAGES = 50_000
FILLER_CHARS = 1_100_000  # more than the largest payload
DAYS = 30
ERROR_TEMPLATES = [
    ("SMTPRecipientsRefused", "mailbox {n} unavailable: 550 user unknown at relay {w}"),
    ("TimeoutError", "request to {w} service timed out after {s} seconds (attempt {n})"),
    ("ConnectionRefusedError", "connection refused by upstream {w}-{n} on port 443"),
    ("HTTPStatusError", "webhook endpoint {w} answered 503 service unavailable for delivery {n}"),
    ("ValueError", "invoice {n} has no billing address for customer {w}"),
]

# The copy's column order; every value is written in COPY's text format.
COLUMNS = (
    "id", "type", "queue", "status", "payload", "priority", "attempts", "max_attempts", "timeout_s",
    "idempotency_key", "tags", "run_at", "created_at", "started_at", "finished_at", "worker_id",
    "progress", "result", "error",
)  # fmt: skip
ATTEMPT_COLUMNS = ("job_id", "attempt", "worker_id", "started_at", "finished_at", "outcome", "error")
NULL = "\\N"
CHUNK = 5_000
CHUNKS_AHEAD = 4  # chunks made ahead of the copy: enough to keep every core busy, few in memory


def error_message(n: int) -> tuple[str, str]:
    """The n-th of the distinct error messages: (error type, message)."""
    kind, template = ERROR_TEMPLATES[n % len(ERROR_TEMPLATES)]
    return kind, template.format(n=n, w=WORDS[n % len(WORDS)], s=5 + n % 55)


@functools.cache
def _filler(seed: int) -> str:
    return " ".join(random.Random(seed).choices(WORDS, k=FILLER_CHARS // 5))


def uuid7(at_ms: int, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 of `at_ms` (ms since the epoch), the kind store.new_job_id makes."""
    value = (at_ms << 80) | rng.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


@dataclass
class Mix:
    """The seeded jobs' shape, drawn from one random generator."""

    rng: random.Random
    now_s: float
    total: int
    type_cum_weights: list[float]
    filler: str
    """Words to cut payload bodies from: one slice each is far cheaper than drawing each word."""

    @classmethod
    def of(cls, seed: int, now_s: float, total: int, *, chunk: int = 0) -> Mix:
        rng = random.Random(f"{seed}/{chunk}")
        return cls(rng, now_s, total, list(itertools.accumulate(TYPE_WEIGHTS.values())), _filler(seed))

    def status(self) -> str:
        r = self.rng.random()
        if r < 0.95:
            return "succeeded"
        if r < 0.965:
            return "dead"
        if r < 0.98:
            return "cancelled"
        if r < 0.99:
            return "queued"
        return "scheduled" if r < 0.997 else "running"

    def tags(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            return "{}"
        # tenant tags are common, the rest rarer (skewed to the first of each list)
        first = TAGS[int(self.rng.random() ** 2 * 20)]
        if r < 0.85:
            return "{" + first + "}"
        second = TAGS[20 + int(self.rng.random() ** 2 * 10)]
        return "{" + first + "," + second + "}"

    def payload(self, job_type: str) -> str:
        log_uniform = int(math.exp(self.rng.uniform(math.log(200), math.log(5_000))))
        size = 1_000_000 if self.rng.random() < 1e-5 else log_uniform
        head = {"user": {"id": self.rng.randrange(1, 100_001)}, "kind": job_type, "ref": self.rng.getrandbits(32)}
        text = orjson.dumps(head)[:-1].decode()
        length = max(0, size - len(text) - 12)
        start = self.rng.randrange(len(self.filler) - length)
        return text + ',"body":"' + self.filler[start : start + length] + '"}'


@dataclass(slots=True)
class SeedJob:
    """One seeded job's columns; times are epoch seconds, None for NULL."""

    id: uuid.UUID
    type: str
    status: str
    created: float
    run_at: float
    max_attempts: int
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    worker: str | None = None
    error: str | None = None
    run_s: float = 0.0


def draw_job(mix: Mix, i: int) -> SeedJob:
    """The i-th job of the run: its state and the times that state implies."""
    rng = mix.rng
    status = mix.status()
    if status in ("queued", "scheduled", "running"):
        created = mix.now_s - rng.uniform(0, 7_200)
    else:  # job i of N is created i/N of the way through the 30 days
        created = mix.now_s - DAYS * 86_400 * (1 - (i + rng.random()) / mix.total)
    max_attempts = 3 if rng.random() < 0.7 else 5
    job = SeedJob(
        id=uuid7(int(created * 1000), rng),
        type=rng.choices(TYPES, cum_weights=mix.type_cum_weights)[0],
        status=status,
        created=created,
        run_at=created,
        max_attempts=max_attempts,
        run_s=rng.expovariate(1 / 2.0),
    )
    wait = rng.expovariate(1 / 0.5)
    kind, message = error_message(rng.randrange(ERROR_MESSAGES))
    error = orjson.dumps({"type": kind, "message": message}).decode()
    worker = f"worker-{rng.randrange(20)}"
    if status == "succeeded":
        job.attempts = 1 if rng.random() < 0.95 else rng.randint(2, max_attempts)
        job.started, job.finished, job.worker = created + wait, created + wait + job.run_s, worker
    elif status == "dead":
        job.attempts, job.error = max_attempts, error
        job.started, job.finished, job.worker = created + wait, created + wait + job.run_s, worker
    elif status == "cancelled":
        job.attempts, job.finished = rng.randint(0, 1), created + wait
        if job.attempts:
            job.started, job.worker = created + wait / 2, worker
    elif status == "scheduled":  # a delayed job, or half the time a retry waiting out its back-off
        job.run_at = mix.now_s + rng.uniform(1, 3_600)
        if rng.random() < 0.5:
            job.attempts, job.error = 1, error
    elif status == "running":
        job.attempts, job.started, job.worker = 1, mix.now_s - rng.uniform(0, 30), "seed-worker"
    return job


def _text(value: object) -> str:
    """A value in COPY's text format (the seed's values hold no tab, newline or backslash)."""
    return NULL if value is None else str(value)


def _at(epoch_s: float | None) -> str:
    """A time in COPY's text format."""
    return NULL if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).isoformat()


def job_line(mix: Mix, job: SeedJob, i: int) -> str:
    rng = mix.rng
    finished = job.status in ("succeeded", "dead", "cancelled")
    values = (
        job.id, job.type, job.type.split(".", 1)[0], job.status, mix.payload(job.type),
        0 if rng.random() < 0.9 else rng.choice((-10, 5, 10, 50)),
        job.attempts, job.max_attempts, 60,
        f"seed-{i}" if rng.random() < 0.1 else None,
        mix.tags(), _at(job.run_at), _at(job.created), _at(job.started), _at(job.finished), job.worker,
        {"succeeded": 1, "running": 0.5}.get(job.status),
        '{"ok": true}' if job.status == "succeeded" else None,
        job.error if not finished or job.status == "dead" else None,
    )  # fmt: skip
    return "\t".join(map(_text, values))


def attempt_lines(job: SeedJob) -> Iterator[str]:
    """The attempt rows of a job's finished attempts: the last one ends as the job did, the others failed."""
    done = job.attempts - (1 if job.status == "running" else 0)
    for n in range(1, done + 1):
        last = n == job.attempts
        outcome = "failed"
        if last and job.status in ("succeeded", "cancelled"):
            outcome = job.status
        end = job.finished if last and job.finished is not None else job.created + job.run_s * n
        start = job.started if last and job.started is not None else end - job.run_s
        failure = job.error or '{"type": "RuntimeError", "message": "seeded failure"}'
        values = (
            job.id,
            n,
            job.worker or "worker-0",
            _at(start),
            _at(end),
            outcome,
            failure if outcome == "failed" else None,
        )
        yield "\t".join(map(_text, values))


def chunk_rows(seed: int, now_s: float, total: int, first: int, count: int) -> tuple[bytes, bytes]:
    """Jobs first..first+count of a seed, and their attempts, in COPY's text format.

    Each chunk draws from a generator of its own (seeded by the seed and the chunk), so
    chunks can be made in parallel, in any order, and still be the same jobs."""
    mix = Mix.of(seed, now_s, total, chunk=first)
    job_lines: list[str] = []
    attempts: list[str] = []
    for i in range(first, first + count):
        job = draw_job(mix, i)
        job_lines.append(job_line(mix, job, i))
        attempts.extend(attempt_lines(job))
    return ("\n".join(job_lines) + "\n").encode(), ("\n".join(attempts) + "\n").encode() if attempts else b""


async def _source(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _rows_in_order(seed: int, now_s: float, jobs: int) -> AsyncIterator[tuple[bytes, bytes]]:
    """Every chunk's rows, in order, made by as many processes as there are cores, a few ahead."""
    loop = asyncio.get_running_loop()
    ahead: deque[asyncio.Future[tuple[bytes, bytes]]] = deque()
    with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) as pool:
        for first in range(0, jobs, CHUNK):
            count = min(CHUNK, jobs - first)
            ahead.append(loop.run_in_executor(pool, chunk_rows, seed, now_s, jobs, first, count))
            if len(ahead) > CHUNKS_AHEAD:
                yield await ahead.popleft()
        while ahead:
            yield await ahead.popleft()


async def _secondary_indexes(conn: asyncpg.Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of `table`'s indexes that enforce nothing (not unique, no constraint's):
    the ones a load may drop and build after."""
    rows = await conn.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition FROM pg_index"
        " WHERE indrelid = $1::regclass AND NOT indisunique"
        " AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE conrelid = $1::regclass)",
        table,
    )
    return [(r["name"], r["definition"]) for r in rows]


async def seed(url: str, jobs: int, *, seed: int = 0, now: datetime | None = None, log: bool = False) -> float:
    """Insert `jobs` jobs (and their attempts) into the migrated database at `url`; the seconds it took.

    As pg_restore does, the secondary indexes are dropped for the load and built after it
    (even if it fails): building an index once is several times cheaper than keeping it
    up row by row, GIN most of all."""
    started = time.monotonic()
    now_s = (now or datetime.now(UTC)).timestamp()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO jobq_job_types (name, queue, payload_schema, timeout_s, max_attempts, description)"
            " SELECT t, split_part(t, '.', 1), '{}', 60, 3, 'seeded' FROM unnest($1::text[]) AS t"
            " ON CONFLICT (name) DO NOTHING",
            TYPES,
        )
        indexes = [i for table in ("jobq_jobs", "jobq_job_attempts") for i in await _secondary_indexes(conn, table)]
        for name, _ in indexes:
            await conn.execute(f"DROP INDEX {name}")
        try:
            done = 0
            async for job_rows, attempt_rows in _rows_in_order(seed, now_s, jobs):
                async with conn.transaction():
                    await conn.copy_to_table("jobq_jobs", source=_source(job_rows), columns=COLUMNS)
                    if attempt_rows:
                        await conn.copy_to_table(
                            "jobq_job_attempts", source=_source(attempt_rows), columns=ATTEMPT_COLUMNS
                        )
                done = min(jobs, done + CHUNK)
                if log and done % 100_000 < CHUNK:
                    print(f"seed: {done:,} jobs in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        finally:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            for _, definition in indexes:
                await conn.execute(definition)
            if log:
                print(f"seed: indexes built at {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        await conn.execute("VACUUM (ANALYZE) jobq_jobs")
        await conn.execute("VACUUM (ANALYZE) jobq_job_attempts")
    finally:
        await conn.close()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="a migrated jobq database")
    p.add_argument("--jobs", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0, help="the random seed (default 0)")
    args = p.parse_args(argv)
    seconds = asyncio.run(seed(args.url, args.jobs, seed=args.seed, log=True))
    print(f"seeded {args.jobs:,} jobs in {seconds:.1f} s ({args.jobs / seconds:,.0f} jobs/s)")


if __name__ == "__main__":
    main()
