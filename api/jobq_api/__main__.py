"""`python -m jobq_api`: serve the API with uvicorn."""

from __future__ import annotations

import gc
import signal
import socket
import sys

import uvicorn
from fastapi import FastAPI

from jobq_core.errors import ConfigurationError
from jobq_core.settings import load
from jobq_core.telemetry import logs, tracing

from .app import create_app
from .settings import ApiSettings


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


# Young-generation collections run every this many new container objects (Python's
# default is 700). A 1,000-job batch allocates tens of thousands; at the default, a
# profile of batch submits showed the collector taking about a third of the API's CPU.
GC_GEN0_THRESHOLD = 50_000


def _settle_heap() -> None:
    """Move everything loaded at start-up (modules, the app, its models) out of the
    collector's sight, and collect young objects less often.

    Start-up objects live as long as the process; without the freeze, every full
    collection walks them all again.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class _Server(uvicorn.Server):
    """uvicorn, ending the event streams first when it shuts down.

    uvicorn waits for open responses to finish before it stops, and an event stream
    never finishes by itself; its clients reconnect (to another replica, in a rollout).
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = getattr(self.app.state, "events", None)  # set by the app's lifespan
        if hub is not None:
            hub.end_streams()
        await super().shutdown(sockets)


def main() -> int:
    """Run the API until SIGTERM; exit 2 with one line when a setting is wrong."""
    try:
        settings = load(ApiSettings)
    except ConfigurationError as exc:
        print(f"jobq-api: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        tracing.configure("jobq-api")
    except ConfigurationError as exc:
        print(f"jobq-api: {exc}", file=sys.stderr)
        return 2
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then raises the signal again
    # under the handlers it found; these make that second delivery a clean exit (0).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        app = create_app(settings)  # reads the dashboard's index.html, when there is one
    except ConfigurationError as exc:
        print(f"jobq-api: {exc}", file=sys.stderr)
        return 2
    _settle_heap()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        access_log=False,
        log_config=None,  # uvicorn's records go through the root logger's format (jobq_core.telemetry.logs)
        log_level=settings.log_level.lower(),
    )
    server = _Server(config, app)
    server.run()
    return 0 if server.started else 3  # as uvicorn.run exits when start-up failed


if __name__ == "__main__":
    sys.exit(main())
