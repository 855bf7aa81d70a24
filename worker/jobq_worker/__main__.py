"""`python -m jobq_worker` (`jobq-worker`): run a worker process.

``jobq-worker --arq myapp.worker.WorkerSettings`` runs an ARQ app (the same as
``JOBQ_ARQ_SETTINGS``); every other setting is a ``JOBQ_*`` variable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jobq_core.errors import ConfigurationError
from jobq_core.settings import load
from jobq_core.telemetry import logs, tracing

from .handlers import builtin
from .registry import compose
from .service import Extension, serve
from .settings import WorkerServiceSettings


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jobq-worker", description="Run a jobq worker until SIGTERM.")
    parser.add_argument(
        "--arq",
        metavar="SETTINGS",
        help="run this ARQ app: its WorkerSettings class or dict, as `arq` takes it (default: $JOBQ_ARQ_SETTINGS)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a worker until SIGTERM; exit 2 with one line when a setting is wrong."""
    arguments = _arguments(argv)
    try:
        settings = load(WorkerServiceSettings)
        if arguments.arq:
            settings = settings.model_copy(update={"arq_settings": arguments.arq})
        logs.configure(settings.log_level, settings.log_format)
        tracing.configure("jobq-worker")
        parts = list(builtin(demo_handlers=settings.demo_handlers))
        extension: Extension | None = None
        if settings.arq_settings:
            from .arq import app as arq_app
            from .arq.runtime import ArqRuntime

            loaded = arq_app.load(settings.arq_settings)
            if "max_jobs" in loaded.explicit:  # ARQ's max_jobs is the worker's concurrency
                settings = settings.model_copy(update={"concurrency": int(loaded.worker.max_jobs)})
            runtime = ArqRuntime(loaded)
            parts.append(runtime.registry())
            extension = runtime
        registry = compose(parts, settings.handler_module_list)
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

            asyncio.run(serve(settings, registry, extension))
        else:
            uvloop.run(serve(settings, registry, extension))
    except ConfigurationError as exc:  # found at start-up, e.g. a metrics port already taken
        print(f"jobq-worker: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
