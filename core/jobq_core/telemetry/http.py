"""A tiny HTTP endpoint for processes that are not web servers: `/metrics`, `/healthz`, `/readyz`.

The worker and the operator (every jobq process without an HTTP server of its own) serve their
Prometheus metrics and its liveness here, on the process's own event loop: one
request per connection, GET or HEAD only, headers capped, every read time-limited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import orjson
from prometheus_client import CollectorRegistry

from jobq_core.errors import ConfigurationError
from jobq_core.telemetry import metrics

log = logging.getLogger("jobq.metrics")

READ_TIMEOUT_S = 5.0
MAX_HEADER_LINES = 100
MAX_LINE_BYTES = 8192

# (healthy, details): /healthz answers 200 when healthy, 503 otherwise, with the details as
# JSON; /readyz the same for readiness, when the process has a readiness check.
HealthCheck = Callable[[], tuple[bool, dict[str, object]]]


class MetricsServer:
    """Serves `/metrics`, `/healthz` and (given `readiness`) `/readyz` on `host:port` until closed."""

    def __init__(
        self,
        host: str,
        port: int,
        health: HealthCheck,
        before_scrape: Callable[[], None] | None = None,
        setting: str = "port",
        registry: CollectorRegistry | None = None,
        readiness: HealthCheck | None = None,
    ) -> None:
        self.host, self.port, self.health, self.readiness = host, port, health, readiness
        self.before_scrape = before_scrape
        self.registry = registry
        self.setting = setting
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; return the bound port. A port that cannot be bound is a configuration error."""
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_LINE_BYTES)
        except OSError as exc:
            raise ConfigurationError(
                f"{self.setting}: cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "choose another port, or 0 to disable the endpoint"
            ) from None
        port: int = self._server.sockets[0].getsockname()[1]
        log.info("metrics and health on http://%s:%d/metrics", self.host, port)
        return port

    async def close(self) -> None:
        """Stop listening and close the open connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, ctype, body, head = await asyncio.wait_for(self._answer(reader), READ_TIMEOUT_S)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            if not head:
                writer.write(body)
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a slow, broken or oversized request gets no answer
        except Exception:
            log.exception("metrics endpoint failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, str, bytes, bool]:
        request_line = (await reader.readline()).decode("latin-1").split()
        accept = ""
        for _ in range(MAX_HEADER_LINES):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "accept":
                accept = value.strip()
        else:
            return "431 Request Header Fields Too Large", "text/plain", b"too many headers\n", False
        if len(request_line) < 2:
            return "400 Bad Request", "text/plain", b"bad request\n", False
        method, path = request_line[0], request_line[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET or HEAD only\n", False
        head = method == "HEAD"
        if path == "/metrics":
            if self.before_scrape is not None:
                self.before_scrape()
            body, ctype = metrics.exposition(accept, self.registry)
            return "200 OK", ctype, body, head
        if path == "/healthz":
            return (*_judged(self.health, "ok", "unhealthy"), head)
        if path == "/readyz" and self.readiness is not None:
            return (*_judged(self.readiness, "ready", "unready"), head)
        return "404 Not Found", "text/plain", b"not found: try /metrics or /healthz\n", head


def _judged(check: HealthCheck, good: str, bad: str) -> tuple[str, str, bytes]:
    """A check's answer: 200 or 503, its details as JSON."""
    passed, details = check()
    document = orjson.dumps({"status": good if passed else bad, **details})
    return ("200 OK" if passed else "503 Service Unavailable"), "application/json", document
