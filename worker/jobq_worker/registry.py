"""Handler registries: `handlers = Registry()`, then `@handlers.handler("email.send", payload=Model)`.

A registry is a plain value, like a procrastinate blueprint: the built-in handlers
declare theirs, a user module declares its own, and the worker's composition root
(:func:`compose`) includes each into the one registry the worker runs. Importing a
module registers nothing anywhere else.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from jobq_core.model.jobtype import JobType
from jobq_core.model.states import JobStatus
from jobq_core.names import DEFAULT_QUEUE

from .errors import PermanentFailure

HandlerFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Finished:
    """How an attempt ended, once recorded: `status` is the job's status now (queued or
    scheduled when another attempt follows), with the result or the error document."""

    status: JobStatus
    result: Any = None
    error: dict[str, Any] | None = None


# Called after an attempt's outcome is recorded (an ARQ app's result and after_job_end).
FinishedHook = Callable[[Any, Finished], Awaitable[None]]


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler and the job type it serves."""

    name: str
    fn: HandlerFn
    payload_model: type[BaseModel] | None
    queue: str
    timeout_s: float
    max_attempts: int
    description: str
    finished: FinishedHook | None = None

    def schema(self) -> dict[str, Any]:
        """The payload's JSON Schema, from the pydantic model."""
        if self.payload_model is None:
            return {"type": "object"}
        return self.payload_model.model_json_schema()

    def job_type(self) -> JobType:
        """The job type this handler registers."""
        return JobType(self.name, self.queue, self.schema(), self.timeout_s, self.max_attempts, self.description)

    def parse(self, payload: Any) -> Any:
        """The payload as the handler receives it; a mismatch is a permanent failure."""
        if self.payload_model is None:
            return payload
        try:
            return self.payload_model.model_validate(payload)
        except ValidationError as exc:
            raise PermanentFailure(f"payload does not match {self.name}: {exc}") from exc


class Registry:
    """Handlers by job type name."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def handler(
        self,
        name: str,
        *,
        payload: type[BaseModel] | None = None,
        queue: str = DEFAULT_QUEUE,
        timeout_s: float = 300.0,
        max_attempts: int = 5,
        description: str | None = None,
    ) -> Callable[[HandlerFn], HandlerFn]:
        """Register the decorated coroutine `fn(ctx, payload)` as the handler of `name`."""

        def register(fn: HandlerFn) -> HandlerFn:
            if name in self._specs:
                raise ValueError(f"job type {name!r} has two handlers")
            if timeout_s <= 0 or max_attempts < 1:
                raise ValueError(f"{name}: timeout_s must be > 0 and max_attempts >= 1")
            doc = description if description is not None else (fn.__doc__ or "").strip().split("\n")[0]
            self._specs[name] = HandlerSpec(name, fn, payload, queue, timeout_s, max_attempts, doc)
            return fn

        return register

    def add(self, spec: HandlerSpec) -> None:
        """Register a handler built elsewhere (an ARQ app's functions); a second for a job type is an error."""
        if spec.name in self._specs:
            raise ValueError(f"job type {spec.name!r} has two handlers")
        self._specs[spec.name] = spec

    def include(self, other: Registry) -> None:
        """Add every handler of `other`; a job type both have is an error."""
        for spec in other._specs.values():
            self.add(spec)

    def get(self, name: str) -> HandlerSpec | None:
        """The handler of `name`, if this worker has one."""
        return self._specs.get(name)

    def all(self) -> list[HandlerSpec]:
        """Every handler, by name."""
        return sorted(self._specs.values(), key=lambda s: s.name)

    def queues(self) -> list[str]:
        """Every queue some handler names."""
        return sorted({s.queue for s in self._specs.values()})


# Where a user module's registry is found when JOBQ_HANDLER_MODULES names only the module.
DEFAULT_ATTRIBUTE = "handlers"


def load_registry(reference: str) -> Registry:
    """The registry named by `reference`: ``package.module`` (its ``handlers``) or ``package.module:name``."""
    module_name, _, attribute = reference.partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"JOBQ_HANDLER_MODULES: cannot import {module_name!r}: {exc}") from exc
    found = getattr(module, attribute, None)
    if not isinstance(found, Registry):
        raise ImportError(
            f"JOBQ_HANDLER_MODULES: {module_name!r} has no Registry named {attribute!r} "
            f"(declare `{attribute} = Registry()` there and decorate handlers with `@{attribute}.handler(...)`)"
        )
    return found


def compose(parts: Iterable[Registry], references: Iterable[str] = ()) -> Registry:
    """One registry with every handler of `parts` and of the user registries `references` name."""
    composed = Registry()
    for part in [*parts, *(load_registry(r) for r in references)]:
        composed.include(part)
    return composed
