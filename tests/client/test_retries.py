"""Retries: 503 and 429 wait out `Retry-After`, with jitter, within a bounded total; a lost
answer is sent again only where that cannot do the work twice; timeouts end in `Timeout`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlsplit

import asyncpg
import pytest

from jobq_client import (
    ConnectionFailed,
    RateLimited,
    RetryPolicy,
    ServerError,
    Timeout,
    Unavailable,
    UnexpectedResponse,
)
from jobq_client.retry import delay_s, parse_retry_after, should_retry
from tests.client.conftest import MakeClient
from tests.client.fakes import DROP, HANG, Answer, LosingProxy, ScriptedServer, job_document, problem

KEY = "jobq_retry-test-key"


@pytest.mark.parametrize(("status", "error"), [(503, Unavailable), (429, RateLimited)])
async def test_retry_after_is_waited_out_then_the_same_submit_is_sent_again(
    make_client: MakeClient, status: int, error: type[Exception]
) -> None:
    async with ScriptedServer(
        Answer(status, problem(status), {"Retry-After": "1"}), Answer(201, job_document())
    ) as server:
        jobq = await make_client(server.url, KEY)

        job = await jobq.submit("jobq.noop")

    assert job.status == "queued"
    first, second = server.seen
    assert (first.method, first.path) == (second.method, second.path) == ("POST", "/v1/jobs")
    assert 1.0 <= server.gaps()[0] <= 1.2 + 0.3, "Retry-After: 1 plus at most a fifth of jitter"
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] != ""
    assert first.body == second.body


async def test_retry_after_as_a_date_is_honoured(make_client: MakeClient) -> None:
    def busy(_: object) -> Answer:
        later = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        return Answer(503, problem(503), {"Retry-After": later})

    async with ScriptedServer(busy, Answer(200, {"queues": []})) as server:
        jobq = await make_client(server.url, KEY)
        assert await jobq.list_queues() == []

    assert 1.0 <= server.gaps()[0] <= 2.4 + 0.3  # the date has whole seconds


async def test_a_wait_past_the_budget_is_not_started(make_client: MakeClient) -> None:
    async with ScriptedServer(Answer(503, problem(503), {"Retry-After": "120"})) as server:
        jobq = await make_client(server.url, KEY, retry=RetryPolicy(total_s=30))
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await jobq.submit("jobq.noop")

    assert time.monotonic() - started < 1
    assert len(server.seen) == 1 and caught.value.retry_after == 120 and caught.value.status == 503


async def test_without_retry_after_the_waits_double_with_jitter_up_to_the_attempts(make_client: MakeClient) -> None:
    async with ScriptedServer(Answer(503, problem(503))) as server:
        jobq = await make_client(server.url, KEY, retry=RetryPolicy(attempts=4, backoff_s=0.2))
        with pytest.raises(Unavailable):
            await jobq.list_queues()

    assert len(server.seen) == 4
    for n, gap in enumerate(server.gaps()):
        full = 0.2 * 2**n
        assert full / 2 <= gap <= full + 0.3, (n, server.gaps())


async def test_a_lost_answer_is_sent_again_only_when_that_cannot_do_it_twice(make_client: MakeClient) -> None:
    async with ScriptedServer(DROP, Answer(201, job_document())) as server:
        jobq = await make_client(server.url, KEY)
        await jobq.submit("jobq.noop")  # it carries an idempotency key
    assert (
        len(server.seen) == 2 and server.seen[0].headers["idempotency-key"] == server.seen[1].headers["idempotency-key"]
    )

    async with ScriptedServer(DROP, Answer(200, job_document(status="cancelled"))) as server:
        jobq = await make_client(server.url, KEY)
        with pytest.raises(ConnectionFailed):
            await jobq.cancel_job("01a23000-0000-7000-8000-000000000000")
    assert len(server.seen) == 1

    async with ScriptedServer(Answer(502, None), Answer(200, job_document()), Answer(502, None)) as server:
        jobq = await make_client(server.url, KEY)
        await jobq.get_job("01a23000-0000-7000-8000-000000000000")  # a read: a proxy's 502 is tried again
        with pytest.raises(ServerError) as caught:
            await jobq.retry_job("01a23000-0000-7000-8000-000000000000")  # not a read: it might have been done
    assert caught.value.status == 502
    assert [s.method for s in server.seen] == ["GET", "GET", "POST"]


async def test_a_500_is_not_retried(make_client: MakeClient) -> None:
    async with ScriptedServer(Answer(500, {"type": "https://jobq.dev/problems/internal", "title": "Internal error",
                                           "status": 500, "detail": "see the API's log"})) as server:  # fmt: skip
        jobq = await make_client(server.url, KEY)
        with pytest.raises(ServerError) as caught:
            await jobq.list_queues()
    assert len(server.seen) == 1 and caught.value.slug == "internal"


async def test_no_answer_within_the_timeout_is_a_timeout(make_client: MakeClient) -> None:
    async with ScriptedServer(HANG) as server:
        jobq = await make_client(server.url, KEY, timeout=0.5, retry=RetryPolicy(attempts=2, backoff_s=0.1))
        started = time.monotonic()
        with pytest.raises(Timeout) as caught:
            await jobq.get_job("01a23000-0000-7000-8000-000000000000")
        read_s = time.monotonic() - started
        assert len(server.seen) == 2, "a read is tried again"

        started = time.monotonic()
        with pytest.raises(Timeout):
            await jobq.cancel_job("01a23000-0000-7000-8000-000000000000")
        cancel_s = time.monotonic() - started

    assert 1.0 <= read_s < 1.0 + 0.1 + 0.6 and 0.5 <= cancel_s < 1.0
    assert len(server.seen) == 3, "a cancel that may have been done is not sent again"
    assert "no answer in 0.5 s" in str(caught.value)


async def test_a_redirect_is_not_followed_but_named(make_client: MakeClient) -> None:
    async with ScriptedServer(Answer(308, None, {"Location": "https://jobq.example/v1/jobs"})) as server:
        jobq = await make_client(server.url, KEY)
        with pytest.raises(UnexpectedResponse) as caught:
            await jobq.submit("jobq.noop")
    assert len(server.seen) == 1 and "redirected to https://jobq.example/v1/jobs" in str(caught.value)


async def test_nothing_listening_is_connection_failed_after_the_retries(make_client: MakeClient) -> None:
    async with ScriptedServer(DROP) as server:
        url = server.url
    jobq = await make_client(url, KEY, retry=RetryPolicy(attempts=3, backoff_s=0.05))
    with pytest.raises(ConnectionFailed) as caught:
        await jobq.submit("jobq.noop")
    assert url in str(caught.value)


async def test_a_submit_whose_answer_was_lost_makes_one_job_on_the_real_api(
    make_client: MakeClient, api_url: str, admin_key: str, db: asyncpg.Pool
) -> None:
    api = urlsplit(api_url)
    assert api.hostname is not None and api.port is not None
    async with LosingProxy((api.hostname, api.port)) as proxy:
        jobq = await make_client(proxy.url, admin_key)

        job = await jobq.submit("jobq.noop", {"to": "ada"})

    assert proxy.lost == 1 and proxy.connections == 2, "the first answer was lost and the submit sent again"
    rows = await db.fetch("SELECT id::text FROM jobq_jobs")
    assert [r["id"] for r in rows] == [job.id]


# --- the policy itself -----------------------------------------------------------------------


def test_the_delay_honours_retry_after_and_spreads_clients() -> None:
    policy = RetryPolicy(backoff_s=0.25, max_backoff_s=8)
    assert delay_s(policy, 1, 2.0, rand=0.0) == 2.0
    assert delay_s(policy, 1, 2.0, rand=1.0) == pytest.approx(2.4)
    assert delay_s(policy, 1, None, rand=0.0) == pytest.approx(0.125)
    assert delay_s(policy, 3, None, rand=1.0) == pytest.approx(1.0)
    assert delay_s(policy, 20, None, rand=1.0) == 8
    draws = {delay_s(policy, 1, 2.0) for _ in range(50)}
    assert len(draws) > 40 and all(2.0 <= d <= 2.4 for d in draws)


def test_which_failures_are_tried_again() -> None:
    policy = RetryPolicy(attempts=3, total_s=10)

    def retried(status: int | None, *, sent: bool = True, safe: bool = False, attempt: int = 1) -> bool:
        return should_retry(policy, attempt, 0.0, 1.0, status=status, sent=sent, safe=safe)

    assert retried(503) and retried(429)
    assert not retried(500) and not retried(502) and retried(502, safe=True) and retried(504, safe=True)
    assert not retried(None) and retried(None, safe=True) and retried(None, sent=False)
    assert not retried(503, attempt=3)
    assert not should_retry(policy, 1, 9.5, 1.0, status=503, sent=True, safe=True), "past total_s"


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None and parse_retry_after("-1") is None
