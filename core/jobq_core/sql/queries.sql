-- Named queries. Each starts with "-- name: NAME" and runs until the next one.
-- Every state change is guarded by the state it leaves.

-- name: insert_jobs
-- $1: a JSON array of job rows. Rows whose idempotency key exists already are skipped
-- (the caller fetches those with jobs_by_idempotency_key).
INSERT INTO jobq_jobs (id, type, queue, status, payload, priority, max_attempts, timeout_s,
                       idempotency_key, tags, run_at, trace_context)
SELECT id, type, queue, status, payload, priority, max_attempts, timeout_s,
       idempotency_key, tags, run_at, trace_context
FROM jsonb_to_recordset($1::jsonb) AS j(
    id uuid, type text, queue text, status text, payload jsonb, priority smallint,
    max_attempts integer, timeout_s double precision, idempotency_key text, tags text[],
    run_at timestamptz, trace_context jsonb)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: jobs_by_idempotency_key
SELECT * FROM jobq_jobs WHERE idempotency_key = ANY($1::text[]);

-- name: get_job
SELECT * FROM jobq_jobs WHERE id = $1;

-- name: job_attempts
SELECT attempt, worker_id, started_at, finished_at, outcome, error
FROM jobq_job_attempts WHERE job_id = $1 ORDER BY attempt;

-- name: list_jobs
-- Filters are optional (NULL means "any"); the cursor is the last (created_at, id) seen.
SELECT * FROM jobq_jobs
WHERE ($1::text[] IS NULL OR status = ANY($1))
  AND ($2::text IS NULL OR type = $2)
  AND ($3::text IS NULL OR queue = $3)
  AND ($4::text IS NULL OR tags @> ARRAY[$4])
  AND ($5::timestamptz IS NULL OR created_at >= $5)
  AND ($6::timestamptz IS NULL OR created_at < $6)
  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $9;

-- name: claim_job
-- The lease: only a waiting job whose previous attempt count matches the delivery is
-- claimed, so duplicate or stale deliveries find nothing.
UPDATE jobq_jobs
SET status = 'running', attempts = attempts + 1, worker_id = $2, started_at = now(),
    finished_at = NULL, progress = NULL, progress_message = NULL
WHERE id = $1 AND status IN ('queued', 'scheduled') AND attempts = $3 - 1
RETURNING id, type, queue, payload, attempts, max_attempts, timeout_s, idempotency_key,
          trace_context, priority;

-- name: finish_succeeded
WITH done AS (
    UPDATE jobq_jobs
    SET status = 'succeeded', finished_at = now(), result = $3, error = NULL, progress = 1
    WHERE id = $1 AND status = 'running' AND attempts = $2
    RETURNING id, attempts, worker_id, started_at, finished_at
)
INSERT INTO jobq_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome)
SELECT id, attempts, worker_id, started_at, finished_at, 'succeeded' FROM done
RETURNING job_id;

-- name: finish_failed
-- $3: the next status (scheduled, queued or dead); $4: seconds until the next attempt.
WITH done AS (
    UPDATE jobq_jobs
    SET status = $3, error = $5,
        run_at = CASE WHEN $3 = 'dead' THEN run_at ELSE now() + make_interval(secs => $4) END,
        finished_at = CASE WHEN $3 = 'dead' THEN now() END
    WHERE id = $1 AND status = 'running' AND attempts = $2
    RETURNING id, attempts, worker_id, started_at, run_at
)
INSERT INTO jobq_job_attempts (job_id, attempt, worker_id, started_at, outcome, error)
SELECT id, attempts, worker_id, started_at, 'failed', $5 FROM done
RETURNING job_id, (SELECT run_at FROM done) AS run_at;

-- name: set_progress
UPDATE jobq_jobs SET progress = $3, progress_message = $4
WHERE id = $1 AND status = 'running' AND attempts = $2
RETURNING id;

-- name: cancel_waiting_job
UPDATE jobq_jobs SET status = 'cancelled', finished_at = now()
WHERE id = $1 AND status IN ('scheduled', 'queued')
RETURNING *;

-- name: retry_job
-- Retry by hand: a dead or cancelled job gets one more attempt, now.
UPDATE jobq_jobs
SET status = 'queued', run_at = now(), finished_at = NULL,
    max_attempts = GREATEST(max_attempts, attempts + 1)
WHERE id = $1 AND status IN ('dead', 'cancelled')
RETURNING *;

-- name: delete_job
DELETE FROM jobq_jobs WHERE id = $1 AND status <> 'running' RETURNING id;

-- name: queue_stats
SELECT q.name AS queue,
       coalesce(s.ready, 0) AS ready,
       coalesce(s.scheduled, 0) AS scheduled,
       coalesce(s.running, 0) AS running,
       coalesce(s.dead, 0) AS dead,
       s.oldest_ready_age_s,
       coalesce(p.paused, false) AS paused
FROM (SELECT name FROM jobq_queues
      UNION SELECT queue FROM jobq_job_types
      UNION SELECT DISTINCT queue FROM jobq_jobs
            WHERE status IN ('scheduled', 'queued', 'running', 'dead')) AS q
LEFT JOIN (
    SELECT queue,
           count(*) FILTER (WHERE status IN ('queued', 'scheduled') AND run_at <= now()) AS ready,
           count(*) FILTER (WHERE status = 'scheduled' AND run_at > now()) AS scheduled,
           count(*) FILTER (WHERE status = 'running') AS running,
           count(*) FILTER (WHERE status = 'dead') AS dead,
           extract(epoch FROM now() - min(run_at) FILTER (
               WHERE status IN ('queued', 'scheduled') AND run_at <= now()))::float8
               AS oldest_ready_age_s
    FROM jobq_jobs
    WHERE status IN ('scheduled', 'queued', 'running', 'dead')
    GROUP BY queue
) AS s ON s.queue = q.name
LEFT JOIN jobq_queues AS p ON p.name = q.name
ORDER BY q.name;

-- name: set_queue_paused
INSERT INTO jobq_queues (name, paused, updated_at) VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = now()
RETURNING name, paused;

-- name: upsert_job_type
INSERT INTO jobq_job_types (name, queue, payload_schema, timeout_s, max_attempts, description, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (name) DO UPDATE
SET queue = excluded.queue, payload_schema = excluded.payload_schema,
    timeout_s = excluded.timeout_s, max_attempts = excluded.max_attempts,
    description = excluded.description, updated_at = now();

-- name: list_job_types
SELECT name, queue, payload_schema, timeout_s, max_attempts, description, updated_at
FROM jobq_job_types ORDER BY name;

-- name: register_worker
INSERT INTO jobq_workers (id, hostname, pid, queues, job_types, concurrency, version)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: heartbeat_worker
UPDATE jobq_workers SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL RETURNING id;

-- name: stop_worker
UPDATE jobq_workers SET stopped_at = now() WHERE id = $1 AND stopped_at IS NULL;

-- name: list_workers
-- $1: seconds without a heartbeat after which a worker counts as gone.
SELECT w.id, w.hostname, w.pid, w.queues, w.job_types, w.concurrency, w.version,
       w.started_at, w.heartbeat_at, w.stopped_at,
       (w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1)) AS alive,
       (SELECT count(*) FROM jobq_jobs j WHERE j.worker_id = w.id AND j.status = 'running') AS running
FROM jobq_workers w
WHERE w.stopped_at IS NULL OR w.stopped_at > now() - interval '1 hour'
ORDER BY w.started_at DESC;

-- name: insert_api_key
INSERT INTO jobq_api_keys (id, name, key_hash, scopes) VALUES ($1, $2, $3, $4);

-- name: api_key_scopes
SELECT id, name, scopes FROM jobq_api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: count_admin_keys
SELECT count(*) FROM jobq_api_keys WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL;

-- name: hand_back_job
-- An attempt interrupted by shutdown goes back to the queue without being counted.
UPDATE jobq_jobs
SET status = 'queued', attempts = attempts - 1, worker_id = NULL, started_at = NULL
WHERE id = $1 AND status = 'running' AND attempts = $2
RETURNING *;
