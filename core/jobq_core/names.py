"""One place for names: environment variables, Redis keys, queue and function names.

Every other module refers to these constants instead of spelling the strings again.
"""

ENV_PREFIX = "JOBQ_"

# Queues
DEFAULT_QUEUE = "default"
# A jobq queue `q` is dispatched through the ARQ queue (a Redis sorted set) with this key.
REDIS_QUEUE_PREFIX = "jobq:queue:"
# ARQ's own key prefixes (arq.constants), repeated here so the queue client can write
# ARQ's format in one Lua call without going through ArqRedis.enqueue_job per job.
ARQ_JOB_PREFIX = "arq:job:"
ARQ_RESULT_PREFIX = "arq:result:"
ARQ_IN_PROGRESS_PREFIX = "arq:in-progress:"
ARQ_RETRY_PREFIX = "arq:retry:"

# The single ARQ function every jobq job runs through; it looks up the jobq handler.
ARQ_FUNCTION = "jobq.run"

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

# HTTP
API_KEY_PREFIX = "jobq_"
PROBLEM_TYPE_BASE = "https://jobq.dev/problems/"
IDEMPOTENCY_HEADER = "Idempotency-Key"

# PostgreSQL tables all start with this prefix so jobq can share a database.
TABLE_PREFIX = "jobq_"


def redis_queue_key(queue: str) -> str:
    """The Redis sorted set that carries the jobq queue `queue`."""
    return REDIS_QUEUE_PREFIX + queue


def arq_job_id(job_id: str, attempt: int) -> str:
    """The ARQ job id for one dispatch of one attempt: unique per attempt.

    ARQ refuses to enqueue an id it still holds, so each attempt gets its own id and a
    repeated dispatch of the same attempt is a no-op.
    """
    return f"{job_id}:{attempt}"
