"""`webhook.post` through a real worker process to a real HTTP server on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.integration.conftest import StartWorker, wait_for_status

SECRET = "whsec-test-3f9a"

# What each path answers, request after request; the last answer repeats.
ROUTES: dict[str, list[int]] = {
    "/ok": [200],
    "/flaky": [500, 200],
    "/down": [500],
    "/gone": [404],
    "/moved": [301],
    "/busy": [429, 200],
}


@dataclass
class Received:
    """One request the server answered."""

    path: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float

    def header(self, name: str) -> list[str]:
        """Every value of the header `name` (any case), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = self.path.split("?")[0]
        seen = self.server.record(Received(self.path, list(self.headers.items()), body, time.monotonic()))
        answers = ROUTES.get(route, [404])
        status = answers[min(seen, len(answers) - 1)]
        reply = json.dumps({"status": status}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        if status == 301:
            self.send_header("Location", "/ok")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class Receiver(ThreadingHTTPServer):
    """An HTTP server on loopback that records each request and answers from ROUTES."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Received] = []
        self._lock = threading.Lock()

    def record(self, request: Received) -> int:
        """Keep `request`; return how many earlier requests had the same path."""
        route = request.path.split("?")[0]
        with self._lock:
            seen = sum(1 for r in self.requests if r.path.split("?")[0] == route)
            self.requests.append(request)
        return seen

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_port}"

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The webhook receiver, served from a thread for the test."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
async def hook_worker(start_worker: StartWorker) -> None:
    """A worker that may call loopback addresses and signs with SECRET."""
    await start_worker(JOBQ_WEBHOOK_ALLOW_PRIVATE="true", JOBQ_WEBHOOK_SECRET=SECRET)


async def post(api: httpx.AsyncClient, auth: dict[str, str], payload: dict[str, Any], **job: Any) -> dict[str, Any]:
    """Submit a `webhook.post` job; return the finished job."""
    response = await api.post("/v1/jobs", json={"type": "webhook.post", "payload": payload, **job}, headers=auth)
    assert response.status_code == 201, response.text
    return await wait_for_status(api, auth, response.json()["id"], {"succeeded", "dead"})


def verify(signature: str, body: bytes, secret: str) -> int:
    """Check `t=<unix>,v1=<hex>` the way a receiver would; return t."""
    fields = dict(part.split("=", 1) for part in signature.split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected), f"bad signature {signature!r}"
    return int(fields["t"])


@pytest.mark.usefixtures("hook_worker")
async def test_a_webhook_arrives_as_signed_json_with_the_job_headers(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver
) -> None:
    body = {"event": "invoice.paid", "amount": 42, "lines": ["a", "b"], "note": "né"}

    job = await post(api, auth, {"url": receiver.url("/ok"), "body": body})

    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 1
    assert job["result"]["status_code"] == 200
    assert job["result"]["response_preview"] == '{"status": 200}'
    [request] = receiver.requests
    assert request.path == "/ok"
    assert json.loads(request.body) == body
    assert request.header("Content-Type") == ["application/json"]
    assert request.header("Host") == [receiver.host]
    assert request.header("X-Jobq-Job-Id") == [job["id"]]
    assert request.header("X-Jobq-Attempt") == ["1"]
    assert request.header("Idempotency-Key") == [job["id"]]
    [signature] = request.header("X-Jobq-Signature")
    signed_at = verify(signature, request.body, SECRET)
    assert abs(signed_at - time.time()) < 60


@pytest.mark.usefixtures("hook_worker")
async def test_the_query_extra_headers_and_idempotency_key_reach_the_receiver(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver
) -> None:
    payload = {
        "url": receiver.url("/ok?source=jobq&n=1"),
        "body": [1, 2, 3],
        "headers": {"X-Tenant": "acme", "content-type": "text/plain", "x-jobq-signature": "forged"},
    }

    job = await post(api, auth, payload, idempotency_key="order-17")

    assert job["status"] == "succeeded", job["error"]
    [request] = receiver.requests
    assert request.path == "/ok?source=jobq&n=1"
    assert request.header("X-Tenant") == ["acme"]
    assert request.header("Idempotency-Key") == ["order-17"]
    # The handler's own headers win over a payload header of the same name in any case.
    assert request.header("Content-Type") == ["application/json"]
    [signature] = request.header("X-Jobq-Signature")
    verify(signature, request.body, SECRET)


@pytest.mark.usefixtures("hook_worker")
async def test_credentials_in_the_url_are_sent_as_basic_auth_and_not_in_the_host(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver
) -> None:
    job = await post(api, auth, {"url": receiver.url("/ok", host=f"hook:p%40ss@{receiver.host}"), "body": {}})

    assert job["status"] == "succeeded", job["error"]
    [request] = receiver.requests
    assert request.header("Host") == [receiver.host]
    assert request.header("Authorization") == ["Basic " + base64.b64encode(b"hook:p@ss").decode()]


@pytest.mark.usefixtures("hook_worker")
async def test_a_5xx_is_retried_and_the_second_attempt_succeeds(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver
) -> None:
    job = await post(api, auth, {"url": receiver.url("/flaky"), "body": {"n": 1}})

    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2
    assert [a["outcome"] for a in job["history"]] == ["failed", "succeeded"]
    assert "HTTP 500" in job["history"][0]["error"]["message"]
    first, second = receiver.requests
    assert [first.header("X-Jobq-Attempt"), second.header("X-Jobq-Attempt")] == [["1"], ["2"]]
    # Both attempts carry the same key and body, so the receiver can deduplicate.
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key") == [job["id"]]
    assert first.body == second.body


@pytest.mark.usefixtures("hook_worker")
async def test_a_5xx_forever_is_dead_when_the_attempts_are_used_up(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver
) -> None:
    job = await post(api, auth, {"url": receiver.url("/down")}, max_attempts=2)

    assert job["status"] == "dead"
    assert job["attempts"] == 2
    assert job["error"]["type"] == "httpx.HTTPStatusError"
    assert "HTTP 500" in job["error"]["message"]
    assert len(receiver.requests) == 2


@pytest.mark.usefixtures("hook_worker")
@pytest.mark.parametrize(("path", "status"), [("/gone", 404), ("/moved", 301)])
async def test_a_4xx_or_3xx_is_permanent_after_one_request(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver, path: str, status: int
) -> None:
    job = await post(api, auth, {"url": receiver.url(path)}, max_attempts=5)

    assert job["status"] == "dead"
    assert job["attempts"] == 1
    assert job["error"]["type"] == "jobq_worker.errors.PermanentFailure"
    assert f"HTTP {status}" in job["error"]["message"]
    # One request, and a redirect is not followed.
    assert [r.path for r in receiver.requests] == [path]


@pytest.mark.usefixtures("hook_worker")
async def test_a_429_is_retried_after_its_retry_after(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver
) -> None:
    job = await post(api, auth, {"url": receiver.url("/busy")})

    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2
    assert "HTTP 429" in job["history"][0]["error"]["message"]
    first, second = receiver.requests
    # Retry-After: 1 is honoured; the worker's own back-off here is only 0.2 s.
    assert second.at - first.at >= 0.9


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_worker_refuses_loopback_addresses_unless_allowed(
    api: httpx.AsyncClient, auth: dict[str, str], receiver: Receiver, start_worker: StartWorker, host: str
) -> None:
    await start_worker(JOBQ_WEBHOOK_SECRET=SECRET)

    job = await post(api, auth, {"url": receiver.url("/ok", host=f"{host}:{receiver.server_port}")})

    assert job["status"] == "dead"
    assert job["attempts"] == 1
    assert "refused" in job["error"]["message"]
    assert "JOBQ_WEBHOOK_ALLOW_PRIVATE" in job["error"]["message"]
    assert receiver.requests == []


@pytest.mark.usefixtures("hook_worker")
async def test_a_url_that_is_not_http_is_dead_without_a_request(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    # The JSON Schema only says "string", so the worker's payload check catches this.
    job = await post(api, auth, {"url": "ftp://127.0.0.1/file"}, max_attempts=3)

    assert job["status"] == "dead"
    assert job["attempts"] == 1
    assert "http:// or https://" in job["error"]["message"]
