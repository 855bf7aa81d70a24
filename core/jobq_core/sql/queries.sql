-- Named queries. Each starts with "-- name: NAME" and runs until the next one.
-- Every state change is guarded by the state it leaves.

-- name: insert_jobs
-- $1: a JSON array of job rows. Rows whose idempotency key exists already are skipped
-- (the caller fetches those with jobs_by_idempotency_key). jobq dispatches the jobs it
-- inserts itself, so the statement marks its transaction (the transaction-local setting
-- jobq.dispatches = on) and the insert trigger does not wake the dispatch relay. Alone,
-- it is one round trip and its own transaction (all rows or none), where BEGIN, the
-- mark, the insert and COMMIT took four.
INSERT INTO jobq_jobs (id, type, queue, status, payload, priority, max_attempts, timeout_s,
                       idempotency_key, tags, run_at, trace_context)
SELECT id, type, queue, status, payload, priority, max_attempts, timeout_s,
       idempotency_key, tags, run_at, trace_context
FROM jsonb_to_recordset($1::jsonb) AS j(
    id uuid, type text, queue text, status text, payload jsonb, priority smallint,
    max_attempts integer, timeout_s double precision, idempotency_key text, tags text[],
    run_at timestamptz, trace_context jsonb)
WHERE (SELECT set_config('jobq.dispatches', 'on', true)) = 'on'
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

-- name: claim_jobs
-- The lease, for a group of deliveries ($2 job ids, $3 the attempt each dispatches):
-- only a waiting job whose previous attempt count matches its delivery is claimed, so
-- duplicate or stale deliveries find nothing; a paused queue's jobs wait. Rows are
-- locked in id order so two groups never wait on each other in a cycle.
WITH wanted AS (
    SELECT j.id, d.attempt FROM jobq_jobs j
    JOIN unnest($2::uuid[], $3::int[]) AS d(id, attempt) ON j.id = d.id
    WHERE j.status IN ('queued', 'scheduled') AND j.attempts = d.attempt - 1
      AND NOT EXISTS (SELECT 1 FROM jobq_queues q WHERE q.name = j.queue AND q.paused)
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE jobq_jobs
SET status = 'running', attempts = attempts + 1, worker_id = $1, started_at = now(),
    finished_at = NULL, progress = NULL, progress_message = NULL, cancel_requested_at = NULL
FROM wanted
WHERE jobq_jobs.id = wanted.id AND jobq_jobs.status IN ('queued', 'scheduled')
  AND jobq_jobs.attempts = wanted.attempt - 1
RETURNING jobq_jobs.id, type, queue, payload, attempts, max_attempts, timeout_s, idempotency_key,
          trace_context, priority, run_at, started_at;

-- name: finish_succeeded_jobs
-- Success of a group of attempts: $1 job ids, $2 attempts, $3 a JSON array of their
-- results in the same order.
WITH given AS (
    SELECT d.id, d.attempt, $3::jsonb -> (d.n::int - 1) AS result
    FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS d(id, attempt, n)
), done AS (
    UPDATE jobq_jobs j
    SET status = 'succeeded', finished_at = now(), result = given.result, error = NULL, progress = 1
    FROM given
    WHERE j.id = given.id AND j.status = 'running' AND j.attempts = given.attempt
    RETURNING j.id, j.attempts, j.worker_id, j.started_at, j.finished_at
)
INSERT INTO jobq_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome)
SELECT id, attempts, worker_id, started_at, finished_at, 'succeeded' FROM done
RETURNING job_id, attempt;

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

-- name: count_registered_workers
SELECT count(*) FROM jobq_workers WHERE pid = ANY($1::int[]) AND stopped_at IS NULL;

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
-- An attempt interrupted by shutdown goes back to the queue without being counted
-- (or ends cancelled, if that was asked for while it ran).
UPDATE jobq_jobs
SET status = CASE WHEN cancel_requested_at IS NULL THEN 'queued' ELSE 'cancelled' END,
    finished_at = CASE WHEN cancel_requested_at IS NULL THEN NULL ELSE now() END,
    attempts = attempts - 1, worker_id = NULL, started_at = NULL, run_at = now()
WHERE id = $1 AND status = 'running' AND attempts = $2
RETURNING *;

-- name: request_cancel
-- Cancelling a running job is cooperative: the worker running it is told and stops it.
UPDATE jobq_jobs SET cancel_requested_at = coalesce(cancel_requested_at, now())
WHERE id = $1 AND status = 'running'
RETURNING *;

-- name: finish_cancelled
WITH done AS (
    UPDATE jobq_jobs SET status = 'cancelled', finished_at = now()
    WHERE id = $1 AND status = 'running' AND attempts = $2
    RETURNING id, attempts, worker_id, started_at, finished_at
)
INSERT INTO jobq_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome)
SELECT id, attempts, worker_id, started_at, finished_at, 'cancelled' FROM done
RETURNING job_id;

-- name: cancel_requests_for_worker
SELECT id, attempts FROM jobq_jobs
WHERE worker_id = $1 AND status = 'running' AND cancel_requested_at IS NOT NULL;

-- name: paused_queues
SELECT name FROM jobq_queues WHERE paused;

-- name: wake_relay
SELECT pg_notify('jobq_new_jobs', '');

-- name: queued_jobs_page
-- The dispatch relay's sweep: queued jobs in id order after $1.
SELECT id, attempts, queue, run_at, priority, trace_context, status FROM jobq_jobs
WHERE status = 'queued' AND id > $1
ORDER BY id
LIMIT $2;

-- name: promote_due_jobs
-- scheduled → queued for up to $1 jobs whose time has come, for the leader to dispatch.
UPDATE jobq_jobs SET status = 'queued'
WHERE id IN (
    SELECT id FROM jobq_jobs WHERE status = 'scheduled' AND run_at <= now()
    ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED
) AND status = 'scheduled'
RETURNING id, attempts, queue, run_at, priority, trace_context, status;

-- name: mark_lost_workers
-- Workers whose heartbeat is older than $1 seconds are gone.
UPDATE jobq_workers SET stopped_at = now(), leader_since = NULL
WHERE stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => $1)
RETURNING id;

-- name: rescue_jobs
-- Running jobs whose worker is gone go back to the queue (the lost attempt counts), or
-- are dead when it was their last, or cancelled when that was asked. The UPDATE
-- re-checks `running`, so a job that finished meanwhile is left alone.
WITH lost AS (
    SELECT j.id FROM jobq_jobs j
    WHERE j.status = 'running'
      AND NOT EXISTS (
          SELECT 1 FROM jobq_workers w WHERE w.id = j.worker_id AND w.stopped_at IS NULL)
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE jobq_jobs j
    SET status = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                      WHEN j.attempts >= j.max_attempts THEN 'dead'
                      ELSE 'queued' END,
        finished_at = CASE WHEN j.cancel_requested_at IS NOT NULL OR j.attempts >= j.max_attempts
                           THEN now() END,
        run_at = now(),
        error = $1
    FROM lost WHERE j.id = lost.id AND j.status = 'running'
    RETURNING j.id, j.attempts, j.worker_id, j.started_at, j.status, j.queue, j.run_at,
              j.trace_context, j.priority, j.type
), recorded AS (
    INSERT INTO jobq_job_attempts (job_id, attempt, worker_id, started_at, outcome, error)
    SELECT id, attempts, worker_id, started_at, 'lost', $1 FROM moved
    ON CONFLICT DO NOTHING
)
SELECT * FROM moved;

-- name: revive_worker
-- A worker declared gone that is in fact alive (a long pause) registers again.
UPDATE jobq_workers SET stopped_at = NULL, heartbeat_at = now() WHERE id = $1;

-- name: set_leader
UPDATE jobq_workers SET leader_since = CASE WHEN $2 THEN now() END WHERE id = $1;

-- name: prune_finished_jobs
-- Up to $3 finished jobs past retention: $1 seconds (succeeded, cancelled), $2 (dead).
DELETE FROM jobq_jobs WHERE id IN (
    SELECT id FROM jobq_jobs
    WHERE status IN ('succeeded', 'dead', 'cancelled')
      AND finished_at < now() - make_interval(secs => LEAST($1::float8, $2::float8))
      AND finished_at < now() - make_interval(secs => CASE WHEN status = 'dead' THEN $2::float8 ELSE $1::float8 END)
    LIMIT $3
)
RETURNING id;

-- name: prune_stopped_workers
DELETE FROM jobq_workers w
WHERE w.stopped_at < now() - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM jobq_jobs j WHERE j.worker_id = w.id AND j.status = 'running');

-- name: insert_schedule
INSERT INTO jobq_schedules (id, name, cron, timezone, job, missed, paused, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: get_schedule
SELECT * FROM jobq_schedules WHERE id = $1;

-- name: list_schedules
SELECT * FROM jobq_schedules ORDER BY name;

-- name: update_schedule
UPDATE jobq_schedules
SET name = $2, cron = $3, timezone = $4, job = $5, missed = $6, paused = $7, next_run_at = $8,
    updated_at = now()
WHERE id = $1
RETURNING *;

-- name: delete_schedule
DELETE FROM jobq_schedules WHERE id = $1 RETURNING id;

-- name: due_schedules
-- Locked for the firing transaction; SKIP LOCKED lets a second leader (split brain)
-- pass over what the first is firing instead of waiting on it.
SELECT *, now() AS db_now FROM jobq_schedules
WHERE NOT paused AND next_run_at <= now()
ORDER BY next_run_at
LIMIT 100
FOR UPDATE SKIP LOCKED;

-- name: advance_schedule
UPDATE jobq_schedules
SET next_run_at = $2, last_run_at = coalesce($3, last_run_at), last_job_id = coalesce($4, last_job_id)
WHERE id = $1;

-- name: claims_of_worker
-- Attempts PostgreSQL says this worker runs, claimed more than $2 seconds ago; the
-- worker hands back any it is not in fact running (a claim whose answer was lost).
SELECT id, attempts FROM jobq_jobs
WHERE worker_id = $1 AND status = 'running' AND started_at < now() - make_interval(secs => $2::float8);

-- name: autoscale_queue_state
-- The autoscaler's view of queues $1 (jobq_core.observe): ready means runnable now
-- (queued or overdue-scheduled, run time come, queue not paused), plus due cron
-- schedules (with no worker running, no leader fires them: they are work waiting);
-- arrivals and completions count over the last $2 seconds.
WITH live AS (
    SELECT j.status, j.run_at, coalesce(p.paused, false) AS paused
    FROM jobq_jobs j LEFT JOIN jobq_queues p ON p.name = j.queue
    WHERE j.queue = ANY($1::text[]) AND j.status IN ('scheduled', 'queued', 'running')
), finished AS (
    SELECT count(*) AS completed,
           avg(extract(epoch FROM finished_at - started_at)) FILTER (WHERE started_at IS NOT NULL)::float8
               AS mean_duration_s
    FROM jobq_jobs
    WHERE status IN ('succeeded', 'dead', 'cancelled') AND finished_at > now() - make_interval(secs => $2::float8)
      AND queue = ANY($1::text[])
)
SELECT count(*) FILTER (WHERE status IN ('queued', 'scheduled') AND run_at <= now() AND NOT paused)
           + (SELECT count(*) FROM jobq_schedules
              WHERE NOT paused AND next_run_at <= now() AND job->>'queue' = ANY($1::text[])) AS ready,
       count(*) FILTER (WHERE status = 'running') AS running,
       count(*) FILTER (WHERE status = 'scheduled' AND run_at > now()) AS scheduled,
       coalesce(extract(epoch FROM now() - min(run_at) FILTER (
           WHERE status IN ('queued', 'scheduled') AND run_at <= now() AND NOT paused))::float8, 0) AS oldest_ready_age_s,
       (SELECT count(*) FROM jobq_jobs
        WHERE created_at > now() - make_interval(secs => $2::float8) AND queue = ANY($1::text[])) AS arrived,
       (SELECT completed FROM finished) AS completed,
       (SELECT mean_duration_s FROM finished) AS mean_duration_s,
       extract(epoch FROM now())::float8 AS db_now
FROM live;

-- name: autoscale_worker_load
-- Running jobs per worker host (the pod name in Kubernetes, matched to pods by the
-- operator), over workers alive by their heartbeat ($1 seconds).
SELECT w.hostname, w.pid,
       count(j.id) AS running
FROM jobq_workers w
LEFT JOIN jobq_jobs j ON j.worker_id = w.id AND j.status = 'running'
WHERE w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1::float8)
GROUP BY w.hostname, w.pid;

-- name: autoscale_local_queues
-- `jobq run`'s local autoscaling: every queue a live worker serves or a waiting job names.
SELECT DISTINCT unnest(queues) AS queue FROM jobq_workers WHERE stopped_at IS NULL
UNION
SELECT DISTINCT queue FROM jobq_jobs WHERE status IN ('queued', 'scheduled', 'running');
