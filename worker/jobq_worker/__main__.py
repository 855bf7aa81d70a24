"""`python -m jobq_worker`: run a worker process."""

from __future__ import annotations

import sys

from jobq_core import logs, tracing
from jobq_core.errors import ConfigurationError
from jobq_core.settings import load

from .registry import load_modules, registry
from .service import serve
from .settings import WorkerSettings


def main() -> int:
    """Run a worker until SIGTERM; exit 2 with one line when a setting is wrong."""
    try:
        settings = load(WorkerSettings)
        logs.configure(settings.log_level, settings.log_format)
        tracing.configure("jobq-worker")
        load_modules(settings.handler_module_list)
    except (ConfigurationError, ImportError) as exc:
        print(f"jobq-worker: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            import uvloop
        except ImportError:  # uvloop is not built for every platform
            import asyncio

            asyncio.run(serve(settings, registry))
        else:
            uvloop.run(serve(settings, registry))
    except ConfigurationError as exc:  # found at start-up, e.g. a metrics port already taken
        print(f"jobq-worker: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
