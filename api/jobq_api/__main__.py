"""`python -m jobq_api`: serve the API with uvicorn."""

from __future__ import annotations

import signal
import sys

import uvicorn

from jobq_core import logs, tracing
from jobq_core.errors import ConfigurationError
from jobq_core.settings import load

from .app import create_app
from .settings import ApiSettings


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        access_log=False,
        log_config=None,  # uvicorn's records go through the root logger's format (jobq_core.logs)
        log_level=settings.log_level.lower(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
