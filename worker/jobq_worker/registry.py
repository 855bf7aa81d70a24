"""The handler registry: `@handler("email.send", payload=Model, ...)`."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from jobq_core.jobtypes import JobType
from jobq_core.names import DEFAULT_QUEUE

from .errors import PermanentFailure

HandlerFn = Callable[..., Awaitable[Any]]


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

    def get(self, name: str) -> HandlerSpec | None:
        """The handler of `name`, if this worker has one."""
        return self._specs.get(name)

    def all(self) -> list[HandlerSpec]:
        """Every handler, by name."""
        return sorted(self._specs.values(), key=lambda s: s.name)

    def queues(self) -> list[str]:
        """Every queue some handler names."""
        return sorted({s.queue for s in self._specs.values()})


registry = Registry()
handler = registry.handler


def load_modules(modules: list[str]) -> None:
    """Import the built-in handlers and each module in `modules`, registering their handlers."""
    importlib.import_module("jobq_worker.handlers")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(f"JOBQ_HANDLER_MODULES: cannot import {module!r}: {exc}") from exc
