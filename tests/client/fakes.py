"""Real sockets that misbehave on cue: an HTTP server that follows a script, and a proxy in
front of the real API that loses its first answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from jobq_devrun.servers import LOOPBACK


@dataclass(frozen=True)
class Answer:
    """Answer the request with this status, JSON body and headers (`body` may build from the request)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


HANG = "hang"  # read the request, never answer
DROP = "drop"  # read the request, close the connection without an answer
Step = Answer | str


@dataclass
class Seen:
    """A request the server read, and when."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


def job_document(**fields: Any) -> dict[str, Any]:
    """A job as the API shows it, for a server that is not the API."""
    now = datetime.now(UTC).isoformat()
    job = {
        "id": "01a23000-0000-7000-8000-000000000000",
        "type": "jobq.noop",
        "queue": "default",
        "status": "queued",
        "payload": {},
        "priority": 0,
        "attempts": 0,
        "max_attempts": 3,
        "timeout_s": 60.0,
        "idempotency_key": None,
        "tags": [],
        "run_at": now,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "worker_id": None,
        "progress": None,
        "progress_message": None,
        "result": None,
        "error": None,
    }
    return {**job, **fields}


def problem(status: int, detail: str = "try again later", **extra: Any) -> dict[str, Any]:
    return {"type": "https://jobq.dev/problems/unavailable", "title": "Service unavailable", "status": status,
            "detail": detail, **extra}  # fmt: skip


class ScriptedServer:
    """An HTTP/1.1 server on a loopback port that meets the n-th request with the n-th step of
    its script (the last step again once the script is done), and records every request."""

    def __init__(self, *script: Step | Callable[[Seen], Step]) -> None:
        self.script = list(script)
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.sockets[0].getsockname()[1]}"

    def gaps(self) -> list[float]:
        """Seconds between one request and the next."""
        return [b.at - a.at for a, b in zip(self.seen, self.seen[1:], strict=False)]

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._connection, LOOPBACK, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._closing.set()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while (seen := await self._read(reader)) is not None:
                self.seen.append(seen)
                step = self.script[min(len(self.seen), len(self.script)) - 1]
                if callable(step):
                    step = step(seen)
                if step == HANG:
                    await self._closing.wait()
                if step == DROP or not isinstance(step, Answer):
                    return
                body = b"" if step.body is None else orjson.dumps(step.body)
                kind = "application/problem+json" if step.status >= 400 else "application/json"
                head = [f"HTTP/1.1 {step.status} X", f"Content-Length: {len(body)}", f"Content-Type: {kind}"]
                head += [f"{k}: {v}" for k, v in step.headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Seen | None:
        line = await reader.readline()
        if not line.strip():
            return None
        at = time.monotonic()
        method, path, _ = line.decode().split(" ", 2)
        headers = {}
        while (header := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Seen(method, path, headers, body, at)


class LosingProxy:
    """A TCP proxy to `upstream` (host, port) that, for its first `lose` connections, passes the
    request on but closes the connection as the answer comes back: the API did the work,
    the client never hears of it."""

    def __init__(self, upstream: tuple[str, int], lose: int = 1) -> None:
        self.upstream, self.lose = upstream, lose
        self.connections = 0
        self.lost = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> LosingProxy:
        self._server = await asyncio.start_server(self._connection, LOOPBACK, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()  # ends the pipes: each handler returns
        await asyncio.gather(*self._handlers)
        await self._server.wait_closed()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        losing = self.connections <= self.lose
        api_reader, api_writer = await asyncio.open_connection(*self.upstream)
        self._writers |= {client_writer, api_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answers: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    if answers and losing:
                        self.lost += 1
                        return  # the answer arrived: drop it and hang up
                    writer.write(chunk)
                    await writer.drain()

        to_api = asyncio.create_task(pipe(client_reader, api_writer, answers=False))
        await pipe(api_reader, client_writer, answers=True)
        for writer in (client_writer, api_writer):
            writer.close()
            self._writers.discard(writer)
        await to_api
