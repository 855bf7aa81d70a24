-- Named queries on jobq_jobs and jobq_job_attempts. Each starts with "-- name: NAME" and runs until
-- the next one. Every state change is guarded by the state it leaves.

-- name: insert_jobs
-- $1: a JSON array of job rows. Rows whose idempotency key exists already are skipped
-- (the caller fetches those with jobs_by_idempotency_key). jobq dispatches the jobs it
-- inserts itself, so the statement marks its transaction (the transaction-local setting
-- jobq.dispatches = on) and the insert trigger does not wake the dispatch relay. Alone,
-- it is one round trip and its own transaction (all rows or none), where BEGIN, the
-- mark, the insert and COMMIT took four.
INSERT INTO jobq_jobs (id, type, queue, status, payload, priority, max_attempts, timeout_s,
                       idempotency_key, tags, run_at, trace_context, cloned_from, schedule_id, arq)
SELECT id, type, queue, status, payload, priority, max_attempts, timeout_s,
       idempotency_key, tags, run_at, trace_context, cloned_from, schedule_id, arq
FROM jsonb_to_recordset($1::jsonb) AS j(
    id uuid, type text, queue text, status text, payload jsonb, priority smallint,
    max_attempts integer, timeout_s double precision, idempotency_key text, tags text[],
    run_at timestamptz, trace_context jsonb, cloned_from uuid, schedule_id uuid, arq jsonb)
WHERE (SELECT set_config('jobq.dispatches', 'on', true)) = 'on'
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: jobs_by_idempotency_key
SELECT * FROM jobq_jobs WHERE idempotency_key = ANY($1::text[]);

-- name: get_job
SELECT * FROM jobq_jobs WHERE id = $1;

-- name: existing_job_ids
-- Which of the ids $1 are jobs.
SELECT id FROM jobq_jobs WHERE id = ANY($1::uuid[]);

-- name: job_attempts
SELECT attempt, worker_id, started_at, finished_at, outcome, error
FROM jobq_job_attempts WHERE job_id = $1 ORDER BY attempt;

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
          trace_context, priority, run_at, started_at, arq;

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

-- name: run_now_job
-- Run a scheduled job now (a delayed job, or a retry waiting out its back-off): it is
-- due at once, for the caller to dispatch.
UPDATE jobq_jobs SET status = 'queued', run_at = now()
WHERE id = $1 AND status = 'scheduled'
RETURNING *;

-- name: delete_job
DELETE FROM jobq_jobs WHERE id = $1 AND status <> 'running' RETURNING id;

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

-- name: wake_relay
SELECT pg_notify('jobq_new_jobs', '');

-- name: queued_jobs_page
-- The dispatch relay's sweep: up to $3 queued jobs after ($1, $2) in (run_at, id) order,
-- a range of jobq_jobs_queued_since. A sweep from a time reads the jobs put to wait since.
SELECT id, attempts, queue, run_at, priority, trace_context, status, timeout_s FROM jobq_jobs
WHERE status = 'queued' AND (run_at, id) > ($1, $2)
ORDER BY run_at, id
LIMIT $3;

-- name: promote_due_jobs
-- scheduled → queued for up to $1 jobs whose time has come, for the leader to dispatch.
UPDATE jobq_jobs SET status = 'queued'
WHERE id IN (
    SELECT id FROM jobq_jobs WHERE status = 'scheduled' AND run_at <= now()
    ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED
) AND status = 'scheduled'
RETURNING id, attempts, queue, run_at, priority, trace_context, status, timeout_s;

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
              j.trace_context, j.priority, j.type, j.timeout_s
), recorded AS (
    INSERT INTO jobq_job_attempts (job_id, attempt, worker_id, started_at, outcome, error)
    SELECT id, attempts, worker_id, started_at, 'lost', $1 FROM moved
    ON CONFLICT DO NOTHING
)
SELECT * FROM moved;

-- name: prune_done_jobs
-- Up to $2 succeeded or cancelled jobs finished more than $1 seconds ago, oldest first,
-- read through jobq_jobs_done_finished from its start: the rows deleted and no others.
-- The outer WHERE says it again, so a job retried meanwhile is re-checked and kept.
DELETE FROM jobq_jobs WHERE id IN (
    SELECT id FROM jobq_jobs
    WHERE status IN ('succeeded', 'cancelled') AND finished_at < now() - make_interval(secs => $1::float8)
    ORDER BY finished_at
    LIMIT $2
)
  AND status IN ('succeeded', 'cancelled') AND finished_at < now() - make_interval(secs => $1::float8)
RETURNING id;

-- name: prune_dead_jobs
-- Up to $2 dead jobs finished more than $1 seconds ago, oldest first (jobq_jobs_dead_finished).
DELETE FROM jobq_jobs WHERE id IN (
    SELECT id FROM jobq_jobs
    WHERE status = 'dead' AND finished_at < now() - make_interval(secs => $1::float8)
    ORDER BY finished_at
    LIMIT $2
)
  AND status = 'dead' AND finished_at < now() - make_interval(secs => $1::float8)
RETURNING id;

-- name: claims_of_worker
-- Attempts PostgreSQL says this worker runs, claimed more than $2 seconds ago; the
-- worker hands back any it is not in fact running (a claim whose answer was lost).
SELECT id, attempts FROM jobq_jobs
WHERE worker_id = $1 AND status = 'running' AND started_at < now() - make_interval(secs => $2::float8);

-- name: newest_dead_jobs
-- The newest $3 dead jobs, optionally only of queue $1 and type $2, with the first $4
-- characters of their error message: the page dead-job groups are counted over
-- (jobq_core.flows.dead_groups), read backwards through jobq_jobs_dead_finished (dead jobs
-- only, migration 0011) and stopping at the limit.
SELECT id, type, finished_at, error->>'type' AS error_type, left(error->>'message', $4) AS message
FROM jobq_jobs
WHERE status = 'dead' AND ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR type = $2)
ORDER BY finished_at DESC, id DESC
LIMIT $3;

-- name: retry_dead_jobs
-- Retry by hand, for many dead jobs at once ($1 their ids): as retry_job does for one.
-- Rows another retry holds are skipped rather than waited for.
WITH picked AS (
    SELECT id FROM jobq_jobs WHERE id = ANY($1::uuid[]) AND status = 'dead'
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE jobq_jobs
SET status = 'queued', run_at = now(), finished_at = NULL,
    max_attempts = GREATEST(max_attempts, attempts + 1)
FROM picked
WHERE jobq_jobs.id = picked.id AND jobq_jobs.status = 'dead'
RETURNING jobq_jobs.*;
