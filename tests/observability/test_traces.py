"""One trace per job across processes: the API and a worker export to a real OTLP/HTTP receiver."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from jobq_devrun.servers import free_port

from tests.conftest import Servers
from tests.observability.stack import Stack, spans_until, traced_stack
from tests.support.otlp import ReceivedSpan, Receiver, otlp_receiver

# A trace the client already started: the API continues it.
CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-00f067aa0ba902b7-01"


class _Accept:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 Message accepted for delivery"


class _Hook(BaseHTTPRequestHandler):
    server: _HookServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.traceparents.append(self.headers.get("traceparent") or "")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _HookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.traceparents: list[str] = []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as r:
        yield r


@pytest.fixture
def smtp_port() -> Iterator[int]:
    port = free_port()
    controller = Controller(_Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def hook() -> Iterator[_HookServer]:
    server = _HookServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
async def traced(
    servers: Servers, db: asyncpg.Pool, tmp_path: Path, receiver: Receiver, smtp_port: int
) -> AsyncIterator[Stack]:
    worker_env = {"JOBQ_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "JOBQ_WEBHOOK_ALLOW_PRIVATE": "true"}
    async with traced_stack(servers, db, tmp_path, receiver, worker_env=worker_env) as s:
        yield s


def _one(spans: list[ReceivedSpan], **match: Any) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one span with {match}, got {len(found)}: {[s.name for s in spans]}"
    return found[0]


def _process_spans(spans: list[ReceivedSpan], job_id: str) -> list[ReceivedSpan]:
    found = [s for s in spans if s.kind == "CONSUMER" and s.attributes.get("messaging.message.id") == job_id]
    return sorted(found, key=lambda s: s.attributes["jobq.job.attempt"])


async def test_one_trace_links_request_publish_and_every_attempt(traced: Stack, receiver: Receiver) -> None:
    job_id = await traced.submit({"type": "obs.fail_once"}, headers={"traceparent": CLIENT_TRACEPARENT})
    job = await traced.wait_status(job_id, "succeeded")
    assert job["attempts"] == 2
    spans = await spans_until(receiver, "both process spans", lambda s: len(_process_spans(s, job_id)) == 2)

    server = _one(spans, kind="SERVER", name="POST /v1/jobs")
    assert server.service == "jobq-api"
    assert not [s for s in spans if s.name == "GET /readyz"], "probes make no spans"
    assert {s.name for s in spans if s.kind == "SERVER"} == {"POST /v1/jobs", "GET /v1/jobs/{job_id}"}
    assert server.trace_id == CLIENT_TRACE_ID and server.parent_span_id == "00f067aa0ba902b7"
    assert server.attributes["http.route"] == "/v1/jobs"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.response.status_code"] == 201

    publish = _one(spans, kind="PRODUCER")
    assert publish.service == "jobq-api"
    assert publish.name == "default publish"
    assert (publish.trace_id, publish.parent_span_id) == (CLIENT_TRACE_ID, server.span_id)
    assert publish.attributes["messaging.system"] == "jobq"
    assert publish.attributes["messaging.destination.name"] == "default"
    assert publish.attributes["messaging.message.id"] == job_id

    first, second = _process_spans(spans, job_id)
    for attempt, span in ((1, first), (2, second)):
        assert span.service == "jobq-worker"
        assert span.name == "default process"
        assert (span.trace_id, span.parent_span_id) == (CLIENT_TRACE_ID, publish.span_id)
        assert span.attributes["messaging.system"] == "jobq"
        assert span.attributes["messaging.destination.name"] == "default"
        assert span.attributes["messaging.operation.type"] == "process"
        assert span.attributes["jobq.job.type"] == "obs.fail_once"
        assert span.attributes["jobq.job.attempt"] == attempt
    # The first attempt failed: the exception is on its span, with what came next.
    assert first.status == "ERROR" and "first attempt fails on purpose" in first.status_message
    exceptions = [attrs for name, attrs in first.events if name == "exception"]
    assert exceptions and exceptions[0]["exception.type"] == "RuntimeError"
    assert first.attributes["jobq.job.next_status"] == "scheduled"  # the retry waited out its back-off
    assert second.status == "UNSET" and not second.events
    assert first.end_ns <= second.start_ns


async def test_batch_delayed_and_scheduled_jobs_keep_their_trace(traced: Stack, receiver: Receiver) -> None:
    batch = [{"type": "jobq.noop"}, {"type": "jobq.noop", "delay_s": 0.5}, {"type": "jobq.noop", "queue": "other"}]
    response = await traced.client.post("/v1/jobs/batch", json={"jobs": batch})
    assert response.status_code == 201, response.text
    ids = [j["id"] for j in response.json()["jobs"]][:2]  # no worker serves "other"
    for job_id in ids:
        await traced.wait_status(job_id, "succeeded")
    spans = await spans_until(receiver, "both process spans", lambda s: all(_process_spans(s, i) for i in ids))
    server = _one(spans, kind="SERVER", name="POST /v1/jobs/batch")
    publish = _one(spans, kind="PRODUCER", name="default publish")
    assert publish.parent_span_id == server.span_id
    assert publish.attributes["messaging.batch.message_count"] == 2
    # One publish span per queue, side by side under the request.
    other = _one(spans, kind="PRODUCER", name="other publish")
    assert other.parent_span_id == server.span_id
    assert other.attributes["messaging.message.id"] == response.json()["jobs"][2]["id"]
    for job_id in ids:  # the delayed one went to Redis later, from its row, through the leader
        (process,) = _process_spans(spans, job_id)
        assert (process.trace_id, process.parent_span_id) == (server.trace_id, publish.span_id)

    # A schedule's jobs are published by the leader worker; their process spans follow.
    schedule = {"name": "every-second", "cron": "* * * * * *", "job": {"type": "obs.log"}}
    assert (await traced.client.post("/v1/schedules", json=schedule)).status_code == 201

    def scheduled(spans: list[ReceivedSpan]) -> list[tuple[ReceivedSpan, ReceivedSpan]]:
        by_id = {s.span_id: s for s in spans}
        return [
            (by_id[s.parent_span_id], s)
            for s in spans
            if s.kind == "CONSUMER" and s.attributes["jobq.job.type"] == "obs.log" and s.parent_span_id in by_id
        ]

    spans = await spans_until(receiver, "a scheduled job's spans", scheduled)
    parent, process = scheduled(spans)[0]
    assert (parent.kind, parent.service, parent.name) == ("PRODUCER", "jobq-worker", "default publish")
    assert parent.parent_span_id == "" and parent.trace_id == process.trace_id


async def test_handler_calls_are_child_spans(
    traced: Stack, receiver: Receiver, smtp_port: int, hook: _HookServer
) -> None:
    email_id = await traced.submit(
        {"type": "email.send", "payload": {"to": ["ops@example.com"], "subject": "hi", "text": "hello"}}
    )
    hook_url = f"http://127.0.0.1:{hook.server_address[1]}/hook?token=s3cret"
    hook_id = await traced.submit({"type": "webhook.post", "payload": {"url": hook_url, "body": {"a": 1}}})
    await traced.wait_status(email_id, "succeeded")
    await traced.wait_status(hook_id, "succeeded")
    spans = await spans_until(
        receiver,
        "two process spans and their client spans",
        lambda s: (
            len([x for x in s if x.kind == "CLIENT"]) == 2 and all(_process_spans(s, i) for i in (email_id, hook_id))
        ),
    )

    (email_process,) = _process_spans(spans, email_id)
    smtp = _one(spans, kind="CLIENT", name="smtp send")
    assert (smtp.trace_id, smtp.parent_span_id) == (email_process.trace_id, email_process.span_id)
    assert smtp.attributes["server.address"] == "127.0.0.1"
    assert smtp.attributes["server.port"] == smtp_port
    assert smtp.attributes["jobq.email.recipients"] == 1
    assert email_process.trace_id != _process_spans(spans, hook_id)[0].trace_id  # one trace per job

    (hook_process,) = _process_spans(spans, hook_id)
    http = _one(spans, kind="CLIENT", name="POST")
    assert (http.trace_id, http.parent_span_id) == (hook_process.trace_id, hook_process.span_id)
    assert http.attributes["http.response.status_code"] == 200
    assert http.attributes["url.full"] == f"http://127.0.0.1:{hook.server_address[1]}/hook?token=REDACTED"
    # The receiver of the webhook can continue the trace from the client span.
    (traceparent,) = hook.traceparents
    assert traceparent.startswith(f"00-{http.trace_id}-{http.span_id}-")


async def test_a_failed_smtp_call_is_recorded_on_its_span(
    servers: Servers, db: asyncpg.Pool, tmp_path: Path, receiver: Receiver
) -> None:
    closed_port = free_port()  # nothing listens there
    worker_env = {"JOBQ_SMTP_URL": f"smtp://127.0.0.1:{closed_port}"}
    async with traced_stack(servers, db, tmp_path, receiver, worker_env=worker_env) as traced:
        job_id = await traced.submit(
            {
                "type": "email.send",
                "payload": {"to": ["ops@example.com"], "subject": "hi", "text": "x"},
                "max_attempts": 1,
            }
        )
        await traced.wait_status(job_id, "dead")
        spans = await spans_until(
            receiver, "the SMTP span", lambda s: any(x.kind == "CLIENT" for x in s) and _process_spans(s, job_id)
        )
    smtp = _one(spans, kind="CLIENT", name="smtp send")
    (process,) = _process_spans(spans, job_id)
    assert smtp.parent_span_id == process.span_id
    assert smtp.status == "ERROR"
    assert any(name == "exception" for name, _ in smtp.events)
    assert process.status == "ERROR" and process.attributes["jobq.job.next_status"] == "dead"


async def test_a_job_rescued_from_a_killed_worker_stays_in_its_trace(
    servers: Servers, db: asyncpg.Pool, tmp_path: Path, receiver: Receiver
) -> None:
    async with traced_stack(servers, db, tmp_path, receiver, worker_env={"JOBQ_WORKER_TIMEOUT_S": "2"}) as traced:
        job_id = await traced.submit({"type": "obs.slow_first"})
        await traced.wait_status(job_id, "running")
        traced.worker.kill()  # its unexported spans die with it; the job's context is in its row
        await traced.start_worker()  # becomes leader, rescues the job, runs attempt 2
        job = await traced.wait_status(job_id, "succeeded", timeout_s=60)
        assert job["attempts"] == 2
        spans = await spans_until(receiver, "the second attempt's span", lambda s: _process_spans(s, job_id))
    publish = _one(spans, kind="PRODUCER")
    (second,) = _process_spans(spans, job_id)
    assert second.attributes["jobq.job.attempt"] == 2
    assert (second.trace_id, second.parent_span_id) == (publish.trace_id, publish.span_id)
