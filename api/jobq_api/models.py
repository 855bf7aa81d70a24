"""Request and response bodies of the v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from jobq_core.model.priority import MAX_PRIORITY, MIN_PRIORITY

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_NUL = "\x00"
_NUL_MESSAGE = "must not contain the NUL character (U+0000), which PostgreSQL cannot store"


def _without_nul(value: str) -> str:
    if _NUL in value:
        raise ValueError(_NUL_MESSAGE)
    return value


def _storable_json(value: Any) -> Any:
    try:
        orjson.dumps(value)  # integers beyond 64 bits, nesting deeper than 254 levels
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot be stored as JSON: {exc}") from None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and _NUL in item:
            raise ValueError(_NUL_MESSAGE)
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return value


Text = Annotated[str, AfterValidator(_without_nul)]
"""A string PostgreSQL can store."""
StorableJson = Annotated[Any, AfterValidator(_storable_json)]
"""JSON that PostgreSQL can store as jsonb and orjson can encode."""


class JobIn(BaseModel):
    """A job to submit."""

    model_config = ConfigDict(extra="forbid")

    type: Text = Field(min_length=1, max_length=200, description="A job type a worker registered.")
    payload: StorableJson = Field(default_factory=dict, description="JSON checked against the job type's schema.")
    queue: str | None = Field(
        default=None, max_length=100, pattern=NAME_PATTERN, description="Defaults to the job type's queue."
    )
    priority: int = Field(
        default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY, description="Higher runs first among ready jobs."
    )
    run_at: AwareDatetime | None = Field(default=None, description="Run no earlier than this time.")
    delay_s: float | None = Field(default=None, ge=0, le=31_536_000, description="Run after this many seconds.")
    max_attempts: int | None = Field(default=None, ge=1, le=100, description="Defaults to the job type's.")
    timeout_s: float | None = Field(default=None, gt=0, le=86_400, description="Defaults to the job type's.")
    idempotency_key: Text | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="A repeat with the same key returns the first job instead of making a second.",
    )
    tags: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20, description="Labels to filter by."
    )

    @model_validator(mode="after")
    def _one_start_time(self) -> JobIn:
        if self.run_at is not None and self.delay_s is not None:
            raise ValueError("give run_at or delay_s, not both")
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
    cancel_requested_at: datetime | None = Field(
        default=None, description="When cancelling this running job was asked for; it stops cooperatively."
    )
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


class ScheduleJobIn(BaseModel):
    """The job a schedule submits at each slot."""

    model_config = ConfigDict(extra="forbid")

    type: Text = Field(min_length=1, max_length=200)
    payload: StorableJson = Field(default_factory=dict)
    queue: str | None = Field(default=None, max_length=100, pattern=NAME_PATTERN)
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    timeout_s: float | None = Field(default=None, gt=0, le=86_400)
    tags: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=20)


class ScheduleIn(BaseModel):
    """A recurring schedule."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200, description="Unique.")
    cron: str = Field(
        min_length=1,
        max_length=200,
        description="5 fields (minute hour day month weekday), or 6 with seconds first.",
    )
    timezone: str = Field(default="UTC", max_length=100, description="IANA time zone the cron is read in.")
    job: ScheduleJobIn
    missed: Literal["skip", "run_once"] = Field(
        default="skip", description="Slots missed while nothing ran: skip them, or run once for them all."
    )
    paused: bool = False


class SchedulePatch(BaseModel):
    """Fields of a schedule to change."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    cron: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=100)
    job: ScheduleJobIn | None = None
    missed: Literal["skip", "run_once"] | None = None
    paused: bool | None = None


class ScheduleOut(BaseModel):
    """A schedule and when it runs next."""

    id: str
    name: str
    cron: str
    timezone: str
    job: dict[str, Any]
    missed: Literal["skip", "run_once"]
    paused: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: str | None
    created_at: datetime
    updated_at: datetime


class ScheduleListOut(BaseModel):
    """Every schedule."""

    schedules: list[ScheduleOut]
