"""`python -m jobq_operator`: run the operator (kopf, standalone) in one namespace.

Serves /metrics and /healthz on JOBQ_OPERATOR_METRICS_PORT; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import sys

import kopf

from jobq_core.errors import ConfigurationError
from jobq_core.settings import load
from jobq_core.telemetry import logs

from . import handlers, metrics
from .settings import OperatorSettings


async def run(settings: OperatorSettings, namespace: str) -> None:
    """Run kopf for `namespace` with the metrics endpoint beside it."""
    runner = None
    if settings.operator_metrics_port:
        runner = await metrics.serve(settings.operator_metrics_host, settings.operator_metrics_port)
    try:
        await kopf.operator(
            standalone=True,
            namespaces=[namespace],
            clusterwide=False,
            memo=kopf.Memo(settings=settings),
        )
    finally:
        if runner is not None:
            await runner.close()


def main() -> int:
    """Run until SIGTERM; exit 2 with one line when a setting is wrong."""
    try:
        settings = load(OperatorSettings)
    except ConfigurationError as exc:
        print(f"jobq-operator: {exc}", file=sys.stderr)
        return 2
    namespace = settings.namespace()
    if not namespace:
        print(
            "jobq-operator: JOBQ_OPERATOR_NAMESPACE is required outside a pod (no service-account namespace found)",
            file=sys.stderr,
        )
        return 2
    logs.configure(settings.log_level, settings.log_format)
    assert handlers.track is not None  # importing the module registers the handlers
    asyncio.run(run(settings, namespace))
    return 0


if __name__ == "__main__":
    sys.exit(main())
