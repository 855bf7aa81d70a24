"""`python -m jobq_worker`: run a worker process."""

from __future__ import annotations

import sys

from jobq_core.errors import ConfigurationError
from jobq_core.settings import load
from jobq_core.telemetry import logs, tracing

from .handlers import builtin
from .registry import compose
from .service import serve
from .settings import WorkerServiceSettings


def main() -> int:
    """Run a worker until SIGTERM; exit 2 with one line when a setting is wrong."""
    try:
        settings = load(WorkerServiceSettings)
        logs.configure(settings.log_level, settings.log_format)
        tracing.configure("jobq-worker")
        registry = compose(builtin(demo_handlers=settings.demo_handlers), settings.handler_module_list)
    except ValueError as exc:  # two handlers for one job type
        print(f"jobq-worker: JOBQ_HANDLER_MODULES: {exc}", file=sys.stderr)
        return 2
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
