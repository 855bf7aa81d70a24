"""Request and response bodies of the v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class JobIn(BaseModel):
    """A job to submit."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200, description="A job type a worker registered.")
    payload: Any = Field(default_factory=dict, description="JSON checked against the job type's schema.")
    queue: str | None = Field(
        default=None, max_length=100, pattern=NAME_PATTERN, description="Defaults to the job type's queue."
    )
    priority: int = Field(default=0, ge=-100, le=100, description="Higher runs first among ready jobs.")
    run_at: AwareDatetime | None = Field(default=None, description="Run no earlier than this time.")
    delay_s: float | None = Field(default=None, ge=0, le=31_536_000, description="Run after this many seconds.")
    max_attempts: int | None = Field(default=None, ge=1, le=100, description="Defaults to the job type's.")
    timeout_s: float | None = Field(default=None, gt=0, le=86_400, description="Defaults to the job type's.")
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="A repeat with the same key returns the first job instead of making a second.",
    )
    tags: list[str] = Field(default_factory=list, max_length=20, description="Labels to filter by.")

    @model_validator(mode="after")
    def _one_start_time(self) -> JobIn:
        if self.run_at is not None and self.delay_s is not None:
            raise ValueError("give run_at or delay_s, not both")
        for tag in self.tags:
            if not 1 <= len(tag) <= 100:
                raise ValueError("each tag must be 1 to 100 characters")
        return self


class BatchIn(BaseModel):
    """Jobs to submit together: all are stored or none."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobIn] = Field(min_length=1)


class ErrorOut(BaseModel):
    """Why an attempt failed."""

    type: str
    message: str
    traceback: str | None = None


class AttemptOut(BaseModel):
    """One finished attempt."""

    attempt: int
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime
    outcome: Literal["succeeded", "failed", "cancelled", "lost"]
    error: ErrorOut | None = None


class JobOut(BaseModel):
    """A job as the API shows it."""

    id: str
    type: str
    queue: str
    status: Literal["scheduled", "queued", "running", "succeeded", "dead", "cancelled"]
    payload: Any
    priority: int
    attempts: int
    max_attempts: int
    timeout_s: float
    idempotency_key: str | None
    tags: list[str]
    run_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: str | None
    progress: float | None
    progress_message: str | None
    result: Any
    error: ErrorOut | None
    history: list[AttemptOut] | None = Field(default=None, description="Finished attempts (single-job reads).")


class JobListOut(BaseModel):
    """A page of jobs."""

    jobs: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class BatchOut(BaseModel):
    """Submitted jobs, in request order."""

    jobs: list[JobOut]
    created: int = Field(description="How many are new (the rest matched an idempotency key).")


class QueueOut(BaseModel):
    """One queue's state."""

    name: str
    ready: int
    scheduled: int
    running: int
    dead: int
    oldest_ready_age_s: float | None
    paused: bool


class QueueListOut(BaseModel):
    """Every known queue."""

    queues: list[QueueOut]


class JobTypeOut(BaseModel):
    """A job type workers can run."""

    name: str
    queue: str
    payload_schema: dict[str, Any]
    timeout_s: float
    max_attempts: int
    description: str


class JobTypeListOut(BaseModel):
    """Every registered job type."""

    job_types: list[JobTypeOut]


class WorkerOut(BaseModel):
    """A worker process."""

    id: str
    hostname: str
    pid: int
    queues: list[str]
    job_types: list[str]
    concurrency: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool
    running: int


class WorkerListOut(BaseModel):
    """Workers seen in the last hour."""

    workers: list[WorkerOut]
