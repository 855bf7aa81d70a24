"""Request and response bodies of the v1 API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from jobq_core.flows.dead_groups import RETRY_CAP, SCAN_LIMIT
from jobq_core.model.fingerprint import MESSAGE_CHARS, SAMPLE_IDS
from jobq_core.model.priority import MAX_PRIORITY, MIN_PRIORITY
from jobq_core.model.states import JobStatus
from jobq_core.pg.apikeys import Scope
from jobq_core.pg.audit import Action
from jobq_core.pg.bulk_operations import BulkAction, BulkStatus

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
    cloned_from: uuid.UUID | None = Field(
        default=None, description="The job this one copies (the dashboard's clone and edit); stored on the new job."
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
    cloned_from: str | None = Field(
        default=None, description="The job this one was cloned from; it may have been deleted since."
    )
    schedule_id: str | None = Field(
        default=None, description="The schedule that made this job (a slot, or a run by hand)."
    )
    history: list[AttemptOut] | None = Field(default=None, description="Finished attempts (single-job reads).")


class JobListOut(BaseModel):
    """A page of jobs."""

    jobs: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class JobCount(BaseModel):
    """A number of jobs, exact or estimated."""

    value: int = Field(ge=0)
    exact: bool = Field(description="false: PostgreSQL's estimate, given when more than 10,000 match.")


class JobCountOut(BaseModel):
    """How many jobs match the filters."""

    count: JobCount


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


class JobEventData(BaseModel):
    """A `job` event's data: the job's fields a list row or a job page patches itself with."""

    id: str
    type: str
    queue: str
    status: Literal["scheduled", "queued", "running", "succeeded", "dead", "cancelled"]
    priority: int
    attempts: int
    max_attempts: int
    progress: float | None
    progress_message: str | None
    tags: list[str]
    run_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ResetEventData(BaseModel):
    """A `reset` event's data: what the client knows may be incomplete; it refetches everything."""

    reason: Literal["unknown_id", "behind", "overflow", "recovered"] = Field(
        description="`unknown_id`: the Last-Event-ID is older than what the server keeps, or from another process"
        " or start; `behind`: this client read too slowly and events were dropped for it; `overflow`: more jobs"
        " changed at once than the stream carries; `recovered`: PostgreSQL answers again after an `unavailable`."
    )


class UnavailableEventData(BaseModel):
    """An `unavailable` event's data."""

    message: str = Field(description="Why PostgreSQL cannot be read, e.g. `connection refused`.")


class JobEvent(BaseModel):
    """`event: job`: a job was created or changed state, attempt or progress."""

    event: Literal["job"]
    id: str = Field(description="Increasing within one API process start; send it back as `Last-Event-ID`.")
    data: JobEventData


class QueuesEvent(BaseModel):
    """`event: queues`: the per-queue counts changed; as `GET /v1/queues` gives them."""

    event: Literal["queues"]
    id: str
    data: QueueListOut


class WorkersEvent(BaseModel):
    """`event: workers`: a worker came, went, or its running count changed; as `GET /v1/workers` gives them."""

    event: Literal["workers"]
    id: str
    data: WorkerListOut


class ResetEvent(BaseModel):
    """`event: reset`: refetch everything, then keep reading (its `id` is where the stream now is)."""

    event: Literal["reset"]
    id: str
    data: ResetEventData


class UnavailableEvent(BaseModel):
    """`event: unavailable`: the stream sees no changes until a `reset`; poll meanwhile."""

    event: Literal["unavailable"]
    id: str
    data: UnavailableEventData


ServerEvent = Annotated[
    JobEvent | QueuesEvent | WorkersEvent | ResetEvent | UnavailableEvent, Field(discriminator="event")
]
"""One event of `GET /v1/events`; `data` is one line of compact JSON on the wire."""


class MeOut(BaseModel):
    """The API key a request was made with, and what it may do."""

    id: str = Field(description="The key's id (its row in the key table; never the key itself).")
    name: str = Field(description="The name the key was created with (`jobq create-key --name`).")
    scopes: list[str] = Field(description="Its scopes: `jobs:read`, `jobs:write`, `admin`.")
    can_read: bool = Field(description="May read jobs, queues, schedules, job types and workers (`jobs:read`).")
    can_write: bool = Field(
        description="May submit, cancel, retry and delete jobs and change schedules (`jobs:write`)."
    )
    can_admin: bool = Field(description="May pause and resume queues (`admin`).")


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
    declared_by: str | None = Field(
        default=None,
        description="Who declares the schedule in code (`arq:<queue>` for an ARQ app's cron jobs), which"
        " reconciles it at each worker start: it cannot be changed or deleted here, only paused and resumed."
        " Null for a schedule made through the API.",
    )
    next_runs: list[datetime] = Field(
        default_factory=list,
        description="The next ten fire times (UTC) from `next_run_at` on, in the schedule's time zone;"
        " empty while paused.",
    )


class ScheduleListOut(BaseModel):
    """Every schedule."""

    schedules: list[ScheduleOut]


class ScheduleRunsOut(BaseModel):
    """The jobs a schedule made, newest first."""

    jobs: list[JobOut]


class StatsNumbers(BaseModel):
    """Numbers over some rolled-up minutes (a bucket, or a whole window).

    Percentiles over more than one minute are approximate: p50 is the mean of the
    minutes' p50 weighted by their samples, p95 the highest minute's p95.
    """

    minutes: int = Field(description="How many of its minutes were rolled up (0: no data, e.g. no leader ran).")
    completed: int = Field(description="Jobs that finished: succeeded + dead.")
    succeeded: int = Field(description="Attempts that succeeded.")
    failed: int = Field(description="Attempts that failed or were lost (a retried job counts each time).")
    dead: int = Field(description="Jobs that ended dead.")
    throughput_per_min: float | None = Field(description="`completed` per rolled-up minute; null without any.")
    run_ms_p50: float | None = Field(description="Run time of succeeded and failed attempts, median (ms).")
    run_ms_p95: float | None = Field(description="Run time, 95th percentile (ms).")
    wait_ms_p50: float | None = Field(description="Queue wait (started − ready) of succeeded attempts, median (ms).")
    wait_ms_p95: float | None = Field(description="Queue wait, 95th percentile (ms).")


class StatsBucket(StatsNumbers):
    """One bucket of a series."""

    start: datetime = Field(description="The bucket's first minute; it lasts `bucket_s`.")


class StatsSeries(BaseModel):
    """A window's numbers in all, and bucket by bucket (every bucket present, oldest first)."""

    summary: StatsNumbers
    buckets: list[StatsBucket]


class QueueStatsOut(StatsSeries):
    """One queue's series."""

    queue: str


class StatsOut(BaseModel):
    """Per-minute rollups over a window, read from the table the leader fills: every reader
    gets the same numbers until the next minute is rolled up."""

    window: Literal["1h", "24h", "7d"]
    bucket_s: int = Field(description="Length of each bucket: 60, 900 or 3600 seconds.")
    start: datetime = Field(description="The first bucket's start.")
    end: datetime = Field(description="The last bucket's end (the last bucket may still be filling).")
    rolled_up_until: datetime | None = Field(
        description="The end of the latest minute rolled up; null when none is yet."
    )
    total: StatsSeries = Field(description="All queues together.")
    queues: list[QueueStatsOut] = Field(description="Each queue with rows in the window, by name.")


class AttentionItemOut(BaseModel):
    """One thing that needs attention."""

    kind: Literal["queue_latency", "failures_rising", "type_unserved", "dead_growing"]
    queue: str | None
    type: str | None = Field(description="The job type (`type_unserved`); null for the other kinds.")
    message: str = Field(description="A sentence saying what is wrong, with the numbers.")
    numbers: dict[str, float | None] = Field(description="The numbers behind it, by name (see the README).")


class AttentionOut(BaseModel):
    """What needs attention now."""

    items: list[AttentionItemOut]
    rolled_up_until: datetime | None = Field(
        description="The end of the latest minute rolled up, which failures and dead jobs are judged at."
    )


class ApiKeyIn(BaseModel):
    """An API key to create."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200, description="A label for the key: who or what uses it.")
    scopes: list[Scope] = Field(
        min_length=1, max_length=10, description="`jobs:read`, `jobs:write` and/or `admin` (which includes both)."
    )


class ApiKeyOut(BaseModel):
    """An API key as the API shows it: never the key itself nor its hash."""

    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = Field(description="When the key was revoked; null while it is valid.")


class ApiKeyCreatedOut(ApiKeyOut):
    """A new API key, with the key itself: shown this once, stored only as a hash."""

    secret: str = Field(description="The key, to send as `Authorization: Bearer <secret>`; it cannot be read again.")


class ApiKeyListOut(BaseModel):
    """Every API key, revoked ones too, newest first."""

    api_keys: list[ApiKeyOut]


class DeadGroupOut(BaseModel):
    """Dead jobs of one type that failed with the same error, ids and numbers aside."""

    fingerprint: str = Field(description="16 hex digits naming the group; stable across calls and releases.")
    type: str = Field(description="The job type.")
    error_type: str | None = Field(description="The error's type (an exception class, `TimeoutError`, `WorkerLost`).")
    message_pattern: str = Field(
        description="The message with ids, numbers, times, quoted strings and e-mail addresses replaced"
        " by `<uuid>`, `<hex>`, `<n>`, `<ts>`, `'<s>'` and `<email>`."
    )
    sample_message: str | None = Field(
        description=f"The newest job's message (its first {MESSAGE_CHARS:,} characters)."
    )
    count: int = Field(description="Dead jobs in the group, among those scanned.")
    first_finished_at: datetime | None = Field(description="When the group's longest-dead job (of those scanned) died.")
    last_finished_at: datetime | None = Field(description="When its latest job died.")
    sample_job_ids: list[str] = Field(description=f"Up to {SAMPLE_IDS} of its job ids, newest first.")


class DeadGroupListOut(BaseModel):
    """Groups of dead jobs, the largest first, counted over the newest dead jobs."""

    groups: list[DeadGroupOut]
    scanned: int = Field(description=f"Dead jobs read, the newest first (at most {SCAN_LIMIT:,}).")
    truncated: bool = Field(description="True when older dead jobs were not read: counts cover the scanned ones.")


class DeadGroupRetryIn(BaseModel):
    """How many of a group's dead jobs to retry."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(
        default=None,
        ge=1,
        le=RETRY_CAP,
        description=f"At most this many, the longest dead first; default all (up to {RETRY_CAP:,}).",
    )


class DeadGroupRetryOut(BaseModel):
    """What a group retry did."""

    fingerprint: str
    retried: int = Field(description="Jobs sent back to their queue with one more attempt.")
    remaining: int = Field(description="Jobs of the group still dead, among those scanned.")
    scanned: int = Field(description=f"Dead jobs read to find the group's (at most {SCAN_LIMIT:,}).")
    truncated: bool = Field(description="True when older dead jobs were not read: more of the group may be there.")


class MailHeaderOut(BaseModel):
    """One header of a caught message, decoded (RFC 2047 words as text)."""

    name: str
    value: str


class CaughtMailOut(BaseModel):
    """A message `jobq run`'s mail catcher accepted: its envelope, headers and bodies."""

    id: str = Field(description="The message's id: when it arrived (ns since the epoch) and a counter.")
    received_at: AwareDatetime = Field(description="When the catcher accepted it.")
    sender: str = Field(description="The envelope sender (SMTP `MAIL FROM`).")
    recipients: list[str] = Field(description="The envelope recipients (SMTP `RCPT TO`): To, Cc and Bcc.")
    subject: str | None = Field(description="The `Subject` header.")
    date: AwareDatetime | None = Field(description="The `Date` header; null when missing or unreadable.")
    message_id: str | None = Field(description="The `Message-ID` header (`<job id@jobq>` for `email.send`).")
    headers: list[MailHeaderOut] = Field(description="Every header of the message, in order, repeats included.")
    text: str | None = Field(description="The plain-text body; null when there is none.")
    html: str | None = Field(description="The HTML body; null when there is none.")


class CaughtMailListOut(BaseModel):
    """Caught messages, newest first."""

    messages: list[CaughtMailOut]
    total: int = Field(description="Messages the catcher holds in all (`limit` of them are listed).")


class ScalerSampleOut(BaseModel):
    """One bucket of a WorkerScaler's samples: each number the highest its loops saw in the bucket."""

    at: datetime = Field(description="The bucket's start; it lasts `bucket_s`.")
    current_replicas: int = Field(description="The target Deployment's replicas (spec) the operator found.")
    desired_replicas: int = Field(description="The replicas the policy asked for.")
    ready: int = Field(description="Ready jobs in the scaler's queues.")
    oldest_ready_age_s: float = Field(description="Age of the oldest ready job (seconds).")


class ScalerDecisionOut(BaseModel):
    """The operator changed the replicas, or held them (`from_replicas` = `to_replicas`) for a new limiting reason."""

    at: datetime
    from_replicas: int
    to_replicas: int
    reason: str = Field(
        description="The policy's reason: `depth`, `drain-forecast`, `latency`, `scale-from-zero`, `cooldown`,"
        " `idle`, `min-replicas`, `max-replicas`, `stabilized` or `step-limit`."
    )
    message: str = Field(description="The policy's sentence, with the numbers behind it.")


class ScalerOut(BaseModel):
    """One WorkerScaler as its operator recorded it."""

    namespace: str
    name: str
    current_replicas: int = Field(description="The target's replicas at the operator's latest loop.")
    desired_replicas: int = Field(description="The policy's answer at that loop.")
    last_seen_at: datetime = Field(
        description="When the operator last recorded this scaler (every loop does); long ago means the"
        " WorkerScaler was deleted, or no operator observes it."
    )
    samples: list[ScalerSampleOut] = Field(description="Buckets of the window that hold a sample, oldest first.")
    decisions: list[ScalerDecisionOut] = Field(description="The latest decisions, newest first, whatever the window.")


class ScalerListOut(BaseModel):
    """What the autoscaling operator observed and decided, read from PostgreSQL (no Kubernetes access)."""

    window: Literal["1h", "24h", "7d"]
    bucket_s: int = Field(description="Length of each sample bucket: 60, 900 or 3600 seconds.")
    start: datetime = Field(description="The first bucket's start.")
    end: datetime = Field(description="The last bucket's end (it holds the current minute).")
    scalers: list[ScalerOut] = Field(
        description="WorkerScalers with a sample in the window, by namespace and name; empty when none recorded."
    )


class AuditEntryOut(BaseModel):
    """One change made through the API."""

    id: int
    at: datetime
    key_id: str | None = Field(description="The key that made it (it may since have been revoked).")
    key_name: str
    action: Action
    target: str | None = Field(description="A job or key id, a queue or schedule name; null when none.")
    detail: dict[str, Any] | None = Field(description="What the request asked for beyond its target.")


class AuditPageOut(BaseModel):
    """A page of the audit log."""

    entries: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class BulkFilterIn(BaseModel):
    """Which jobs a bulk operation acts on: the filters of `GET /v1/jobs`, each optional."""

    model_config = ConfigDict(extra="forbid")

    status: list[JobStatus] | None = Field(default=None, max_length=7, description="Any of these.")
    type: Text | None = Field(default=None, max_length=200)
    queue: Text | None = Field(default=None, max_length=100)
    tag: Text | None = Field(default=None, max_length=100)
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
    error: Text | None = Field(default=None, min_length=1, max_length=200, description="As `error` of GET /v1/jobs.")
    payload: list[Annotated[Text, Field(max_length=200)]] | None = Field(
        default=None, max_length=20, description="`path=value` filters, as `payload` of GET /v1/jobs."
    )


class BulkOperationIn(BaseModel):
    """An action for every job a filter matches, to preview before it runs."""

    model_config = ConfigDict(extra="forbid")

    action: BulkAction = Field(
        description="cancel (waiting and running jobs), retry (dead and cancelled), delete (any but"
        " running), set_priority (scheduled and queued)."
    )
    filter: BulkFilterIn = Field(default_factory=BulkFilterIn, description="No filter: every job.")
    priority: int | None = Field(
        default=None, ge=MIN_PRIORITY, le=MAX_PRIORITY, description="The new priority; for set_priority only."
    )


class BulkOperationOut(BaseModel):
    """A bulk operation: its preview, then its progress and result."""

    id: uuid.UUID
    action: BulkAction
    priority: int | None
    filter: dict[str, Any] = Field(description="The filter, as the request gave it.")
    status: BulkStatus = Field(
        description="preview (waiting for its confirmation), running, done or cancelled (stopped between batches)."
    )
    matched: JobCount = Field(description="How many jobs matched when it was previewed.")
    processed: int = Field(description="Matching jobs looked at so far, newest first.")
    changed: int = Field(description="Jobs the action changed.")
    skipped: int = Field(
        description="Jobs looked at but not changed: their state had moved to one the action does not apply to."
    )
    key_name: str = Field(description="The key that previewed it.")
    created_at: datetime
    confirmed_at: datetime | None
    finished_at: datetime | None


class BulkOperationListOut(BaseModel):
    """Bulk operations, newest first."""

    operations: list[BulkOperationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
