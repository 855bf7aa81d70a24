"""What a handler receives besides its payload."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg

from jobq_core.pg import store

if TYPE_CHECKING:
    import httpx

    from .settings import WorkerServiceSettings


@dataclass
class JobContext:
    """The running attempt: who it is, how to report progress, shared clients."""

    job_id: uuid.UUID
    type: str
    queue: str
    attempt: int
    max_attempts: int
    idempotency_key: str | None
    settings: WorkerServiceSettings
    http: httpx.AsyncClient
    _pool: asyncpg.Pool = field(repr=False)
    # ARQ's envelope of a job an ARQ producer enqueued (id, enqueue time, score, expiry).
    arq: dict[str, Any] | None = None
    log: logging.LoggerAdapter[logging.Logger] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.log = logging.LoggerAdapter(
            logging.getLogger(f"jobq.job.{self.type}"),
            {"job_id": str(self.job_id), "attempt": self.attempt},
        )

    @property
    def is_last_attempt(self) -> bool:
        """Whether a failure now makes the job dead."""
        return self.attempt >= self.max_attempts

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Store how far the job got (0 to 1) and what it is doing; shown by the API."""
        fraction = min(1.0, max(0.0, fraction))
        await store.set_progress(self._pool, self.job_id, self.attempt, fraction, message)
