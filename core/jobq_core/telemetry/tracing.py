"""OpenTelemetry traces: one trace per job, from the HTTP request to the handler's calls.

Off unless the standard ``OTEL_*`` variables ask for it: an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or
``OTEL_TRACES_EXPORTER=otlp|console``; ``OTEL_SDK_DISABLED=true`` turns it off again.
When off, no SDK is imported, no provider is installed, and every helper here returns
at its first line (:data:`enabled` is a plain module attribute the hot paths test).

When on, a service calls :func:`configure` once at start-up; the SDK then reads the rest
of its configuration from the environment as usual (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``,
``OTEL_EXPORTER_OTLP_*`` headers, timeout, compression, certificates).

The spans, named and attributed after OpenTelemetry's messaging conventions:

- ``<queue> publish`` (PRODUCER), around storing and dispatching submitted jobs. Its
  context, as W3C ``traceparent``/``tracestate``, is stored with each job (PostgreSQL
  ``trace_context``) and carried in every Redis message of that job, so delayed jobs,
  retries and relayed or rescued jobs all continue the submitter's trace.
- ``<queue> process`` (CONSUMER), one per attempt in the worker, a child of the publish
  span: retries are further process spans in the same trace.
- client spans for what a handler calls (SMTP, HTTP), children of the process span.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from jobq_core import __version__
from jobq_core.errors import ConfigurationError

if TYPE_CHECKING:
    from jobq_core.pg.store import NewJob

log = logging.getLogger(__name__)

# The value of `messaging.system` on every jobq span.
MESSAGING_SYSTEM = "jobq"
TRACER_NAME = "jobq"
# Exporters jobq can install from OTEL_TRACES_EXPORTER (OTLP is HTTP/protobuf only).
EXPORTERS = ("otlp", "console", "none")
SUPPORTED_PROTOCOL = "http/protobuf"

# Whether a provider was installed by :func:`configure`: the hot paths test this first.
enabled = False
_tracer: trace.Tracer = trace.NoOpTracer()


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() == "true"


def exporters_from_env(env: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for; empty means tracing stays off.

    Raises :class:`ConfigurationError` naming the variable for a value jobq cannot honour.
    """
    if _flag(env, "OTEL_SDK_DISABLED"):
        return []
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if raw:
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in EXPORTERS]
        if unknown:
            raise ConfigurationError(
                f"OTEL_TRACES_EXPORTER: unsupported exporter {unknown[0]!r} (jobq offers {', '.join(EXPORTERS)})"
            )
        chosen = [n for n in names if n != "none"]
    elif env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        chosen = ["otlp"]
    else:
        chosen = []
    if "otlp" in chosen:
        for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = env.get(name, "").strip()
            if protocol:
                if protocol != SUPPORTED_PROTOCOL:
                    raise ConfigurationError(
                        f"{name}: unsupported protocol {protocol!r} (jobq exports OTLP as {SUPPORTED_PROTOCOL})"
                    )
                break
    return chosen


def configure(service_name: str, env: Mapping[str, str] | None = None) -> bool:
    """Install the SDK's tracer provider when the environment asks for traces.

    Returns whether tracing is on. `service_name` is the default `service.name`
    (``OTEL_SERVICE_NAME`` wins). Spans still buffered are exported at interpreter exit.
    """
    global enabled, _tracer
    env = os.environ if env is None else env
    chosen = exporters_from_env(env)
    if not chosen:
        return False
    # Imported here: a process with tracing off never loads the SDK.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    attributes: dict[str, str] = {"service.version": __version__}
    if not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in chosen:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer(TRACER_NAME, __version__)
    enabled = True
    log.info("traces on: exporting with %s", ", ".join(chosen))
    return True


# -- context carried with a job ---------------------------------------------------------


def inject(carrier: MutableMapping[str, str]) -> None:
    """Write the current trace context (W3C ``traceparent``, ``tracestate``) into `carrier`."""
    if enabled:
        propagate.inject(carrier)


def current_ids() -> tuple[str, str] | None:
    """The active span's trace and span ids in hex, or None outside a recorded span."""
    if not enabled:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)


def _messaging(queue: str, operation: str, kind: str) -> dict[str, Any]:
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.name": operation,
        "messaging.operation.type": kind,
    }


@contextlib.contextmanager
def publishing(new_jobs: Sequence[NewJob]) -> Iterator[list[NewJob]]:
    """PRODUCER spans around submitting `new_jobs`: one ``<queue> publish`` per queue.

    Yields the jobs with their trace context filled in from their queue's span (the
    caller stores and dispatches those). A single job's span names its id; a batch's
    span counts its messages. Without tracing, yields `new_jobs` as they are.
    """
    if not enabled or not new_jobs:
        yield list(new_jobs)
        return
    by_queue: dict[str, list[NewJob]] = {}
    for job in new_jobs:
        by_queue.setdefault(job.queue, []).append(job)
    parent = otel_context.get_current()  # each queue's span is a sibling under the request's
    with contextlib.ExitStack() as stack:
        carriers: dict[str, dict[str, str]] = {}
        for queue, jobs in by_queue.items():
            attributes = _messaging(queue, "publish", "send")
            if len(jobs) == 1:
                attributes["messaging.message.id"] = str(jobs[0].id)
                attributes["jobq.job.type"] = jobs[0].type
            else:
                attributes["messaging.batch.message_count"] = len(jobs)
            span = _tracer.start_span(f"{queue} publish", context=parent, kind=SpanKind.PRODUCER, attributes=attributes)
            stack.enter_context(trace.use_span(span, end_on_exit=True))
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span))
            carriers[queue] = carrier
        yield [
            job if job.trace_context else dataclasses.replace(job, trace_context=carriers[job.queue])
            for job in new_jobs
        ]


@contextlib.contextmanager
def processing(
    queue: str, job_id: str, job_type: str, attempt: int, trace_context: Mapping[str, str] | None, start_ns: int
) -> Iterator[None]:
    """The CONSUMER span ``<queue> process`` of one attempt, a child of the job's publish span.

    `start_ns` (``time.time_ns()`` taken before the claim) makes the span cover the
    claim too. Exceptions escaping the block are recorded on the span.
    """
    if not enabled:
        yield
        return
    parent = propagate.extract(trace_context) if trace_context else otel_context.Context()
    attributes = _messaging(queue, "process", "process")
    attributes.update({"messaging.message.id": job_id, "jobq.job.type": job_type, "jobq.job.attempt": attempt})
    with _tracer.start_as_current_span(
        f"{queue} process", context=parent, kind=SpanKind.CONSUMER, attributes=attributes, start_time=start_ns or None
    ):
        yield


def record_failure(exc: BaseException, next_status: str) -> None:
    """Mark the active span failed with `exc`, noting what happens to the job next."""
    if not enabled:
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:512]))
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_attribute("jobq.job.next_status", next_status)


def set_attribute(name: str, value: Any) -> None:
    """Set an attribute on the active span (nothing without tracing)."""
    if enabled:
        trace.get_current_span().set_attribute(name, value)


def client_span(name: str, attributes: Mapping[str, Any]) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A CLIENT span for a call a handler makes (SMTP, HTTP); a no-op context without tracing.

    Yields the span (None without tracing); exceptions escaping it are recorded.
    """
    if not enabled:
        return contextlib.nullcontext()
    return _tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=dict(attributes))


def fail_span(span: trace.Span, description: str) -> None:
    """Set `span`'s status to ERROR with `description`."""
    span.set_status(Status(StatusCode.ERROR, description))
