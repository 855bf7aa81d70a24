"""The API's request and answer bodies, generated from its OpenAPI document: do not edit.

Written by `make docs` (tools/client_models.py); `make lint` fails when it drifts from
the API. Value constraints (lengths, bounds, patterns) are the API's to judge: a bad
value is its 422, raised as `jobq_client.ValidationError` naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    """A body the API answers with; members a newer API adds are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class Request(BaseModel):
    """A body the client sends; the API refuses members it does not know, and so does this."""

    model_config = ConfigDict(extra="forbid")


class ApiKeyCreatedOut(Answer):
    """A new API key, with the key itself: shown this once, stored only as a hash."""

    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = Field(description="When the key was revoked; null while it is valid.")
    secret: str = Field(description="The key, to send as `Authorization: Bearer <secret>`; it cannot be read again.")


Scope = Literal["jobs:read", "jobs:write", "admin"]
"""What a key may do. `admin` includes the other two."""


class ApiKeyIn(Request):
    """An API key to create."""

    name: str = Field(description="A label for the key: who or what uses it.")
    scopes: list[Scope] = Field(description="`jobs:read`, `jobs:write` and/or `admin` (which includes both).")


class ApiKeyOut(Answer):
    """An API key as the API shows it: never the key itself nor its hash."""

    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = Field(description="When the key was revoked; null while it is valid.")


class ApiKeyListOut(Answer):
    """Every API key, revoked ones too, newest first."""

    api_keys: list[ApiKeyOut]


class ErrorOut(Answer):
    """Why an attempt failed."""

    type: str
    message: str
    traceback: str | None = None


class AttemptOut(Answer):
    """One finished attempt."""

    attempt: int
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime
    outcome: Literal["succeeded", "failed", "cancelled", "lost"]
    error: ErrorOut | None = None


class AttentionItemOut(Answer):
    """One thing that needs attention."""

    kind: Literal["queue_latency", "failures_rising", "type_unserved", "dead_growing"]
    queue: str | None
    type: str | None = Field(description="The job type (`type_unserved`); null for the other kinds.")
    message: str = Field(description="A sentence saying what is wrong, with the numbers.")
    numbers: dict[str, float | None] = Field(description="The numbers behind it, by name (see the README).")


class AttentionOut(Answer):
    """What needs attention now."""

    items: list[AttentionItemOut]
    rolled_up_until: datetime | None = Field(
        description="The end of the latest minute rolled up, which failures and dead jobs are judged at."
    )


class AuditEntryOut(Answer):
    """One change made through the API."""

    id: int
    at: datetime
    key_id: str | None = Field(description="The key that made it (it may since have been revoked).")
    key_name: str
    action: Literal[
        "job.cancel",
        "job.retry",
        "job.run_now",
        "job.delete",
        "dead_group.retry",
        "bulk.confirm",
        "bulk.cancel",
        "queue.pause",
        "queue.resume",
        "schedule.create",
        "schedule.update",
        "schedule.pause",
        "schedule.resume",
        "schedule.run",
        "schedule.delete",
        "key.create",
        "key.revoke",
    ]
    target: str | None = Field(description="A job or key id, a queue or schedule name; null when none.")
    detail: dict[str, Any] | None = Field(description="What the request asked for beyond its target.")


class AuditPageOut(Answer):
    """A page of the audit log."""

    entries: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class JobIn(Request):
    """A job to submit."""

    type: str = Field(description="A job type a worker registered.")
    payload: Any = Field(None, description="JSON checked against the job type's schema.")
    queue: str | None = Field(None, description="Defaults to the job type's queue.")
    priority: int = Field(0, description="Higher runs first among ready jobs.")
    run_at: datetime | None = Field(None, description="Run no earlier than this time.")
    delay_s: float | None = Field(None, description="Run after this many seconds.")
    max_attempts: int | None = Field(None, description="Defaults to the job type's.")
    timeout_s: float | None = Field(None, description="Defaults to the job type's.")
    idempotency_key: str | None = Field(
        None, description="A repeat with the same key returns the first job instead of making a second."
    )
    tags: list[str] = Field(default_factory=list, description="Labels to filter by.")
    cloned_from: str | None = Field(
        None, description="The job this one copies (the dashboard's clone and edit); stored on the new job."
    )


class BatchIn(Request):
    """Jobs to submit together: all are stored or none."""

    jobs: list[JobIn]


class JobOut(Answer):
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
        None, description="When cancelling this running job was asked for; it stops cooperatively."
    )
    cloned_from: str | None = Field(
        None, description="The job this one was cloned from; it may have been deleted since."
    )
    schedule_id: str | None = Field(None, description="The schedule that made this job (a slot, or a run by hand).")
    history: list[AttemptOut] | None = Field(None, description="Finished attempts (single-job reads).")


class BatchOut(Answer):
    """Submitted jobs, in request order."""

    jobs: list[JobOut]
    created: int = Field(description="How many are new (the rest matched an idempotency key).")


JobStatus = Literal["scheduled", "queued", "running", "succeeded", "dead", "cancelled"]
"""Where a job is in its life."""


class BulkFilterIn(Request):
    """Which jobs a bulk operation acts on: the filters of `GET /v1/jobs`, each optional."""

    status: list[JobStatus] | None = Field(None, description="Any of these.")
    type: str | None = None
    queue: str | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    error: str | None = Field(None, description="As `error` of GET /v1/jobs.")
    payload: list[str] | None = Field(None, description="`path=value` filters, as `payload` of GET /v1/jobs.")


class BulkOperationIn(Request):
    """An action for every job a filter matches, to preview before it runs."""

    action: Literal["cancel", "retry", "delete", "set_priority"] = Field(
        description="cancel (waiting and running jobs), retry (dead and cancelled), delete (any but "
        "running), set_priority (scheduled and queued)."
    )
    filter: BulkFilterIn | None = Field(None, description="No filter: every job.")
    priority: int | None = Field(None, description="The new priority; for set_priority only.")


class JobCount(Answer):
    """A number of jobs, exact or estimated."""

    value: int
    exact: bool = Field(description="false: PostgreSQL's estimate, given when more than 10,000 match.")


class BulkOperationOut(Answer):
    """A bulk operation: its preview, then its progress and result."""

    id: str
    action: Literal["cancel", "retry", "delete", "set_priority"]
    priority: int | None
    filter: dict[str, Any] = Field(description="The filter, as the request gave it.")
    status: Literal["preview", "running", "done", "cancelled"] = Field(
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


class BulkOperationListOut(Answer):
    """Bulk operations, newest first."""

    operations: list[BulkOperationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class MailHeaderOut(Answer):
    """One header of a caught message, decoded (RFC 2047 words as text)."""

    name: str
    value: str


class CaughtMailOut(Answer):
    """A message `jobq run`'s mail catcher accepted: its envelope, headers and bodies."""

    id: str = Field(description="The message's id: when it arrived (ns since the epoch) and a counter.")
    received_at: datetime = Field(description="When the catcher accepted it.")
    sender: str = Field(description="The envelope sender (SMTP `MAIL FROM`).")
    recipients: list[str] = Field(description="The envelope recipients (SMTP `RCPT TO`): To, Cc and Bcc.")
    subject: str | None = Field(description="The `Subject` header.")
    date: datetime | None = Field(description="The `Date` header; null when missing or unreadable.")
    message_id: str | None = Field(description="The `Message-ID` header (`<job id@jobq>` for `email.send`).")
    headers: list[MailHeaderOut] = Field(description="Every header of the message, in order, repeats included.")
    text: str | None = Field(description="The plain-text body; null when there is none.")
    html: str | None = Field(description="The HTML body; null when there is none.")


class CaughtMailListOut(Answer):
    """Caught messages, newest first."""

    messages: list[CaughtMailOut]
    total: int = Field(description="Messages the catcher holds in all (`limit` of them are listed).")


class DeadGroupOut(Answer):
    """Dead jobs of one type that failed with the same error, ids and numbers aside."""

    fingerprint: str = Field(description="16 hex digits naming the group; stable across calls and releases.")
    type: str = Field(description="The job type.")
    error_type: str | None = Field(description="The error's type (an exception class, `TimeoutError`, `WorkerLost`).")
    message_pattern: str = Field(
        description="The message with ids, numbers, times, quoted strings and e-mail addresses replaced by "
        "`<uuid>`, `<hex>`, `<n>`, `<ts>`, `'<s>'` and `<email>`."
    )
    sample_message: str | None = Field(description="The newest job's message (its first 1,000 characters).")
    count: int = Field(description="Dead jobs in the group, among those scanned.")
    first_finished_at: datetime | None = Field(description="When the group's longest-dead job (of those scanned) died.")
    last_finished_at: datetime | None = Field(description="When its latest job died.")
    sample_job_ids: list[str] = Field(description="Up to 5 of its job ids, newest first.")


class DeadGroupListOut(Answer):
    """Groups of dead jobs, the largest first, counted over the newest dead jobs."""

    groups: list[DeadGroupOut]
    scanned: int = Field(description="Dead jobs read, the newest first (at most 50,000).")
    truncated: bool = Field(description="True when older dead jobs were not read: counts cover the scanned ones.")


class DeadGroupRetryIn(Request):
    """How many of a group's dead jobs to retry."""

    limit: int | None = Field(None, description="At most this many, the longest dead first; default all (up to 1,000).")


class DeadGroupRetryOut(Answer):
    """What a group retry did."""

    fingerprint: str
    retried: int = Field(description="Jobs sent back to their queue with one more attempt.")
    remaining: int = Field(description="Jobs of the group still dead, among those scanned.")
    scanned: int = Field(description="Dead jobs read to find the group's (at most 50,000).")
    truncated: bool = Field(description="True when older dead jobs were not read: more of the group may be there.")


class JobCountOut(Answer):
    """How many jobs match the filters."""

    count: JobCount


class JobEventData(Answer):
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


class JobEvent(Answer):
    """`event: job`: a job was created or changed state, attempt or progress."""

    event: Literal["job"]
    id: str = Field(description="Increasing within one API process start; send it back as `Last-Event-ID`.")
    data: JobEventData


class JobListOut(Answer):
    """A page of jobs."""

    jobs: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class JobTypeOut(Answer):
    """A job type workers can run."""

    name: str
    queue: str
    payload_schema: dict[str, Any]
    timeout_s: float
    max_attempts: int
    description: str


class JobTypeListOut(Answer):
    """Every registered job type."""

    job_types: list[JobTypeOut]


class MeOut(Answer):
    """The API key a request was made with, and what it may do."""

    id: str = Field(description="The key's id (its row in the key table; never the key itself).")
    name: str = Field(description="The name the key was created with (`jobq create-key --name`).")
    scopes: list[str] = Field(description="Its scopes: `jobs:read`, `jobs:write`, `admin`.")
    can_read: bool = Field(description="May read jobs, queues, schedules, job types and workers (`jobs:read`).")
    can_write: bool = Field(
        description="May submit, cancel, retry and delete jobs and change schedules (`jobs:write`)."
    )
    can_admin: bool = Field(description="May pause and resume queues (`admin`).")


class QueueOut(Answer):
    """One queue's state."""

    name: str
    ready: int
    scheduled: int
    running: int
    dead: int
    oldest_ready_age_s: float | None
    paused: bool


class QueueListOut(Answer):
    """Every known queue."""

    queues: list[QueueOut]


class StatsBucket(Answer):
    """One bucket of a series."""

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
    start: datetime = Field(description="The bucket's first minute; it lasts `bucket_s`.")


class StatsNumbers(Answer):
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


class QueueStatsOut(Answer):
    """One queue's series."""

    summary: StatsNumbers
    buckets: list[StatsBucket]
    queue: str


class QueuesEvent(Answer):
    """`event: queues`: the per-queue counts changed; as `GET /v1/queues` gives them."""

    event: Literal["queues"]
    id: str
    data: QueueListOut


class ResetEventData(Answer):
    """A `reset` event's data: what the client knows may be incomplete; it refetches everything."""

    reason: Literal["unknown_id", "behind", "overflow", "recovered"] = Field(
        description="`unknown_id`: the Last-Event-ID is older than what the server keeps, or from another "
        "process or start; `behind`: this client read too slowly and events were dropped for it; "
        "`overflow`: more jobs changed at once than the stream carries; `recovered`: PostgreSQL "
        "answers again after an `unavailable`."
    )


class ResetEvent(Answer):
    """`event: reset`: refetch everything, then keep reading (its `id` is where the stream now is)."""

    event: Literal["reset"]
    id: str
    data: ResetEventData


class ScalerDecisionOut(Answer):
    """The operator changed the replicas, or held them (`from_replicas` = `to_replicas`) for a new limiting
    reason.
    """

    at: datetime
    from_replicas: int
    to_replicas: int
    reason: str = Field(
        description="The policy's reason: `depth`, `drain-forecast`, `latency`, `scale-from-zero`, "
        "`cooldown`, `idle`, `min-replicas`, `max-replicas`, `stabilized` or `step-limit`."
    )
    message: str = Field(description="The policy's sentence, with the numbers behind it.")


class ScalerSampleOut(Answer):
    """One bucket of a WorkerScaler's samples: each number the highest its loops saw in the bucket."""

    at: datetime = Field(description="The bucket's start; it lasts `bucket_s`.")
    current_replicas: int = Field(description="The target Deployment's replicas (spec) the operator found.")
    desired_replicas: int = Field(description="The replicas the policy asked for.")
    ready: int = Field(description="Ready jobs in the scaler's queues.")
    oldest_ready_age_s: float = Field(description="Age of the oldest ready job (seconds).")


class ScalerOut(Answer):
    """One WorkerScaler as its operator recorded it."""

    namespace: str
    name: str
    current_replicas: int = Field(description="The target's replicas at the operator's latest loop.")
    desired_replicas: int = Field(description="The policy's answer at that loop.")
    last_seen_at: datetime = Field(
        description="When the operator last recorded this scaler (every loop does); long ago means the "
        "WorkerScaler was deleted, or no operator observes it."
    )
    samples: list[ScalerSampleOut] = Field(description="Buckets of the window that hold a sample, oldest first.")
    decisions: list[ScalerDecisionOut] = Field(description="The latest decisions, newest first, whatever the window.")


class ScalerListOut(Answer):
    """What the autoscaling operator observed and decided, read from PostgreSQL (no Kubernetes access)."""

    window: Literal["1h", "24h", "7d"]
    bucket_s: int = Field(description="Length of each sample bucket: 60, 900 or 3600 seconds.")
    start: datetime = Field(description="The first bucket's start.")
    end: datetime = Field(description="The last bucket's end (it holds the current minute).")
    scalers: list[ScalerOut] = Field(
        description="WorkerScalers with a sample in the window, by namespace and name; empty when none recorded."
    )


class ScheduleJobIn(Request):
    """The job a schedule submits at each slot."""

    type: str
    payload: Any = None
    queue: str | None = None
    priority: int = 0
    max_attempts: int | None = None
    timeout_s: float | None = None
    tags: list[str] = Field(default_factory=list)


class ScheduleIn(Request):
    """A recurring schedule."""

    name: str = Field(description="Unique.")
    cron: str = Field(description="5 fields (minute hour day month weekday), or 6 with seconds first.")
    timezone: str = Field("UTC", description="IANA time zone the cron is read in.")
    job: ScheduleJobIn
    missed: Literal["skip", "run_once"] = Field(
        "skip", description="Slots missed while nothing ran: skip them, or run once for them all."
    )
    paused: bool = False


class ScheduleOut(Answer):
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
        None,
        description="Who declares the schedule in code (`arq:<queue>` for an ARQ app's cron jobs), which "
        "reconciles it at each worker start: it cannot be changed or deleted here, only paused "
        "and resumed. Null for a schedule made through the API.",
    )
    next_runs: list[datetime] = Field(
        default_factory=list,
        description="The next ten fire times (UTC) from `next_run_at` on, in the schedule's time zone; empty "
        "while paused.",
    )


class ScheduleListOut(Answer):
    """Every schedule."""

    schedules: list[ScheduleOut]


class SchedulePatch(Request):
    """Fields of a schedule to change."""

    name: str | None = None
    cron: str | None = None
    timezone: str | None = None
    job: ScheduleJobIn | None = None
    missed: Literal["skip", "run_once"] | None = None
    paused: bool | None = None


class ScheduleRunsOut(Answer):
    """The jobs a schedule made, newest first."""

    jobs: list[JobOut]


class StatsSeries(Answer):
    """A window's numbers in all, and bucket by bucket (every bucket present, oldest first)."""

    summary: StatsNumbers
    buckets: list[StatsBucket]


class StatsOut(Answer):
    """Per-minute rollups over a window, read from the table the leader fills: every reader
    gets the same numbers until the next minute is rolled up.
    """

    window: Literal["1h", "24h", "7d"]
    bucket_s: int = Field(description="Length of each bucket: 60, 900 or 3600 seconds.")
    start: datetime = Field(description="The first bucket's start.")
    end: datetime = Field(description="The last bucket's end (the last bucket may still be filling).")
    rolled_up_until: datetime | None = Field(
        description="The end of the latest minute rolled up; null when none is yet."
    )
    total: StatsSeries = Field(description="All queues together.")
    queues: list[QueueStatsOut] = Field(description="Each queue with rows in the window, by name.")


class UnavailableEventData(Answer):
    """An `unavailable` event's data."""

    message: str = Field(description="Why PostgreSQL cannot be read, e.g. `connection refused`.")


class UnavailableEvent(Answer):
    """`event: unavailable`: the stream sees no changes until a `reset`; poll meanwhile."""

    event: Literal["unavailable"]
    id: str
    data: UnavailableEventData


Window = Literal["1h", "24h", "7d"]
"""A span `GET /v1/stats` reads, each in buckets of its own length."""


class WorkerOut(Answer):
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


class WorkerListOut(Answer):
    """Workers seen in the last hour."""

    workers: list[WorkerOut]


class WorkersEvent(Answer):
    """`event: workers`: a worker came, went, or its running count changed; as `GET /v1/workers` gives them."""

    event: Literal["workers"]
    id: str
    data: WorkerListOut


ServerEvent = Annotated[
    JobEvent | QueuesEvent | WorkersEvent | ResetEvent | UnavailableEvent, Field(discriminator="event")
]
"""The body of `GET /v1/events` (text/event-stream), one at a time."""
