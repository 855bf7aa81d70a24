-- name: create_bulk_operation
INSERT INTO jobq_bulk_operations (id, action, priority, filter, search, matched, matched_exact, key_id, key_name)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: get_bulk_operation
SELECT * FROM jobq_bulk_operations WHERE id = $1;

-- name: list_bulk_operations
-- Newest first, after the position ($1, $2).
SELECT * FROM jobq_bulk_operations
WHERE (created_at, id) < ($1, $2)
ORDER BY created_at DESC, id DESC
LIMIT $3;

-- name: confirm_bulk_operation
-- The walk starts at the newest job there is now: jobs submitted after the confirmation
-- are not the ones previewed, and are left alone.
UPDATE jobq_bulk_operations
SET status = 'running', confirmed_at = now(),
    position_at = now(), position_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'
WHERE id = $1 AND status = 'preview'
RETURNING *;

-- name: cancel_bulk_operation
-- Waits for a batch under way to commit (it holds the row), so none runs after this.
UPDATE jobq_bulk_operations SET status = 'cancelled', finished_at = now()
WHERE id = $1 AND status IN ('preview', 'running')
RETURNING *;

-- name: oldest_running_bulk_operation
SELECT * FROM jobq_bulk_operations WHERE status = 'running' ORDER BY confirmed_at, id LIMIT 1;

-- name: lock_bulk_operation_at
-- The operation, locked for a batch, if it still runs from the position the batch was read at.
SELECT id FROM jobq_bulk_operations
WHERE id = $1 AND status = 'running' AND position_at = $2 AND position_id = $3
FOR UPDATE;

-- name: advance_bulk_operation
-- ($2, $3): the batch's last job, the new position; $5 jobs changed of the $4 looked at;
-- $6: the walk is over.
UPDATE jobq_bulk_operations
SET position_at = $2, position_id = $3, processed = processed + $4, changed = changed + $5,
    skipped = skipped + ($4 - $5),
    status = CASE WHEN $6 THEN 'done' ELSE status END,
    finished_at = CASE WHEN $6 THEN now() ELSE finished_at END
WHERE id = $1
RETURNING *;

-- name: finish_bulk_operation
UPDATE jobq_bulk_operations SET status = 'done', finished_at = now()
WHERE id = $1 AND status = 'running'
RETURNING *;

-- name: prune_bulk_operations
-- Finished operations past $1 seconds, and previews nobody confirmed within a day.
DELETE FROM jobq_bulk_operations
WHERE (status IN ('done', 'cancelled') AND finished_at < now() - make_interval(secs => $1))
   OR (status = 'preview' AND created_at < now() - interval '1 day');

-- Each action's batch: $1 the ids the walk read. Every one is guarded by the states it
-- applies to, so a job whose state moved since it was read is skipped, and rows a change
-- under way holds (a worker claiming or finishing the job) are skipped, not waited for
-- (the rows picked stay locked to the UPDATE, which states its guard again for all to read).

-- name: bulk_cancel_waiting_jobs
-- Scheduled and queued jobs end cancelled.
WITH picked AS (
    SELECT id FROM jobq_jobs
    WHERE id = ANY($1::uuid[]) AND status IN ('scheduled', 'queued')
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE jobq_jobs SET status = 'cancelled', finished_at = now()
FROM picked
WHERE jobq_jobs.id = picked.id AND jobq_jobs.status IN ('scheduled', 'queued')
RETURNING jobq_jobs.id, jobq_jobs.attempts, false AS was_running;

-- name: bulk_request_cancel_running_jobs
-- Running jobs are asked to stop (their workers are told after the commit); one already
-- asked is skipped.
WITH picked AS (
    SELECT id FROM jobq_jobs
    WHERE id = ANY($1::uuid[]) AND status = 'running' AND cancel_requested_at IS NULL
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE jobq_jobs SET cancel_requested_at = now()
FROM picked
WHERE jobq_jobs.id = picked.id
RETURNING jobq_jobs.id, jobq_jobs.attempts, true AS was_running;

-- name: bulk_retry_jobs
-- As retry_job does for one: a dead or cancelled job gets one more attempt, now.
WITH picked AS (
    SELECT id FROM jobq_jobs WHERE id = ANY($1::uuid[]) AND status IN ('dead', 'cancelled')
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE jobq_jobs
SET status = 'queued', run_at = now(), finished_at = NULL,
    max_attempts = GREATEST(max_attempts, attempts + 1)
FROM picked
WHERE jobq_jobs.id = picked.id AND jobq_jobs.status IN ('dead', 'cancelled')
RETURNING jobq_jobs.id, jobq_jobs.status, jobq_jobs.attempts, jobq_jobs.queue, jobq_jobs.run_at,
          jobq_jobs.trace_context, jobq_jobs.priority, jobq_jobs.timeout_s;

-- name: bulk_delete_jobs
WITH picked AS (
    SELECT id FROM jobq_jobs WHERE id = ANY($1::uuid[]) AND status <> 'running'
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
DELETE FROM jobq_jobs USING picked WHERE jobq_jobs.id = picked.id
RETURNING jobq_jobs.id;

-- name: bulk_set_priority
-- Only jobs still waiting to run; one already at $2 is skipped.
WITH picked AS (
    SELECT id FROM jobq_jobs
    WHERE id = ANY($1::uuid[]) AND status IN ('scheduled', 'queued') AND priority <> $2
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE jobq_jobs SET priority = $2
FROM picked
WHERE jobq_jobs.id = picked.id
RETURNING jobq_jobs.id, jobq_jobs.status, jobq_jobs.attempts, jobq_jobs.queue, jobq_jobs.run_at,
          jobq_jobs.trace_context, jobq_jobs.priority, jobq_jobs.timeout_s;
