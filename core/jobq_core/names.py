"""One place for names: environment variables, Redis keys, queue and function names.

Every other module refers to these constants instead of spelling the strings again.
"""

ENV_PREFIX = "JOBQ_"

# Queues
DEFAULT_QUEUE = "default"
# A jobq queue `q` is dispatched through the ARQ queue (a Redis sorted set) with this key.
REDIS_QUEUE_PREFIX = "jobq:queue:"
# ARQ's own key prefixes (arq.constants): the Lua scripts of dispatch/lua spell them too
# (a unit test holds them together), as they write ARQ's layout in one call.
ARQ_JOB_PREFIX = "arq:job:"
ARQ_RESULT_PREFIX = "arq:result:"
ARQ_IN_PROGRESS_PREFIX = "arq:in-progress:"

# The function name every jobq message carries in ARQ's `f` field; the worker looks up
# the job's handler from its row, not from this.
JOB_FUNCTION = "jobq.run"

# Pub/sub channel on which the API tells workers to cancel a running attempt or to
# re-read which queues are paused.
CONTROL_CHANNEL = "jobq:control"
# A key the leader sets in Redis; finding it gone means Redis lost its data (FLUSHALL,
# a restart without persistence) and every queued job must be sent again.
EPOCH_KEY = "jobq:epoch"

# PostgreSQL
# NOTIFY channel that wakes the dispatch relay for rows it has to send.
NEW_JOBS_CHANNEL = "jobq_new_jobs"
# Advisory lock held by the one worker that runs the cluster's background duties.
LEADER_LOCK_KEY = 0x6A6F6271_0002
# Transaction-level advisory lock that serialises reconciling schedules declared in code
# (workers starting together), so each declared name ends as one row.
DECLARED_SCHEDULES_LOCK_KEY = 0x6A6F6271_0003

# HTTP
API_KEY_PREFIX = "jobq_"
PROBLEM_TYPE_BASE = "https://jobq.dev/problems/"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The header a server-sent events client resumes with (GET /v1/events).
LAST_EVENT_ID_HEADER = "Last-Event-ID"
# Where the API serves the dashboard's built files (`JOBQ_DASHBOARD_DIR`), after any public path prefix.
DASHBOARD_PATH = "/ui"


def redis_queue_key(queue: str) -> str:
    """The Redis sorted set that carries the jobq queue `queue`."""
    return REDIS_QUEUE_PREFIX + queue


def arq_job_id(job_id: str, attempt: int) -> str:
    """The ARQ job id for one dispatch of one attempt: unique per attempt.

    ARQ refuses to enqueue an id it still holds, so each attempt gets its own id and a
    repeated dispatch of the same attempt is a no-op.
    """
    return f"{job_id}:{attempt}"
