"""`python -m jobq_worker`: run a worker process."""

from __future__ import annotations

import logging
import sys

from jobq_core.errors import ConfigurationError
from jobq_core.settings import load

from .registry import load_modules, registry
from .service import serve
from .settings import WorkerSettings


def main() -> int:
    """Run a worker until SIGTERM; exit 2 with one line when a setting is wrong."""
    try:
        settings = load(WorkerSettings)
        load_modules(settings.handler_module_list)
    except (ConfigurationError, ImportError) as exc:
        print(f"jobq-worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:  # uvloop is not built for every platform
        import asyncio

        asyncio.run(serve(settings, registry))
    else:
        uvloop.run(serve(settings, registry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
