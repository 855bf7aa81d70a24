"""Loading an ARQ ``WorkerSettings`` exactly as the ``arq`` CLI does, read by ARQ's own Worker."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import orjson
from arq.cron import CronJob
from arq.utils import import_string
from arq.worker import Function, Worker, get_kwargs

from jobq_core.errors import ConfigurationError

# The setting and flag named in start-up errors.
SETTING = "JOBQ_ARQ_SETTINGS"
# A message as ARQ writes one, to check that the app's serializers speak JSON.
_PROBE = {"t": 1, "f": "probe", "a": [1, "two", [3.5]], "k": {"x": None, "y": True}, "et": 1_700_000_000_000}
_PICKLE_REFUSED = (
    "{ref} serializes ARQ messages with pickle (ARQ's default when job_serializer is unset). jobq reads and "
    "writes ARQ messages as JSON only: a pickled message runs code for anyone who can write to Redis. "
    "Set both in the WorkerSettings and in every create_pool(...) of your producers, e.g. "
    "job_serializer = lambda v: json.dumps(v).encode() and job_deserializer = json.loads"
)


@dataclass(frozen=True)
class ArqApp:
    """An ARQ app's settings as ARQ's Worker reads them, with what jobq needs of them."""

    reference: str
    worker: Worker  # ARQ's own, built from the settings and never run: it normalises them
    explicit: dict[str, Any]  # what the settings themselves set (ARQ's get_kwargs)

    @property
    def queue(self) -> str:
        """The ARQ queue (a Redis sorted set) its producers enqueue into."""
        return str(self.worker.queue_name)

    @property
    def functions(self) -> dict[str, Function | CronJob]:
        """Every function and cron job, by the name jobs are enqueued under."""
        return dict(self.worker.functions)

    @property
    def cron_jobs(self) -> list[CronJob]:
        return list(self.worker.cron_jobs)

    def timeout_s(self, f: Function | CronJob) -> float:
        return float(f.timeout_s or self.worker.job_timeout_s or 300)

    def max_tries(self, f: Function | CronJob) -> int:
        return int(f.max_tries or self.worker.max_tries)

    def keep_result_ms(self, f: Function | CronJob) -> int | None:
        """How long ARQ keeps the function's result: ms, 0 for not at all, None for ever."""
        forever = self.worker.keep_result_forever if f.keep_result_forever is None else f.keep_result_forever
        if forever:
            return None
        keep_s = self.worker.keep_result_s if f.keep_result_s is None else f.keep_result_s
        return int(float(keep_s or 0) * 1000)

    def hook(self, name: str) -> Any:
        """`on_startup`, `on_shutdown`, `on_job_start`, `on_job_end` or `after_job_end`, or None."""
        return getattr(self.worker, name)


def load(reference: str) -> ArqApp:
    """The settings class or dict `reference` names (``pkg.module.WorkerSettings``).

    Raises ConfigurationError naming the setting when it cannot be imported, ARQ's Worker
    refuses it, or its serializers are not JSON.
    """
    try:
        settings = import_string(reference)
    except ImportError as exc:
        raise ConfigurationError(f"{SETTING}: cannot import {reference!r}: {exc}") from exc
    explicit: dict[str, Any] = dict(get_kwargs(settings))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # ARQ asks for an event loop it never uses here
            worker = Worker(**{**explicit, "handle_signals": False})
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{SETTING}: ARQ refuses {reference}: {exc}") from exc
    _check_json(reference, worker)
    return ArqApp(reference, worker, explicit)


def _pickles(serialize: Any) -> bool:
    """Whether `serialize` writes pickles (protocol 2 on starts with 0x80)."""
    try:
        return bytes(serialize(_PROBE))[:1] == b"\x80"
    except Exception:
        return False


def _check_json(reference: str, worker: Worker) -> None:
    serialize, deserialize = worker.job_serializer, worker.job_deserializer
    if serialize is None or deserialize is None:
        raise ConfigurationError(f"{SETTING}: " + _PICKLE_REFUSED.format(ref=reference))
    if _pickles(serialize):
        raise ConfigurationError(f"{SETTING}: " + _PICKLE_REFUSED.format(ref=reference))
    try:
        written = orjson.loads(serialize(_PROBE))
        read = deserialize(orjson.dumps(_PROBE))
    except Exception as exc:
        raise ConfigurationError(
            f"{SETTING}: {reference}'s job_serializer/job_deserializer are not JSON ({type(exc).__name__}: {exc}); "
            "jobq reads and writes ARQ messages as JSON only"
        ) from exc
    if written != _PROBE or read != _PROBE:
        raise ConfigurationError(
            f"{SETTING}: {reference}'s job_serializer/job_deserializer do not round-trip JSON; "
            "jobq reads and writes ARQ messages as JSON only"
        )
