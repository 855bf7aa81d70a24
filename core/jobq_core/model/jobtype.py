"""A job type: what workers can run, with its payload schema compiled once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobq_core.model.payloads import PayloadValidator, compile_schema


@dataclass(frozen=True)
class JobType:
    """A job type as workers register it."""

    name: str
    queue: str
    payload_schema: dict[str, Any]
    timeout_s: float
    max_attempts: int
    description: str = ""
    validator: PayloadValidator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "validator", compile_schema(self.payload_schema))

    def as_dict(self) -> dict[str, Any]:
        """The job type as the API shows it."""
        return {
            "name": self.name,
            "queue": self.queue,
            "payload_schema": self.payload_schema,
            "timeout_s": self.timeout_s,
            "max_attempts": self.max_attempts,
            "description": self.description,
        }
